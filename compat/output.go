package compat

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/flowscope/flowscope/report"
)

// Output says where and how output is written (--logfile, --timestamps,
// --pidfile, -D, -d, -T).
type Output struct {
	Logfile    string
	Timestamps string // strftime-style format; "" = none
	Pidfile    string
	Daemon     bool
	Debug      bool
	Title      string
	// JSON: the output is a JSON document or stream, which --logfile
	// takes alone (errors are in it, and on stderr).
	JSON bool
}

// Open applies --logfile, --timestamps and --pidfile; the returned
// function undoes what needs undoing at exit. On error it returns the
// writers it was given, to report the error on. With JSON output the log
// file gets the JSON only, so it stays valid JSON when the test fails (the
// error is its "error" key; the one-line message stays on stderr).
func (o *Output) Open(stdout, stderr io.Writer) (io.Writer, io.Writer, func(), error) {
	cleanup := func() {}
	outw, errw := stdout, stderr
	if o.Logfile != "" {
		f, err := os.OpenFile(o.Logfile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return stdout, stderr, cleanup, fmt.Errorf("open --logfile: %w", err)
		}
		outw = f
		if !o.JSON {
			errw = f
		}
		cleanup = func() { _ = f.Close() }
	}
	if o.Timestamps != "" {
		stamped := report.Timestamped(outw, o.Timestamps)
		if errw == outw {
			errw = stamped
		} else {
			errw = report.Timestamped(errw, o.Timestamps)
		}
		outw = stamped
	}
	if o.Pidfile != "" {
		if err := os.WriteFile(o.Pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			cleanup()
			return stdout, stderr, func() {}, fmt.Errorf("write --pidfile: %w", err)
		}
		prev := cleanup
		cleanup = func() { _ = os.Remove(o.Pidfile); prev() }
	}
	return outw, errw, cleanup, nil
}
