package record

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
)

// Recorder is --record: a client's, loopback's or multi-server run's one
// file, or a server's directory with one file per test. A nil Recorder
// records nothing.
type Recorder struct {
	path string
	file *os.File
	w    *Writer // the one file
	dir  bool
	warn func(error)
}

// OpenRecorder opens what --record names: a file, or for a server a
// directory (made if missing). warn is told of a server's test whose file
// could not be written.
func OpenRecorder(path string, server bool, warn func(error)) (*Recorder, error) {
	r := &Recorder{path: path, warn: warn}
	fi, err := os.Stat(path)
	if server {
		if errors.Is(err, os.ErrNotExist) {
			err = os.MkdirAll(path, 0o755)
		} else if err == nil && !fi.IsDir() {
			err = errors.New("a server records into a directory, one file per test")
		}
		if err != nil {
			return nil, fmt.Errorf("--record %s: %w", path, err)
		}
		r.dir = true
		return r, nil
	}
	if err == nil && fi.IsDir() {
		return nil, fmt.Errorf("--record %s: a directory (a client records into a file)", path)
	}
	if r.file, err = os.Create(path); err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	r.w = NewWriter(r.file)
	return r, nil
}

// Handle records one event of the run's one test (not a server's).
func (r *Recorder) Handle(ev engine.Event) {
	if r != nil && r.w != nil {
		r.w.Handle(ev)
	}
}

// HandleTarget records one event of a multi-server run's target.
func (r *Recorder) HandleTarget(target string, ev engine.Event) {
	if r != nil && r.w != nil {
		r.w.HandleTarget(target, ev)
	}
}

// forTest is the recording of one of a server's tests (see
// report.PerTest): a file of its own, opened at its Start, named by the
// time and the client; a failure to write it is said once, at its End.
func (r *Recorder) forTest() report.Reporter {
	w := NewOpenedWriter(DirOpener(r.path, time.Now))
	return report.Func(func(ev engine.Event) {
		w.Handle(ev)
		if _, ok := ev.(*engine.End); ok {
			if err := w.Err(); err != nil {
				r.warn(err)
			}
		}
	})
}

// Tee hands every event to the recording (a server's per test) and then
// to rep; rep may be nil, for the recording alone.
func (r *Recorder) Tee(rep report.Reporter) report.Reporter {
	if rep == nil {
		rep = report.Func(func(engine.Event) {})
	}
	switch {
	case r == nil:
		return rep
	case r.dir:
		tests := report.NewPerTest(func(uint64) report.Reporter { return r.forTest() })
		return report.Func(func(ev engine.Event) { tests.Handle(ev); rep.Handle(ev) })
	}
	return report.Func(func(ev engine.Event) { r.w.Handle(ev); rep.Handle(ev) })
}

// Close writes out the recording: everything measured until now, even when
// the test ended early.
func (r *Recorder) Close() error {
	if r == nil || r.w == nil {
		return nil
	}
	err := r.w.Close()
	if cerr := r.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: %w", cerr)
	}
	return err
}
