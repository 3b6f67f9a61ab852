package main

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/metrics"
	"github.com/flowscope/flowscope/report"
)

// server is the one wiring of a server, whatever its front end: its
// listener, --metrics, and the reports it keeps for clients that ask for
// them (--get-server-output).
type server struct {
	ln          net.Listener
	cfg         engine.ServerConfig
	observe     func(engine.Event) // --metrics
	stopMetrics func()
	outs        *report.ServerOutputs
}

// listenServer opens the server's port and --metrics; log is the server's
// log.
func listenServer(ctx context.Context, opts *options, log func(string)) (*server, error) {
	addr := net.JoinHostPort(opts.cfg.BindAddr, strconv.Itoa(opts.cfg.Port))
	ln, err := engine.Listen(ctx, opts.cfg.Network, addr)
	if err != nil {
		return nil, err
	}
	cfg := opts.server
	cfg.OneOff, cfg.Interval, cfg.StallWindow, cfg.Log = opts.oneOff, opts.cfg.Interval, opts.cfg.StallWindow, log
	s := newServer(ln, cfg, report.NewServerOutputs(opts.json, report.Options{Format: opts.format, Title: opts.out.Title}))
	if opts.metricsAddr != "" {
		if s.observe, s.stopMetrics, err = metrics.Serve(ctx, opts.metricsAddr, ln, opts.server.MaxTests, log); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	return s, nil
}

// newServer is a server on ln without --metrics.
func newServer(ln net.Listener, cfg engine.ServerConfig, outs *report.ServerOutputs) *server {
	return &server{ln: ln, cfg: cfg, outs: outs, observe: func(engine.Event) {}, stopMetrics: func() {}}
}

// serve runs the server until ctx ends (or after one test, -1); every
// event goes to --metrics and the kept reports, then to emit.
func (s *server) serve(ctx context.Context, emit func(engine.Event)) error {
	defer s.stopMetrics()
	s.cfg.ServerOutput = s.outs.Output
	srv := engine.NewServer(s.cfg, func(ev engine.Event) {
		s.observe(ev)
		s.outs.Handle(ev)
		emit(ev)
	})
	err := srv.Serve(ctx, s.ln)
	if errors.Is(err, engine.ErrServerClosed) {
		return nil
	}
	return err
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
	// It samples at the client's interval, so the sender view it sends
	// (-R rows, a UDP sender's loss) keeps up with the client.
	s := newServer(ln, engine.ServerConfig{OneOff: true, Interval: opts.cfg.Interval, StallWindow: opts.cfg.StallWindow, Log: log},
		report.NewServerOutputs(opts.json, report.Options{Format: opts.format}))
	srvCtx, stopSrv := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.serve(srvCtx, func(engine.Event) {}) }()

	cfg := opts.cfg
	cfg.Host = host
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	return cfg, func() { stopSrv(); <-served }, nil
}
