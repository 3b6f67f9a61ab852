// Command flowscope is a network throughput benchmark that speaks iperf3's
// protocol: a server (-s), a client (-c HOST), or both in one process
// (--loopback) for a first run without a second host.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the test did not run or failed
	exitUsage  = 2 // bad flags or values
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitUsage
	}
	if opts.version {
		fmt.Fprintf(stdout, "flowscope %s (iperf3 protocol 3.12 compatible)\n", engine.Version)
		return exitOK
	}
	if opts.out.daemon {
		return daemonize(args, opts.out.logfile, stderr)
	}
	stdout, stderr, cleanup, err := setupOutput(&opts.out, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	defer cleanup()
	stopProfiles, err := startProfiles(opts.prof)
	defer func() {
		if err := stopProfiles(); err != nil {
			fmt.Fprintf(stderr, "flowscope: %v\n", err)
		}
	}()
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	if opts.out.logfile != "" || opts.out.timestamps != "" {
		opts.noTUI = true // the live UI needs the terminal as it is
	}
	for _, n := range opts.notes {
		fmt.Fprintf(stderr, "flowscope: note: %s\n", n)
	}
	if opts.affinity >= 0 {
		if err := engine.PinProcess(opts.affinity); err != nil {
			fmt.Fprintf(stderr, "flowscope: -A: %v\n", err)
			return exitFailed
		}
	}

	// The live view: one client test or one server here; several servers
	// at once (-c A,B) open it from runFleet.
	if !opts.noTUI && !opts.json && !opts.jsonStream && opts.targets == nil && isTerminal(stdout) {
		return runTUI(opts, stdout, stderr)
	}

	ctx, stop := interruptContext()
	defer stop()

	newReporter := func() report.Reporter {
		ro := report.Options{Format: opts.format, Verbose: opts.verbose, Title: opts.out.title}
		var rep report.Reporter
		switch {
		case opts.json:
			rep = report.NewJSON(stdout, ro)
		case opts.jsonStream:
			rep = report.NewJSONStream(stdout, ro)
		default:
			rep = report.NewText(stdout, ro)
		}
		if opts.out.debug {
			rep = debugReporter{stderr, rep}
		}
		return rep
	}

	switch opts.mode {
	case modeServer:
		return runServer(ctx, opts, newReporter, stdout, stderr)
	case modeLoopback:
		return runLoopback(ctx, opts, newReporter(), stderr)
	default:
		if opts.targets != nil {
			return runFleet(ctx, opts, stdout, stderr)
		}
		return runClient(ctx, opts.cfg, newReporter(), stderr)
	}
}

// interruptContext is cancelled by the first SIGINT or SIGTERM; a second
// one exits at once.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
			return
		}
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "flowscope: interrupted again, exiting now")
			os.Exit(130)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sig); cancel() }
}

// withFindings prints each new finding as one stderr line before handing
// the event on: "flowscope: warning: what (evidence). Fix: fix".
func withFindings(stderr io.Writer, next func(engine.Event)) func(engine.Event) {
	printed := map[string]bool{}
	print := func(fs []engine.Finding) {
		for _, f := range fs {
			line := f.String()
			if !printed[line] {
				printed[line] = true
				fmt.Fprintf(stderr, "flowscope: %s\n", line)
			}
		}
	}
	return func(ev engine.Event) {
		switch e := ev.(type) {
		case *engine.Start:
			print(e.Findings)
		case *engine.Sample:
			print(e.Findings)
		case *engine.End:
			// Findings of a test that failed before it started arrive here.
			var unseen []engine.Finding
			for _, f := range e.Findings {
				if !printed[f.String()] {
					unseen = append(unseen, f)
				}
			}
			print(unseen)
			clear(printed)
		}
		next(ev)
	}
}

func runClient(ctx context.Context, cfg engine.Config, rep report.Reporter, stderr io.Writer) int {
	_, err := engine.NewClient(cfg, withFindings(stderr, rep.Handle)).Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runServer(ctx context.Context, opts *options, newReporter func() report.Reporter, stdout, stderr io.Writer) int {
	addr := net.JoinHostPort(opts.cfg.BindAddr, strconv.Itoa(opts.cfg.Port))
	ln, err := engine.Listen(ctx, opts.cfg.Network, addr)
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	banner := func() {
		if !opts.json && !opts.jsonStream {
			fmt.Fprintf(stdout, "-----------------------------------------------------------\n")
			fmt.Fprintf(stdout, "Server listening on %d (backlog %d)\n", opts.cfg.Port, engine.Backlog())
			fmt.Fprintf(stdout, "-----------------------------------------------------------\n")
		}
	}
	observe, stopMetrics, err := startMetrics(ctx, opts.metricsAddr, ln, opts.server.MaxTests, stderr)
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	defer stopMetrics()
	banner()
	sc := serverConfig(opts, func(msg string) {
		fmt.Fprintf(stderr, "flowscope: %s\n", msg)
	})
	outs := newServerOutputs(opts.json, report.Options{Format: opts.format, Title: opts.out.title})
	sc.ServerOutput = outs.output
	reportTests := perTest(newReporter, func(ev engine.Event) {
		if _, ok := ev.(*engine.End); ok && !opts.oneOff {
			banner()
		}
	})
	srv := engine.NewServer(sc, withFindings(stderr, func(ev engine.Event) {
		observe(ev)
		outs.handle(ev)
		reportTests(ev)
	}))
	err = srv.Serve(ctx, ln)
	if err != nil && !errors.Is(err, engine.ErrServerClosed) {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// runLoopback runs a server on a free loopback port and a client against
// it, in this process.
func runLoopback(ctx context.Context, opts *options, rep report.Reporter, stderr io.Writer) int {
	cfg, stopSrv, err := startLoopbackServer(ctx, opts, func(msg string) {
		fmt.Fprintf(stderr, "flowscope: server: %s\n", msg)
	})
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	code := runClient(ctx, cfg, rep, stderr)
	stopSrv()
	return code
}

// serverConfig is the server side of the command line.
func serverConfig(opts *options, log func(string)) engine.ServerConfig {
	sc := opts.server
	sc.OneOff = opts.oneOff
	sc.Interval = opts.cfg.Interval
	sc.StallWindow = opts.cfg.StallWindow
	sc.Log = log
	return sc
}

// perTest gives each of a server's tests its own reporter, so tests that
// run at once (--max-tests) are reported apart; after is called with every
// event once the reporter has it.
func perTest(newReporter func() report.Reporter, after func(engine.Event)) func(engine.Event) {
	reps := map[uint64]report.Reporter{}
	return func(ev engine.Event) {
		var id uint64
		switch e := ev.(type) {
		case *engine.Start:
			id = e.Test
		case *engine.Sample:
			id = e.Test
		case *engine.Progress:
			id = e.Test
		case *engine.End:
			id = e.Test
		}
		rep := reps[id]
		if rep == nil {
			rep = newReporter()
			reps[id] = rep
		}
		rep.Handle(ev)
		if _, ok := ev.(*engine.End); ok {
			delete(reps, id)
		}
		after(ev)
	}
}

// startLoopbackServer starts a one-off server on a free loopback port and
// returns the client configuration that reaches it, and a function that
// stops the server and waits for it.
func startLoopbackServer(ctx context.Context, opts *options, log func(string)) (engine.Config, func(), error) {
	host := "127.0.0.1"
	if opts.cfg.Network == "tcp6" {
		host = "::1"
	}
	ln, err := engine.Listen(ctx, opts.cfg.Network, net.JoinHostPort(host, "0"))
	if err != nil {
		return engine.Config{}, nil, err
	}
	// The in-process server keeps its own report only to answer
	// --get-server-output.
	outs := newServerOutputs(opts.json, report.Options{Format: opts.format})
	srv := engine.NewServer(engine.ServerConfig{
		OneOff:       true,
		StallWindow:  opts.cfg.StallWindow,
		Log:          log,
		ServerOutput: outs.output,
	}, outs.handle)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()

	cfg := opts.cfg
	cfg.Host = host
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	return cfg, func() { stopSrv(); <-served }, nil
}
