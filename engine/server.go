package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// ErrServerClosed is returned by Serve after its context was cancelled, or
// after Shutdown or Close.
var ErrServerClosed = errors.New("flowscope: server closed")

// ServerConfig configures a Server.
type ServerConfig struct {
	// OneOff makes Serve return after one test (-1).
	OneOff bool
	// StallWindow is how long a stream may move nothing before it is
	// marked stalled.
	StallWindow time.Duration
	// Interval is the server's own reporting interval (-i on the server).
	Interval time.Duration
	// StallTimeout ends a test when no stream has moved a byte for this
	// long (default 30 s; negative disables it).
	StallTimeout time.Duration
	// ControlKeepAlive is the clients' control connections' TCP keepalive
	// (--cntl-ka); nil: flowscope's own (see controlKeepAlive).
	ControlKeepAlive *net.KeepAliveConfig
	// Log receives one line per notable event (rejected connections,
	// protocol errors). Nil discards them.
	Log func(msg string)

	// MaxTests is how many tests may run at once (default 1, so tests do
	// not distort each other); clients beyond it get iperf3's "busy".
	MaxTests int
	// MaxStreams bounds a test's data connections (0: no limit).
	MaxStreams int
	// MaxDuration bounds a test's omit+time (0: no limit); byte-limited
	// tests are refused when it is set.
	MaxDuration time.Duration
	// MaxTestMemory bounds the buffers one test may claim on this server,
	// in bytes (Params.TestMemory; 0: DefaultMaxTestMemory; negative: no
	// limit). A test asking for more is refused with the reason.
	MaxTestMemory int64
	// MaxBitrate bounds a test's total rate in bit/s (0: no limit): a test
	// asking for more is refused, and one that moves more is ended.
	MaxBitrate uint64
	// MaxPendingPerAddr bounds connections from one client address that
	// have not yet presented a cookie (0: 1024).
	MaxPendingPerAddr int
	// AuthKey, when set, is the pre-shared secret a client must prove it
	// knows (HMAC over the cookie and a server nonce) before a test runs.
	AuthKey []byte
	// IdleTimeout, with OneOff, makes Serve give up when no test has
	// started within it (iperf3's --idle-timeout).
	IdleTimeout time.Duration
	// ServerOutput renders this server's own report of a test for a client
	// that asked for it (--get-server-output): text, or a JSON document
	// when the server reports in JSON. local has this side's results only.
	// Nil: the server sends none.
	ServerOutput func(test uint64, local *End) (text string, json []byte)
}

// Server serves iperf3-protocol tests on one listener, one at a time by
// default (ServerConfig.MaxTests). Serve runs it; Shutdown and Close stop
// it, as net/http's Server does.
type Server struct {
	cfg  ServerConfig
	emit func(Event)

	mu       sync.Mutex
	active   map[string]*serverTest // by cookie
	pending  map[netip.Addr]int     // connections per address awaiting their cookie
	idle     map[*net.TCPConn]bool  // connections yet to present a cookie
	nextTest uint64
	wg       sync.WaitGroup
	emitMu   sync.Mutex      // one event at a time, across concurrent tests
	listener syscall.RawConn // for the accept-queue reading; nil if unknown
	// udpMuxes: the UDP stream-request socket of each server address where
	// a UDP test is setting up, by address.
	udpMuxes map[string]*udpStreamMux

	ln       net.Listener  // while Serve runs
	closing  bool          // Shutdown or Close was called
	served   chan struct{} // closed when Serve returns
	endTests context.CancelFunc
}

// NewServer returns a server that reports each test through emit (which may
// be nil); emit is called one event at a time, each test's in order and
// from a goroutine that does not hold the test up. If emit panics, the test
// that emitted ends with a CauseFrontEnd error; the server goes on.
func NewServer(cfg ServerConfig, emit func(Event)) *Server {
	if emit == nil {
		emit = func(Event) {}
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	if cfg.MaxTests <= 0 {
		cfg.MaxTests = 1
	}
	if cfg.MaxPendingPerAddr <= 0 {
		cfg.MaxPendingPerAddr = 1024
	}
	return &Server{cfg: cfg, emit: emit, active: map[string]*serverTest{}, pending: map[netip.Addr]int{},
		idle: map[*net.TCPConn]bool{}, served: make(chan struct{}), endTests: func() {}}
}

// Listen opens the server's listening socket. Its backlog is the kernel's
// maximum (net.core.somaxconn), which Go uses for every listener.
func Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, unwrapOpError(err))
	}
	return ln, nil
}

// Backlog returns the listen backlog the kernel grants (somaxconn), or 0
// when unknown.
func Backlog() int {
	n, err := sysctl.Somaxconn()
	if err != nil {
		return 0
	}
	return n
}

// Serve accepts connections on ln until ctx is cancelled, which ends the
// running tests at once, or Shutdown or Close is called (then it returns
// ErrServerClosed), or, with OneOff, until one test has finished (nil). It
// closes ln, and returns once every test it started has ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	testsCtx, endTests := context.WithCancel(ctx)
	defer endTests()
	s.mu.Lock()
	if s.closing || s.ln != nil {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.ln, s.endTests = ln, endTests
	if tl, ok := ln.(*net.TCPListener); ok {
		if rc, err := tl.SyscallConn(); err == nil {
			s.listener = rc
		}
	}
	s.mu.Unlock()
	defer close(s.served)
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	oneDone := make(chan struct{})
	var once sync.Once
	idleErr := s.watchIdle()
	acceptErr := s.acceptLoop(ln, func(conn *net.TCPConn, seq uint64) {
		if s.handle(testsCtx, conn, seq) && s.cfg.OneOff {
			once.Do(func() { close(oneDone); _ = s.Close() })
		}
	})
	s.stopAccepting()
	s.wg.Wait()
	select {
	case <-oneDone:
		return nil
	default:
	}
	if acceptErr != nil {
		return acceptErr
	}
	if err := idleErr(); err != nil {
		return err
	}
	return ErrServerClosed
}

// watchIdle, with OneOff and an IdleTimeout, closes the server when no
// test has started within the timeout; the returned func says so.
func (s *Server) watchIdle() func() error {
	if !s.cfg.OneOff || s.cfg.IdleTimeout <= 0 {
		return func() error { return nil }
	}
	var mu sync.Mutex
	var idleErr error
	idle := time.AfterFunc(s.cfg.IdleTimeout, func() {
		s.mu.Lock()
		started := s.nextTest > 0
		s.mu.Unlock()
		if !started {
			mu.Lock()
			idleErr = fmt.Errorf("no client came within %s (--idle-timeout)", s.cfg.IdleTimeout)
			mu.Unlock()
			_ = s.Close()
		}
	})
	return func() error {
		idle.Stop()
		mu.Lock()
		defer mu.Unlock()
		return idleErr
	}
}

// acceptLoop accepts connections until the listener is closed (nil) or
// fails for good, handing each to serve on a goroutine of its own.
func (s *Server) acceptLoop(ln net.Listener, serve func(conn *net.TCPConn, seq uint64)) error {
	backoff := time.Duration(0)
	var seq uint64 // accept order, which stock clients' streams rely on
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off and retry, like net/http.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log(fmt.Sprintf("accept: %v; retrying in %v", err, backoff))
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		tc := conn.(*net.TCPConn)
		if !s.admit(tc) {
			continue
		}
		seq++
		s.wg.Add(1)
		go func(seq uint64) {
			defer s.wg.Done()
			serve(tc, seq)
		}(seq)
	}
}

// Shutdown stops the server gracefully: it stops accepting connections,
// refuses new tests, and waits for the running tests to finish. When ctx
// ends first, it ends the running tests (their clients hear that the
// server terminated them), waits for them, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.stopAccepting() {
		return nil // Serve never ran
	}
	select {
	case <-s.served:
		return nil
	case <-ctx.Done():
		_ = s.Close()
		<-s.served
		return ctx.Err()
	}
}

// Close stops the server at once: it stops accepting connections and ends
// every running test (their clients hear that the server terminated
// them). Serve then returns ErrServerClosed.
func (s *Server) Close() error {
	s.stopAccepting()
	s.mu.Lock()
	endTests := s.endTests
	for c := range s.idle {
		_ = c.Close()
	}
	s.mu.Unlock()
	endTests()
	return nil
}

// stopAccepting closes the listener and refuses new tests; it reports
// whether Serve has run.
func (s *Server) stopAccepting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if s.ln == nil {
		return false
	}
	_ = s.ln.Close()
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// handle reads a new connection's cookie and routes it: a data connection
// of the test in setup, a control connection starting a test, or a
// connection refused because the server is busy. It reports whether a test
// ran on this connection.
func (s *Server) handle(ctx context.Context, conn *net.TCPConn, seq uint64) bool {
	addr := addrOf(conn.RemoteAddr()) // counted in pending by the accept loop
	released := false
	release := func() { // the connection no longer counts as pending
		if released {
			return
		}
		released = true
		s.mu.Lock()
		delete(s.idle, conn)
		if s.pending[addr]--; s.pending[addr] <= 0 {
			delete(s.pending, addr)
		}
		s.mu.Unlock()
	}
	defer release()
	_ = conn.SetReadDeadline(time.Now().Add(setupTimeout))
	cookie, err := wire.ReadCookie(conn)
	if err != nil {
		s.cfg.Log(fmt.Sprintf("%s: no cookie: %v", conn.RemoteAddr(), describeCtlErr(err)))
		_ = conn.Close()
		return false
	}
	t, why := s.route(conn, cookie, seq, release)
	if t == nil {
		if why != "" {
			s.cfg.Log(fmt.Sprintf("%s: refused: %s", conn.RemoteAddr(), why))
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_ = wire.WriteState(conn, wire.AccessDenied)
			_ = conn.Close()
		}
		return false
	}
	end, err := s.runTest(ctx, t)
	if err != nil {
		s.cfg.Log(fmt.Sprintf("%s: test %d failed: %v", conn.RemoteAddr(), t.test, err))
	}
	t.emit(end)
	t.events.close()
	return true
}

// route hands a data connection to its test and returns nil, or returns
// the new test a control connection starts, or nil and why it is refused.
func (s *Server) route(conn *net.TCPConn, cookie string, seq uint64, release func()) (*serverTest, string) {
	s.mu.Lock()
	if t := s.active[cookie]; t != nil {
		s.mu.Unlock()
		release()
		t.addStream(conn, seq)
		return nil, ""
	}
	s.mu.Unlock()
	t := s.newTest(conn, cookie)
	if len(s.cfg.AuthKey) > 0 {
		// With a key, the client proves it before it holds a test slot,
		// within authTimeout of its cookie: a stranger cannot keep the
		// server busy (and stays counted as pending meanwhile).
		if err := t.negotiate(time.Now().Add(authTimeout)); err != nil {
			s.cfg.Log(fmt.Sprintf("%s: refused before a test: %v", conn.RemoteAddr(), err))
			_ = conn.Close()
			// Reported as an End of its own (no slot was held, and a
			// one-off server goes on waiting for a client with the key).
			s.mu.Lock()
			s.nextTest++
			id := s.nextTest
			s.mu.Unlock()
			s.emitMu.Lock()
			s.emit(&End{Side: SideServer, Test: id, Err: err, Findings: t.findings.all()})
			s.emitMu.Unlock()
			return nil, ""
		}
	}
	release()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, "the server is shutting down"
	case len(s.active) >= s.cfg.MaxTests:
		return nil, fmt.Sprintf("%d test(s) running, the limit (--max-tests)", s.cfg.MaxTests)
	}
	s.nextTest++
	t.test = s.nextTest
	s.active[cookie] = t
	return t, ""
}

// newTest makes the server's side of a test on its control connection.
func (s *Server) newTest(conn *net.TCPConn, cookie string) *serverTest {
	t := &serverTest{session: newSession(SideServer, conn, nil), srv: s, streamCh: make(chan struct{}, 1)}
	t.cookie = cookie
	t.beforeTelemetry = func(m *wire.TelemetryMsg) {
		if q, _, err := t.listenerQueue(); err == nil {
			m.AcceptQueue = int64(q)
		}
	}
	return t
}

// runTest runs one test with its own context: a panic in the front end's
// callback ends this test only. It returns the test's End, complete.
func (s *Server) runTest(ctx context.Context, t *serverTest) (*End, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t.events = newDelivery(func(ev Event) {
		s.emitMu.Lock()
		defer s.emitMu.Unlock()
		s.emit(ev)
	}, cancel)
	t.emit = t.events.push
	end, err := t.run(ctx)
	t.events.flush()
	if fe := context.Cause(ctx); CauseOf(fe) == CauseFrontEnd {
		err = fe
	}
	// The server is free again before anyone hears the test ended.
	s.mu.Lock()
	delete(s.active, t.cookie)
	s.mu.Unlock()
	if end == nil {
		end = &End{Side: SideServer}
	}
	end.Test = t.test
	end.Err = err
	end.Findings = t.findings.all()
	return end, err
}

// stopCause is why a test's context ended: the front end failed, or the
// server is shutting down.
func stopCause(ctx context.Context) error {
	if err := context.Cause(ctx); CauseOf(err) == CauseFrontEnd {
		return err
	}
	return errShuttingDown
}

// addrOf returns the IP of a TCP address.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// admit counts a new connection against its address's allowance of
// connections that have not yet presented a cookie, or refuses it (also
// once the server is closing).
func (s *Server) admit(conn *net.TCPConn) bool {
	addr := addrOf(conn.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		_ = conn.Close()
		return false
	}
	if s.pending[addr] >= s.cfg.MaxPendingPerAddr {
		s.cfg.Log(fmt.Sprintf("%s: refused: %d connections from this address have yet to present a cookie", conn.RemoteAddr(), s.cfg.MaxPendingPerAddr))
		_ = conn.Close()
		return false
	}
	s.pending[addr]++
	s.idle[conn] = true // until it presents its cookie (handle)
	return true
}

// limits are the operator's bounds on a test.
func (c *ServerConfig) limits() Limits {
	mem := c.MaxTestMemory
	switch {
	case mem == 0:
		mem = DefaultMaxTestMemory
	case mem < 0:
		mem = 0 // no limit
	}
	return Limits{MaxStreams: c.MaxStreams, MaxDuration: c.MaxDuration, MaxBitrate: c.MaxBitrate, MaxTestMemory: uint64(mem)}
}
