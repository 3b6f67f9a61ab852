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

	ctx, stop := interruptContext()
	defer stop()

	newReporter := func() report.Reporter {
		ro := report.Options{Format: opts.format, Verbose: opts.verbose}
		switch {
		case opts.json:
			return report.NewJSON(stdout, ro)
		case opts.jsonStream:
			return report.NewJSONStream(stdout, ro)
		}
		return report.NewText(stdout, ro)
	}

	switch opts.mode {
	case modeServer:
		return runServer(ctx, opts, newReporter(), stdout, stderr)
	case modeLoopback:
		return runLoopback(ctx, opts, newReporter(), stderr)
	default:
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

func runClient(ctx context.Context, cfg engine.Config, rep report.Reporter, stderr io.Writer) int {
	_, err := engine.NewClient(cfg, rep.Handle).Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func runServer(ctx context.Context, opts *options, rep report.Reporter, stdout, stderr io.Writer) int {
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
	banner()
	srv := engine.NewServer(engine.ServerConfig{
		OneOff:      opts.oneOff,
		Interval:    opts.cfg.Interval,
		StallWindow: opts.cfg.StallWindow,
		Log: func(msg string) {
			fmt.Fprintf(stderr, "flowscope: %s\n", msg)
		},
	}, func(ev engine.Event) {
		rep.Handle(ev)
		if _, ok := ev.(*engine.End); ok && !opts.oneOff {
			banner()
		}
	})
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
	host := "127.0.0.1"
	if opts.cfg.Network == "tcp6" {
		host = "::1"
	}
	ln, err := engine.Listen(ctx, opts.cfg.Network, net.JoinHostPort(host, "0"))
	if err != nil {
		fmt.Fprintf(stderr, "flowscope: %v\n", err)
		return exitFailed
	}
	srv := engine.NewServer(engine.ServerConfig{
		OneOff:      true,
		StallWindow: opts.cfg.StallWindow,
		Log:         func(msg string) { fmt.Fprintf(stderr, "flowscope: server: %s\n", msg) },
	}, nil)
	srvCtx, stopSrv := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()

	cfg := opts.cfg
	cfg.Host = host
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	code := runClient(ctx, cfg, rep, stderr)
	stopSrv()
	<-served
	return code
}
