package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/ui"
)

// frameInterval bounds how often engine data redraws the screen.
const frameInterval = 100 * time.Millisecond

// isTerminal reports whether w is a terminal (the live UI's condition).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// summaries keeps the text summary of each test while the UI owns the
// screen, to print it on the normal screen afterwards. A server keeps the
// last few tests, each headed by the client it came from; tests that run
// at once are kept apart by their test id.
type summaries struct {
	mu       sync.Mutex
	opts     report.Options
	server   bool
	tests    map[uint64]*testSummary
	done     []string
	findings []engine.Finding
	seen     map[string]bool
}

// testSummary is one test's summary-only reporter and what it wrote.
type testSummary struct {
	rep report.Reporter
	buf bytes.Buffer
}

const keptSummaries = 10

func newSummaries(opts *options, server bool) *summaries {
	return &summaries{
		opts:   report.Options{Format: opts.format, Verbose: opts.verbose, Title: opts.out.title, SummaryOnly: true},
		server: server,
		tests:  map[uint64]*testSummary{},
		seen:   map[string]bool{},
	}
}

// testID is the server's number of the test an event belongs to.
func testID(ev engine.Event) uint64 {
	switch e := ev.(type) {
	case *engine.Start:
		return e.Test
	case *engine.Sample:
		return e.Test
	case *engine.Progress:
		return e.Test
	case *engine.End:
		return e.Test
	}
	return 0
}

// Handle records one event; it runs on the engine's goroutines.
func (s *summaries) Handle(ev engine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := testID(ev)
	t := s.tests[id]
	if t == nil {
		t = &testSummary{}
		t.rep = report.NewText(&t.buf, s.opts)
		s.tests[id] = t
	}
	switch e := ev.(type) {
	case *engine.Start:
		if s.server {
			fmt.Fprintf(&t.buf, "Accepted connection from %s, port %d\n", e.Host, e.Port)
		}
		s.addFindings(e.Findings)
	case *engine.Sample:
		s.addFindings(e.Findings)
	}
	t.rep.Handle(ev)
	if e, ok := ev.(*engine.End); ok {
		s.addFindings(e.Findings)
		if s.server && e.Err != nil {
			fmt.Fprintf(&t.buf, "test failed: %v\n", e.Err)
		}
		if t.buf.Len() > 0 {
			s.done = append(s.done, t.buf.String())
			if len(s.done) > keptSummaries {
				s.done = s.done[len(s.done)-keptSummaries:]
			}
		}
		delete(s.tests, id)
	}
}

func (s *summaries) addFindings(fs []engine.Finding) {
	for _, f := range fs {
		if k := f.String(); !s.seen[k] {
			s.seen[k] = true
			s.findings = append(s.findings, f)
		}
	}
}

// print writes the summaries to stdout and the findings to stderr, in the
// headless format.
func (s *summaries) print(stdout, stderr io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.done {
		_, _ = io.WriteString(stdout, d)
	}
	for _, f := range s.findings {
		fmt.Fprintf(stderr, "flowscope: %s\n", f.String())
	}
}

// handleSignals makes SIGTERM (or SIGINT from outside: the UI reads Ctrl-C
// as a key) stop the test like q; a second one quits at once, restoring
// the terminal. It returns the function that stops listening.
func handleSignals(p *tea.Program) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		n := 0
		for range sig {
			if n++; n == 1 {
				p.Send(ui.StopMsg{})
			} else {
				p.Kill()
			}
		}
	}()
	return func() { signal.Stop(sig) }
}

// runTUI runs the live terminal UI for any mode and leaves the summary on
// the normal screen when it exits.
func runTUI(opts *options, stdout, stderr io.Writer) int {
	server := opts.mode == modeServer
	sums := newSummaries(opts, server)

	// The engine's own context: the UI cancels it on q.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	uiOpts := ui.Options{Mode: ui.ModeClient, Stop: cancel, FrameInterval: frameInterval}
	var ln net.Listener
	// A server's events also feed --metrics and the server output clients
	// ask for (--get-server-output), as without the UI.
	observe := func(engine.Event) {}
	var outs *serverOutputs
	if server {
		addr := net.JoinHostPort(opts.cfg.BindAddr, strconv.Itoa(opts.cfg.Port))
		var err error
		if ln, err = engine.Listen(ctx, opts.cfg.Network, addr); err != nil {
			fmt.Fprintf(stderr, "flowscope: %v\n", err)
			return exitFailed
		}
		var stopMetrics func()
		if observe, stopMetrics, err = startMetrics(ctx, opts.metricsAddr, ln, opts.server.MaxTests, stderr); err != nil {
			_ = ln.Close()
			fmt.Fprintf(stderr, "flowscope: %v\n", err)
			return exitFailed
		}
		defer stopMetrics()
		outs = newServerOutputs(opts.json, report.Options{Format: opts.format, Title: opts.out.title})
		uiOpts.Mode = ui.ModeServer
		uiOpts.Listen = ln.Addr().String()
		uiOpts.Backlog = engine.Backlog()
	}
	model := ui.New(uiOpts)
	p := tea.NewProgram(model, tea.WithAltScreen(), tea.WithOutput(stdout), tea.WithoutSignalHandler())

	// Log lines would tear the screen; keep them for afterwards (and show
	// the server's in its history pane).
	var logMu sync.Mutex
	var logs []string
	logf := func(prefix string) func(string) {
		return func(msg string) {
			logMu.Lock()
			logs = append(logs, prefix+msg)
			if len(logs) > 100 {
				logs = logs[len(logs)-100:]
			}
			logMu.Unlock()
			if server {
				p.Send(ui.LogMsg(msg))
			}
		}
	}

	emit := func(ev engine.Event) {
		if server {
			observe(ev)
			outs.handle(ev)
		}
		sums.Handle(ev)
		p.Send(ev)
	}

	defer handleSignals(p)()

	type result struct {
		err      error
		panicked any
		stack    []byte
		stopSrv  func()
	}
	done := make(chan result, 1)
	go func() {
		var err error
		var stopSrv func()
		defer func() {
			res := result{err: err, stopSrv: stopSrv}
			if r := recover(); r != nil {
				res.panicked, res.stack = r, debug.Stack()
				res.err = fmt.Errorf("internal error: %v", r)
			}
			done <- res
			p.Send(ui.DoneMsg{Err: res.err})
		}()
		switch opts.mode {
		case modeServer:
			sc := serverConfig(opts, logf(""))
			sc.ServerOutput = outs.output
			srv := engine.NewServer(sc, emit)
			err = srv.Serve(ctx, ln)
			if errors.Is(err, engine.ErrServerClosed) {
				err = nil
			}
		case modeLoopback:
			var cfg engine.Config
			cfg, stopSrv, err = startLoopbackServer(ctx, opts, logf("server: "))
			if err == nil {
				_, err = engine.NewClient(cfg, emit).Run(ctx)
			}
		default:
			_, err = engine.NewClient(opts.cfg, emit).Run(ctx)
		}
	}()

	_, perr := p.Run()
	cancel()
	// The UI quits after the End event (or the server stopping), so the
	// engine is about to return; after a forced quit it is not waited for.
	var res result
	wait := 5 * time.Second
	if errors.Is(perr, tea.ErrProgramKilled) || !model.Ended() {
		wait = 200 * time.Millisecond
	}
	select {
	case res = <-done:
		if res.stopSrv != nil {
			res.stopSrv()
		}
	case <-time.After(wait):
		res.err = errors.New("stopped before the test's results arrived")
	}
	err := res.err

	sums.print(stdout, stderr)
	logMu.Lock()
	for _, l := range logs {
		fmt.Fprintf(stderr, "flowscope: %s\n", l)
	}
	logMu.Unlock()
	if res.panicked != nil {
		fmt.Fprintf(stderr, "flowscope: panic: %v\n%s", res.panicked, res.stack)
		return exitFailed
	}
	if perr != nil && !errors.Is(perr, tea.ErrProgramKilled) {
		fmt.Fprintf(stderr, "flowscope: terminal UI: %v\n", perr)
		return exitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// runFleetTUI runs a multi-server test (-c A,B,C) in the live UI: each
// client's events go to the program tagged with its server. q stops every
// test and the UI waits for all their results; then each server's summary
// and the SUM over all of them are left on the normal screen, as the text
// output ends, followed by the findings and the servers' errors on stderr.
func runFleetTUI(ctx context.Context, opts *options, stdout, stderr io.Writer) int {
	runs := newFleetRuns(opts, stdout, stderr, true)
	labels := make([]string, len(runs))
	for i, r := range runs {
		labels[i] = r.label
	}
	// main's interrupt handling (cancel, then exit at once) would leave the
	// terminal as the UI set it: this UI takes the signals over, as runTUI
	// does.
	signal.Reset(os.Interrupt, syscall.SIGTERM)

	// The clients' own context: the UI cancels it on q.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	model := ui.New(ui.Options{Mode: ui.ModeFleet, Targets: labels, Stop: cancel, FrameInterval: frameInterval})
	p := tea.NewProgram(model, tea.WithAltScreen(), tea.WithOutput(stdout), tea.WithoutSignalHandler())
	defer handleSignals(p)()

	var wg sync.WaitGroup
	panics := make([]string, len(runs))
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					run.err = fmt.Errorf("internal error: %v", r)
					panics[i] = fmt.Sprintf("%v\n%s", r, debug.Stack())
				}
			}()
			emit := func(ev engine.Event) {
				run.emit(ev)
				p.Send(ui.TargetMsg{Target: run.label, Event: ev})
			}
			_, run.err = engine.NewClient(run.cfg, emit).Run(ctx)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
		p.Send(ui.DoneMsg{})
	}()

	_, perr := p.Run()
	cancel()
	// The UI quits once every End arrived, so the clients are about to
	// return; after a forced quit they are not waited for long.
	wait := 5 * time.Second
	if errors.Is(perr, tea.ErrProgramKilled) || !model.Ended() {
		wait = 200 * time.Millisecond
	}
	select {
	case <-done:
	case <-time.After(wait):
		fmt.Fprintln(stderr, "flowscope: stopped before the tests' results arrived")
		return exitFailed
	}
	for _, r := range runs {
		_, _ = stderr.Write(r.logged.Bytes())
	}
	code := fleetResults(opts, runs, stdout, stderr)
	for i, pn := range panics {
		if pn != "" {
			fmt.Fprintf(stderr, "flowscope: %s: panic: %s", runs[i].label, pn)
			code = exitFailed
		}
	}
	if perr != nil && !errors.Is(perr, tea.ErrProgramKilled) {
		fmt.Fprintf(stderr, "flowscope: terminal UI: %v\n", perr)
		return exitFailed
	}
	return code
}
