package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// lifeServer is a Server on 127.0.0.1:0 the test stops itself.
type lifeServer struct {
	*Server
	addr   *net.TCPAddr
	served chan error
	ends   chan *End
}

func startLifeServer(t *testing.T, cfg ServerConfig, emit func(Event)) *lifeServer {
	t.Helper()
	ln, err := Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &lifeServer{addr: ln.Addr().(*net.TCPAddr), served: make(chan error, 1), ends: make(chan *End, 16)}
	ls.Server = NewServer(cfg, func(ev Event) {
		if emit != nil {
			emit(ev)
		}
		if e, ok := ev.(*End); ok {
			ls.ends <- e
		}
	})
	go func() { ls.served <- ls.Serve(context.Background(), ln) }()
	t.Cleanup(func() { _ = ls.Close() })
	return ls
}

// runningClient starts a client and returns once its first sample is in;
// the channel gets its result.
func runningClient(t *testing.T, cfg Config) <-chan error {
	t.Helper()
	running := make(chan struct{})
	result := make(chan error, 1)
	var once sync.Once
	go func() {
		_, err := NewClient(cfg, func(ev Event) {
			if _, ok := ev.(*Sample); ok {
				once.Do(func() { close(running) })
			}
		}).Run(context.Background())
		once.Do(func() { close(running) })
		result <- err
	}()
	<-running
	return result
}

func lifeClient(ls *lifeServer, d time.Duration) Config {
	cfg := clientConfig(&testServer{addr: ls.addr}, 1, d)
	cfg.Interval = 100 * time.Millisecond
	return cfg
}

// TestShutdownLetsTestsFinish: Shutdown stops accepting at once but lets
// the running test end normally.
func TestShutdownLetsTestsFinish(t *testing.T) {
	t.Parallel()
	ls := startLifeServer(t, ServerConfig{}, nil)
	client := runningClient(t, lifeClient(ls, time.Second))
	shut := make(chan error, 1)
	go func() { shut <- ls.Shutdown(context.Background()) }()
	if err := <-client; err != nil {
		t.Errorf("running test during Shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-ls.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if e := <-ls.ends; e.Err != nil {
		t.Errorf("server's End: %v", e.Err)
	}
	// Nothing listens any more.
	cfg := lifeClient(ls, time.Second)
	if _, _, err := runClient(t, cfg); CauseOf(err) != CauseConnect {
		t.Errorf("client after Shutdown: %v (cause %v), want a connect failure", err, CauseOf(err))
	}
}

// TestShutdownDeadlineEndsTests: when Shutdown's context ends first, the
// running tests are ended and their clients told so.
func TestShutdownDeadlineEndsTests(t *testing.T) {
	t.Parallel()
	ls := startLifeServer(t, ServerConfig{}, nil)
	client := runningClient(t, lifeClient(ls, 30*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed already
	if err := ls.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want the context's error", err)
	}
	if err := <-client; CauseOf(err) != CauseShutdown {
		t.Errorf("client: %v (cause %v), want the server's termination", err, CauseOf(err))
	}
	if e := <-ls.ends; CauseOf(e.Err) != CauseShutdown {
		t.Errorf("server's End: %v (cause %v), want shutdown", e.Err, CauseOf(e.Err))
	}
	if err := <-ls.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// TestCloseEndsTests: Close ends running tests at once, also one still in
// setup, and idle connections.
func TestCloseEndsTests(t *testing.T) {
	t.Parallel()
	ls := startLifeServer(t, ServerConfig{}, nil)
	client := runningClient(t, lifeClient(ls, 30*time.Second))
	idle, err := net.Dial("tcp", ls.addr.String()) // never presents a cookie
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := ls.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-client; CauseOf(err) != CauseShutdown {
		t.Errorf("client: %v (cause %v), want the server's termination", err, CauseOf(err))
	}
	if err := <-ls.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("idle connection after Close: %v, want it closed", err)
	}
}

// TestClientCallbackPanic: a front end whose callback panics ends its test
// with a CauseFrontEnd error, still gets its End, and the process lives.
func TestClientCallbackPanic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	var ends int
	c := NewClient(clientConfig(ts, 1, 30*time.Second), func(ev Event) {
		switch ev.(type) {
		case *Sample:
			panic("front end bug")
		case *End:
			ends++
		}
	})
	end, err := c.Run(context.Background())
	if CauseOf(err) != CauseFrontEnd || !strings.Contains(err.Error(), "front end bug") {
		t.Errorf("err = %v (cause %v), want the front end's failure", err, CauseOf(err))
	}
	if ends != 1 || end == nil || len(end.Streams) != 1 {
		t.Errorf("%d End events, end %+v; want one End with the stream's results", ends, end)
	}
	// The test ended early but in order: the server has its results.
	if e := <-ts.ends; e.Err != nil {
		t.Errorf("server: %v", e.Err)
	}
}

// TestServerCallbackPanic: a panic in the server's callback ends that test
// only; the server serves the next one.
func TestServerCallbackPanic(t *testing.T) {
	t.Parallel()
	var once sync.Once
	ls := startLifeServer(t, ServerConfig{Interval: 100 * time.Millisecond}, func(ev Event) {
		if _, ok := ev.(*Sample); ok {
			once.Do(func() { panic("front end bug") })
		}
	})
	_, _, err := runClient(t, lifeClient(ls, 30*time.Second))
	if CauseOf(err) != CauseShutdown {
		t.Errorf("client of the failed test: %v (cause %v), want the server's termination", err, CauseOf(err))
	}
	if e := <-ls.ends; CauseOf(e.Err) != CauseFrontEnd {
		t.Logf("server end: %+v", e)
		t.Errorf("server's End: %v (cause %v), want the front end's failure", e.Err, CauseOf(e.Err))
	}
	if _, _, err := runClient(t, lifeClient(ls, 300*time.Millisecond)); err != nil {
		t.Errorf("next test: %v", err)
	}
	<-ls.ends
}

// TestTelemetryWriteHasDeadline: a peer that stops reading its control
// connection cannot block telemetry: the write gives up at its deadline
// and the control connection is closed, which ends the test.
func TestTelemetryWriteHasDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close() // and never reads
	_ = peer.(*net.TCPConn).SetReadBuffer(4096)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctl := c.(*net.TCPConn)
	_ = ctl.SetWriteBuffer(4096)
	s := newSession(SideServer, ctl, func(Event) {})
	s.telemetry = true
	big := &wire.TelemetryMsg{Phase: "interval", Findings: []wire.Finding{{Kind: "x", What: strings.Repeat("w", 16<<10)}}}
	done := make(chan int, 1)
	go func() {
		n := 0
		for !s.closedForTelemetry() && n < 10_000 {
			s.sendTelemetry(big)
			n++
		}
		done <- n
	}()
	select {
	case n := <-done:
		if n == 10_000 {
			t.Fatal("10,000 telemetry messages went into a connection nobody reads")
		}
	case <-time.After(3 * controlWriteTimeout):
		t.Fatal("telemetry to a peer that does not read blocked past its deadline")
	}
	if _, err := ctl.Write([]byte{1}); err == nil {
		t.Error("the control connection is still open after a telemetry write timed out")
	}
}

func (s *session) closedForTelemetry() bool {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	return s.ctlClosed
}

// TestServerAffinityPinsOnlyTheTest: a client's -A n,m pins the threads of
// that test's flows on the server, not the rest of the process, and the
// pinning ends with the test.
func TestServerAffinityPinsOnlyTheTest(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs to tell a pinned thread from an unpinned one")
	}
	var pinned, others int
	var mu sync.Mutex
	var once sync.Once
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 2, time.Second)
	cfg.ServerAffinity = 1
	cfg.Interval = 100 * time.Millisecond
	_, err := NewClient(cfg, func(ev Event) {
		if _, ok := ev.(*Sample); ok {
			once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				pinned, others = threadsPinnedTo(t, "1")
			})
		}
	}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-ts.ends
	mu.Lock()
	defer mu.Unlock()
	if pinned < 2 || others == 0 {
		t.Errorf("during the test %d threads pinned to CPU 1 and %d not; want the 2 server flows pinned and the rest not", pinned, others)
	}
	// Each flow gave its thread its CPUs back before it ended.
	if n, _ := threadsPinnedTo(t, "1"); n != 0 {
		t.Errorf("%d threads still pinned to CPU 1 after the test", n)
	}
}

// threadsPinnedTo counts this process's threads whose allowed CPUs are
// exactly cpus, and the others.
func threadsPinnedTo(t *testing.T, cpus string) (pinned, others int) {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if strings.TrimSpace(v) == cpus {
					pinned++
				} else {
					others++
				}
			}
		}
	}
	return pinned, others
}
