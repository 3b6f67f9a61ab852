// Package profile writes pprof profiles of this process, for finding
// where flowscope's own time goes (--cpuprofile, --blockprofile,
// --mutexprofile; see DEVELOPERS.md).
package profile

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Files name the profiles to write; an empty name writes none.
type Files struct {
	CPU, Block, Mutex string
}

// Start starts the profiles asked for; stop writes them out. Even on
// error, stop undoes what was started.
func Start(p Files) (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var first error
		for _, s := range stops {
			if err := s(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return stop, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("--cpuprofile: %w", err)
		}
		stops = append(stops, func() error {
			pprof.StopCPUProfile()
			return f.Close()
		})
	}
	for _, prof := range []struct {
		name, file string
		enable     func()
	}{
		{"block", p.Block, func() { runtime.SetBlockProfileRate(1) }},
		{"mutex", p.Mutex, func() { runtime.SetMutexProfileFraction(1) }},
	} {
		if prof.file == "" {
			continue
		}
		// Created now, so that a path that cannot be written fails the
		// run before it starts; written when it ends.
		f, err := os.Create(prof.file)
		if err != nil {
			return stop, fmt.Errorf("--%sprofile: %w", prof.name, err)
		}
		prof.enable()
		stops = append(stops, func() error {
			if err := pprof.Lookup(prof.name).WriteTo(f, 0); err != nil {
				f.Close()
				return fmt.Errorf("--%sprofile: %w", prof.name, err)
			}
			return f.Close()
		})
	}
	return stop, nil
}
