package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/sysctl"
)

// ParseAddr checks a --metrics address: HOST:PORT, :PORT, [V6]:PORT, or a
// bare PORT (all addresses), and returns it as host:port.
func ParseAddr(s string) (string, error) {
	if p, err := strconv.Atoi(s); err == nil {
		if p < 0 || p > 65535 {
			return "", fmt.Errorf("invalid --metrics %q: port out of range 0-65535", s)
		}
		return ":" + s, nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("invalid --metrics %q: want HOST:PORT, :PORT or PORT", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("invalid --metrics %q: port out of range 0-65535", s)
	}
	return s, nil
}

// Serve serves a server's Prometheus metrics on addr at /metrics until ctx
// ends or stop is called; logf gets one line when it serves and any error
// after. observe is what the server's events go through. ln is the
// server's listener, whose accept queue is read at each scrape; maxTests
// is the server's --max-tests.
func Serve(ctx context.Context, addr string, ln net.Listener, maxTests int, logf func(string)) (observe func(engine.Event), stop func(), err error) {
	opts := Options{Limits: sysctl.ReadLimits, MaxTests: max(maxTests, 1)}
	if sc, ok := ln.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			opts.Listener = rc
		}
	}
	counters, cerr := sysctl.NewCounterReader()
	if cerr == nil {
		opts.Counters = counters
	}
	closeCounters := func() {
		if cerr == nil {
			counters.Close()
		}
	}
	c := New(opts)
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(c))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "flowscope %s server: Prometheus metrics at /metrics\n", engine.Version)
	})
	mln, err := net.Listen("tcp", addr)
	if err != nil {
		closeCounters()
		return nil, nil, fmt.Errorf("--metrics: %w", unwrapListenErr(err))
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf(fmt.Sprintf("metrics: %v", err))
		}
	}()
	logf(fmt.Sprintf("metrics: serving http://%s/metrics", displayAddr(mln.Addr())))
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	}()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		close(stopped)
		<-served
		closeCounters()
	}
	return c.Observe, stop, nil
}

// displayAddr writes a listening address as host:port.
func displayAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port))
	}
	return a.String()
}

// unwrapListenErr drops net.OpError's noise from a listen error.
func unwrapListenErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return fmt.Errorf("listen on %s: %w", oe.Addr, oe.Err)
	}
	return err
}
