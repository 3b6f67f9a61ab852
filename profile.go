package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// profileFlags are for finding where flowscope's own time goes (see
// DEVELOPERS.md); they are left out of --help.
type profileFlags struct {
	cpu, block, mutex string
}

func addProfileFlags(fs *pflag.FlagSet, p *profileFlags) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile (pprof) to `FILE`")
	fs.StringVar(&p.block, "blockprofile", "", "write a blocking profile (pprof) to `FILE`")
	fs.StringVar(&p.mutex, "mutexprofile", "", "write a mutex contention profile (pprof) to `FILE`")
	for _, n := range []string{"cpuprofile", "blockprofile", "mutexprofile"} {
		_ = fs.MarkHidden(n)
	}
}

// startProfiles starts the profiles asked for; stop writes them out.
func startProfiles(p profileFlags) (stop func() error, err error) {
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
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
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
		{"block", p.block, func() { runtime.SetBlockProfileRate(1) }},
		{"mutex", p.mutex, func() { runtime.SetMutexProfileFraction(1) }},
	} {
		if prof.file == "" {
			continue
		}
		prof.enable()
		stops = append(stops, func() error {
			f, err := os.Create(prof.file)
			if err != nil {
				return fmt.Errorf("--%sprofile: %w", prof.name, err)
			}
			if err := pprof.Lookup(prof.name).WriteTo(f, 0); err != nil {
				f.Close()
				return fmt.Errorf("--%sprofile: %w", prof.name, err)
			}
			return f.Close()
		})
	}
	return stop, nil
}
