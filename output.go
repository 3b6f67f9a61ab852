package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
)

// lineStamper prefixes every line written through it with the time, as
// iperf3's --timestamps does.
type lineStamper struct {
	mu     sync.Mutex
	w      io.Writer
	layout string
	mid    bool // inside a line: no stamp before the next byte
}

func newLineStamper(w io.Writer, strftime string) *lineStamper {
	return &lineStamper{w: w, layout: strftimeLayout(strftime)}
}

func (s *lineStamper) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	var out bytes.Buffer
	for len(p) > 0 {
		if !s.mid {
			out.WriteString(time.Now().Format(s.layout))
			s.mid = true
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			out.Write(p)
			break
		}
		out.Write(p[:i+1])
		p = p[i+1:]
		s.mid = false
	}
	if _, err := s.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}

// strftimeLayout converts the strftime conversions iperf3 users write into
// a Go time layout; other text is kept as is.
func strftimeLayout(f string) string {
	repl := map[byte]string{
		'c': "Mon Jan _2 15:04:05 2006", 'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04",
		'S': "05", 'y': "06", 'b': "Jan", 'a': "Mon", 'e': "_2", 'T': "15:04:05", 'F': "2006-01-02",
		'Z': "MST", 'z': "-0700", 'p': "PM", 'I': "03", 'j': "002", '%': "%",
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+1 < len(f) {
			if r, ok := repl[f[i+1]]; ok {
				b.WriteString(r)
				i++
				continue
			}
		}
		b.WriteByte(f[i])
	}
	return b.String()
}

// setupOutput applies --logfile, --timestamps and --pidfile; the returned
// function undoes what needs undoing at exit.
func setupOutput(o *outputOptions, stdout, stderr io.Writer) (io.Writer, io.Writer, func(), error) {
	cleanup := func() {}
	if o.logfile != "" {
		f, err := os.OpenFile(o.logfile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("open --logfile: %w", err)
		}
		stdout, stderr = f, f
		cleanup = func() { _ = f.Close() }
	}
	if o.timestamps != "" {
		stdout = newLineStamper(stdout, o.timestamps)
		if stderr != stdout {
			stderr = newLineStamper(stderr, o.timestamps)
		}
	}
	if o.pidfile != "" {
		if err := os.WriteFile(o.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("write --pidfile: %w", err)
		}
		prev := cleanup
		cleanup = func() { _ = os.Remove(o.pidfile); prev() }
	}
	return stdout, stderr, cleanup, nil
}

// daemonize starts this command again in the background, in its own
// session, without -D, and returns at once (Go cannot fork).
func daemonize(args []string, logfile string, stderr io.Writer) int {
	var rest []string
	for _, a := range args {
		if a == "-D" || a == "--daemon" {
			continue
		}
		rest = append(rest, a)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: -D: %v\n", err)
		return exitFailed
	}
	cmd := exec.Command(exe, append(rest, "--no-tui")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if logfile == "" {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			fmt.Fprintf(stderr, "flowscope: -D: %v\n", err)
			return exitFailed
		}
		defer devnull.Close()
		cmd.Stdout, cmd.Stderr = devnull, devnull
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "flowscope: -D: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "flowscope: server running in the background as process %d\n", cmd.Process.Pid)
	_ = cmd.Process.Release()
	return exitOK
}

// debugReporter logs every event on stderr (-d) before reporting it.
type debugReporter struct {
	w   io.Writer
	rep report.Reporter
}

func (d debugReporter) Handle(ev engine.Event) { withDebug(d.w, d.rep.Handle)(ev) }

// withDebug logs every event's kind on stderr.
func withDebug(stderr io.Writer, next func(engine.Event)) func(engine.Event) {
	return func(ev engine.Event) {
		switch e := ev.(type) {
		case *engine.Connecting:
			fmt.Fprintf(stderr, "flowscope: debug: connecting to %s port %d, %d streams\n", e.Host, e.Port, e.Streams)
		case *engine.Progress:
			fmt.Fprintf(stderr, "flowscope: debug: %d of %d streams connected\n", e.Connected, e.Total)
		case *engine.Start:
			fmt.Fprintf(stderr, "flowscope: debug: test %d started, %d streams, peer flowscope=%v\n", e.Test, len(e.Streams), e.PeerFlowscope)
		case *engine.Sample:
			fmt.Fprintf(stderr, "flowscope: debug: interval %d %.3f-%.3f s\n", e.Seq, e.Start.Seconds(), e.End.Seconds())
		case *engine.End:
			fmt.Fprintf(stderr, "flowscope: debug: test %d ended: %v\n", e.Test, e.Err)
		}
		next(ev)
	}
}

// serverOutputs keeps, for each running test, a second reporter writing
// into memory, so the server can hand its own report to a client that asks
// (--get-server-output).
type serverOutputs struct {
	mu    sync.Mutex
	json  bool
	opts  report.Options
	tests map[uint64]*capturedReport
}

type capturedReport struct {
	buf bytes.Buffer
	rep report.Reporter
}

func newServerOutputs(json bool, opts report.Options) *serverOutputs {
	opts.ServerOutput = true // iperf3's embedded server report has no title or extra data
	return &serverOutputs{json: json, opts: opts, tests: map[uint64]*capturedReport{}}
}

// handle feeds an event to the test's captured report.
func (s *serverOutputs) handle(ev engine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := ev.(type) {
	case *engine.Start:
		c := &capturedReport{}
		if s.json {
			c.rep = report.NewJSON(&c.buf, s.opts)
		} else {
			c.rep = report.NewText(&c.buf, s.opts)
		}
		s.tests[e.Test] = c
		c.rep.Handle(ev)
	case *engine.Sample:
		if c := s.tests[e.Test]; c != nil {
			c.rep.Handle(ev)
		}
	case *engine.End:
		delete(s.tests, e.Test)
	}
}

// output renders the test's report, ending with its local results.
func (s *serverOutputs) output(test uint64, local *engine.End) (string, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.tests[test]
	if c == nil {
		return "", nil
	}
	c.rep.Handle(local)
	if s.json {
		return "", bytes.TrimSpace(c.buf.Bytes())
	}
	return c.buf.String(), nil
}
