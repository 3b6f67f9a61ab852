package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// ErrServerClosed is returned by Serve after its context was cancelled.
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

// Server serves iperf3-protocol tests, one at a time, on one listener.
type Server struct {
	cfg  ServerConfig
	emit func(Event)

	mu       sync.Mutex
	active   map[string]*serverTest // by cookie
	pending  map[netip.Addr]int     // connections per address awaiting their cookie
	nextTest uint64
	wg       sync.WaitGroup
	emitMu   sync.Mutex      // one event at a time, across concurrent tests
	listener syscall.RawConn // for the accept-queue reading; nil if unknown
}

// NewServer returns a server that reports each test through emit (which may
// be nil); emit is called one event at a time.
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
	return &Server{cfg: cfg, emit: emit, active: map[string]*serverTest{}, pending: map[netip.Addr]int{}}
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

// Serve accepts connections on ln until ctx is cancelled (then it returns
// ErrServerClosed) or, with OneOff, until one test has finished (nil). It
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tl, ok := ln.(*net.TCPListener); ok {
		if rc, err := tl.SyscallConn(); err == nil {
			s.mu.Lock()
			s.listener = rc
			s.mu.Unlock()
		}
	}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	var idleErr error
	if s.cfg.OneOff && s.cfg.IdleTimeout > 0 {
		idle := time.AfterFunc(s.cfg.IdleTimeout, func() {
			s.mu.Lock()
			started := s.nextTest > 0
			if !started {
				idleErr = fmt.Errorf("no client came within %s (--idle-timeout)", s.cfg.IdleTimeout)
			}
			s.mu.Unlock()
			if !started {
				cancel()
			}
		})
		defer idle.Stop()
	}
	oneDone := make(chan struct{})
	var once sync.Once
	var acceptErr error
	backoff := time.Duration(0)
	var seq uint64 // accept order, which stock clients' streams rely on
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// EMFILE and friends: back off and retry, like net/http.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log(fmt.Sprintf("accept: %v; retrying in %v", err, backoff))
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			acceptErr = fmt.Errorf("accept: %w", err)
			break
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
			if s.handle(ctx, tc, seq) && s.cfg.OneOff {
				once.Do(func() { close(oneDone); cancel() })
			}
		}(seq)
	}
	s.wg.Wait()
	select {
	case <-oneDone:
		return nil
	default:
	}
	if acceptErr != nil {
		return acceptErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if idleErr != nil {
		return idleErr
	}
	return ErrServerClosed
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
	_ = conn.SetReadDeadline(time.Now().Add(setupTimeout))
	cookie, err := wire.ReadCookie(conn)
	s.mu.Lock()
	if s.pending[addr]--; s.pending[addr] <= 0 {
		delete(s.pending, addr)
	}
	s.mu.Unlock()
	if err != nil {
		s.cfg.Log(fmt.Sprintf("%s: no cookie: %v", conn.RemoteAddr(), describeCtlErr(err)))
		_ = conn.Close()
		return false
	}
	s.mu.Lock()
	if t := s.active[cookie]; t != nil {
		s.mu.Unlock()
		t.addStream(conn, seq)
		return false
	}
	if len(s.active) >= s.cfg.MaxTests {
		s.mu.Unlock()
		s.cfg.Log(fmt.Sprintf("%s: refused: %d test(s) running, the limit (--max-tests)", conn.RemoteAddr(), s.cfg.MaxTests))
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = wire.WriteState(conn, wire.AccessDenied)
		_ = conn.Close()
		return false
	}
	s.nextTest++
	t := &serverTest{srv: s, id: s.nextTest, cookie: cookie, ctl: conn, streamCh: make(chan struct{}, 1), findings: newFindingLog()}
	s.active[cookie] = t
	s.mu.Unlock()
	emit := func(ev Event) {
		s.emitMu.Lock()
		defer s.emitMu.Unlock()
		s.emit(ev)
	}
	end, err := t.run(ctx, emit)
	// The server is free again before anyone hears the test ended.
	s.mu.Lock()
	delete(s.active, cookie)
	s.mu.Unlock()
	if end == nil {
		end = &End{Side: SideServer}
	}
	end.Test = t.id
	end.Err = err
	end.Findings = t.findings.all()
	if err != nil {
		s.cfg.Log(fmt.Sprintf("%s: test %d failed: %v", conn.RemoteAddr(), t.id, err))
	}
	emit(end)
	return true
}

// addrOf returns the IP of a TCP address.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// serverTest is one test from its control connection to its results.
type serverTest struct {
	srv    *Server
	id     uint64
	cookie string
	ctl    *net.TCPConn

	mu        sync.Mutex
	accepting bool
	roles     bool
	params    *wire.Params
	expected  int
	slots     []*net.TCPConn
	pending   []acceptedConn // stock clients: streams in arrival, sorted at the end

	findings  *findingLog
	telemetry bool       // the client agreed to telemetry
	ctlMu     sync.Mutex // serialises control writes once the sampler runs
	ctlClosed bool       // no more telemetry: the results exchange began
	count     int
	streamCh  chan struct{} // signalled on each new stream
	udpFirst  *net.UDPConn  // UDP tests: the socket waiting for the first stream
	udpListen func() (*net.UDPConn, error)
}

// acceptedConn is a data connection and its place in the accept order.
type acceptedConn struct {
	seq  uint64
	conn *net.TCPConn
}

// addStream takes a data connection that presented this test's cookie.
// With the roles extension its header says where it belongs; from a stock
// client, streams take their places in accept order, as iperf3 assigns
// them (cookies are read concurrently, so arrival here may differ).
func (t *serverTest) addStream(conn *net.TCPConn, seq uint64) {
	reject := func(why string) {
		t.srv.cfg.Log(fmt.Sprintf("%s: data connection refused: %s", conn.RemoteAddr(), why))
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = wire.WriteState(conn, wire.AccessDenied)
		_ = conn.Close()
	}
	t.mu.Lock()
	accepting, roles := t.accepting, t.roles
	t.mu.Unlock()
	if !accepting {
		reject("the test is not accepting streams")
		return
	}
	idx := -1
	if roles {
		var b [wire.StreamHeaderSize]byte
		if _, err := ioReadFull(conn, b[:]); err != nil {
			reject(fmt.Sprintf("no stream header: %v", describeCtlErr(err)))
			return
		}
		h, err := wire.DecodeStreamHeader(b[:])
		if err != nil {
			reject(err.Error())
			return
		}
		idx = int(h.Index)
		t.mu.Lock()
		p := t.params
		t.mu.Unlock()
		clientSends := streamDir(SideClient, idx, int(p.Parallel), p.Reverse, p.Bidirectional) == Send
		if clientSends != (h.Role == wire.ClientSends) {
			reject(fmt.Sprintf("stream index %d declared the wrong role", idx))
			return
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.accepting {
		reject("the test is not accepting streams")
		return
	}
	if idx < 0 {
		if t.count >= t.expected {
			reject("more data connections than streams")
			return
		}
		t.pending = append(t.pending, acceptedConn{seq, conn})
		if len(t.pending) == t.expected {
			sort.Slice(t.pending, func(i, j int) bool { return t.pending[i].seq < t.pending[j].seq })
			for i, a := range t.pending {
				t.slots[i] = a.conn
			}
		}
	} else {
		if idx >= t.expected || t.slots[idx] != nil {
			reject(fmt.Sprintf("unexpected stream index %d", idx))
			return
		}
		t.slots[idx] = conn
	}
	t.count++
	select {
	case t.streamCh <- struct{}{}:
	default:
	}
}

// closeSlots closes any data connection accepted so far.
func (t *serverTest) closeSlots() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accepting = false
	for _, c := range t.slots {
		if c != nil {
			_ = c.Close()
		}
	}
	for _, a := range t.pending {
		_ = a.conn.Close()
	}
}

// fail answers the client with SERVER_ERROR and returns err.
func (t *serverTest) fail(code wire.ErrorCode, err error) error {
	_ = t.ctl.SetWriteDeadline(time.Now().Add(time.Second))
	_ = wire.WriteServerError(t.ctl, code, 0)
	return err
}

func (t *serverTest) run(ctx context.Context, emit func(Event)) (*End, error) {
	defer t.ctl.Close()
	ctl := t.ctl
	_ = ctl.SetNoDelay(true)
	// A vanished client must end the test within a bounded time even when
	// no data flows: keepalive probes the control connection.
	_ = ctl.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 4})
	br := wire.NewReader(ctl)
	_ = ctl.SetDeadline(time.Now().Add(setupTimeout))
	if err := wire.WriteState(ctl, wire.ParamExchange); err != nil {
		return nil, err
	}
	msg, err := wire.ReadMessage(br, wire.MaxParamsSize)
	if err != nil {
		return nil, t.fail(wire.ErrRecvParams, fmt.Errorf("read parameters: %w", describeCtlErr(err)))
	}
	p, err := wire.UnmarshalParams(msg)
	if err != nil {
		return nil, t.fail(wire.ErrRecvParams, err)
	}
	if err := validateParams(p); err != nil {
		return nil, t.reject(p, wire.ErrFlowscopeParam, err)
	}
	if code, err := t.srv.checkLimits(p); err != nil {
		return nil, t.reject(p, code, err)
	}
	if err := t.authenticate(br, p); err != nil {
		return nil, err
	}
	var ext *wire.Extensions
	if p.Flowscope != nil {
		ext = &wire.Extensions{Version: Version}
		for _, x := range ourExtensions {
			if p.Flowscope.Has(x) {
				ext.Extensions = append(ext.Extensions, x)
			}
		}
		js, _ := json.Marshal(ext)
		if err := wire.WriteState(ctl, wire.ExtAccept); err != nil {
			return nil, err
		}
		if err := wire.WriteMessage(ctl, js); err != nil {
			return nil, err
		}
	} else if p.Parallel > 128 {
		t.srv.cfg.Log(fmt.Sprintf("%s: stock iperf3 client asks for %d streams", ctl.RemoteAddr(), p.Parallel))
	}
	n := int(p.Parallel)
	if p.Bidirectional {
		n *= 2
	}
	t.telemetry = ext.Has(wire.ExtTelemetry)
	lim := sysctl.ReadLimits()
	backlog := lim.Somaxconn
	if _, b, err := t.listenerQueue(); err == nil && b > 0 {
		backlog = int64(b)
	}
	// The backlog check is the client's: only it knows how many
	// connections it dials at once. It gets our backlog in the preflight.
	t.findings.add(
		diagnose.FDLimit(n, 1, lim.NofileSoft, lim.NofileHard),
		diagnose.WindowClamped(p.Window, lim.RmemMax, lim.WmemMax),
	)
	counters, _ := sysctl.NewCounterReader()
	defer counters.Close()
	var before sysctl.Counters
	if counters != nil {
		before, _ = counters.Read()
	}
	t.sendTelemetry(&wire.TelemetryMsg{Phase: "preflight", Findings: toWire(t.findings.all()), Backlog: backlog})
	t.mu.Lock()
	t.params = p
	t.roles = ext.Has(wire.ExtRoles)
	t.expected = n
	t.slots = make([]*net.TCPConn, n)
	t.accepting = true
	t.mu.Unlock()
	defer t.closeSlots()
	if p.UDP {
		if err := t.openUDP(ctx, p); err != nil {
			return nil, t.fail(wire.ErrFlowscopeParam, err)
		}
		defer func() {
			if t.udpFirst != nil {
				_ = t.udpFirst.Close()
			}
		}()
	}
	if err := wire.WriteState(ctl, wire.CreateStreams); err != nil {
		return nil, err
	}
	_ = ctl.SetDeadline(time.Time{})

	sendRate := uint64(max(p.Bandwidth, 0))
	if p.Bidirectional && ext != nil && ext.ReverseBitrate > 0 {
		sendRate = uint64(ext.ReverseBitrate)
	}
	if lim := t.srv.cfg.MaxBitrate; lim > 0 && sendRate == 0 {
		sendRate = max(lim/uint64(n), 8) // our own senders stay inside the limit
	}
	ctlState := readStateAsync(br)
	var flows flowSet
	if p.UDP {
		flows, err = t.acceptUDP(ctx, p, n, sendRate, ctlState)
	} else {
		flows, err = t.acceptTCP(ctx, p, n, sendRate, ctlState)
	}
	if err != nil {
		return nil, err
	}
	if p.ServerAffinity != nil {
		restore, err := pinProcess(int(*p.ServerAffinity))
		if err != nil {
			t.findings.add(&Finding{Severity: Warning, Kind: "affinity", What: fmt.Sprintf("could not pin the server to CPU %d as the client asked (-A)", *p.ServerAffinity), Evidence: err.Error()})
		} else {
			defer restore()
		}
	}
	tp := paramsFromWire(p)
	tp.Interval = t.srv.cfg.Interval
	if ext != nil {
		tp.ReverseRate = uint64(max(ext.ReverseBitrate, 0))
	}
	defer flows.closeAll()

	setupMsg := &wire.TelemetryMsg{Phase: "setup", Backlog: backlog}
	if counters != nil && before != nil {
		if now, err := counters.Read(); err == nil {
			delta := now.Sub(before)
			setupMsg.Counters = map[string]int64{}
			for _, k := range sysctl.WatchedCounters {
				if delta[k] != 0 {
					setupMsg.Counters[k] = delta[k]
				}
			}
			if f := diagnose.ListenOverflow(delta, backlog); f != nil {
				t.findings.add(f)
				setupMsg.Findings = toWire([]Finding{*f})
			}
		}
	}
	t.sendTelemetry(setupMsg)
	if err := wire.WriteState(ctl, wire.TestStart); err != nil {
		return nil, err
	}
	if err := wire.WriteState(ctl, wire.TestRunning); err != nil {
		return nil, err
	}
	host, port := hostPort(ctl.RemoteAddr())
	start := &Start{
		Side:          SideServer,
		Test:          t.id,
		Version:       Version,
		PeerFlowscope: ext != nil,
		Cookie:        t.cookie,
		Host:          host,
		Port:          port,
		Params:        tp,
		Timestamp:     time.Now(),
		MSS:           mss(mustRaw(ctl)),
		Findings:      t.findings.take(),
	}
	congestion := flows.describe(start)
	emit(start)
	drain := ext.Has(wire.ExtDrain) && !p.UDP
	smp := newSampler(SideServer, flows, tp, t.srv.cfg.StallWindow, func(ev Event) {
		if smp, ok := ev.(*Sample); ok && len(smp.Findings) > 0 {
			t.sendTelemetry(&wire.TelemetryMsg{Phase: "interval", Findings: toWire(smp.Findings)})
		}
		emit(ev)
	})
	smp.findings = t.findings
	smp.test = t.id
	smp.listener = func() *ListenerStats {
		q, b, err := t.listenerQueue()
		if err != nil {
			return nil
		}
		return &ListenerStats{AcceptQueue: int(q), Backlog: int(b)}
	}
	cpu := readCPU()
	t0 := time.Now()
	if err := flows.start(newPayload(int(p.Len), p.RepeatingLoad), int(p.Len), nil, p.ZeroCopy && p.TCP, p.SkipRxCopy && p.TCP); err != nil {
		return nil, t.fail(wire.ErrFlowscopeParam, err)
	}
	smp.begin(t0)

	// The client ends the test. A watchdog bounds how long we wait for it:
	// the requested time plus 40 s, as iperf3 does, or for byte-limited
	// tests 120 s without any data moving.
	if p.Time > 0 {
		_ = ctl.SetReadDeadline(t0.Add(time.Duration(p.Omit+p.Time)*time.Second + 40*time.Second))
	}
	stallTimeout := t.srv.cfg.StallTimeout
	watchEvery := watchPeriod(max(stallTimeout, time.Second))
	idle := time.NewTicker(watchEvery)
	defer idle.Stop()
	watch := newStallWatch(flows, t0)
	rate := &rateGuard{flows: flows, limit: t.srv.cfg.MaxBitrate, last: t0}
	var testErr error
wait:
	for {
		select {
		case sr := <-ctlState:
			switch {
			case sr.err != nil:
				testErr = fmt.Errorf("control connection lost during the test: %w", describeCtlErr(sr.err))
			case sr.state == wire.TestEnd:
			case sr.state == wire.ClientTerminate:
				testErr = errors.New("the client terminated the test")
			default:
				testErr = fmt.Errorf("unexpected control message %v during the test", sr.state)
			}
			break wait
		case now := <-idle.C:
			if err := rate.check(now); err != nil {
				t.closeTelemetry()
				testErr = t.fail(wire.ErrTotalRate, err)
				break wait
			}
			if stallTimeout < 0 || !stalledLongEnough(watch.check(now), stallTimeout, watchEvery) {
				continue
			}
			reason := watch.reason()
			t.findings.add(diagnose.AllStalled(len(flows), stallTimeout, reason))
			t.closeTelemetry()
			testErr = t.fail(wire.ErrNoMsg, fmt.Errorf("no stream moved a byte for %s (%s)", stallTimeout, reason))
			break wait
		case <-ctx.Done():
			t.closeTelemetry()
			_ = wire.WriteState(ctl, wire.ServerTerminate)
			testErr = errors.New("server shutting down")
			break wait
		}
	}
	if testErr != nil {
		t.closeTelemetry()
		flows.closeAll()
		smp.finish(time.Now())
		end := &End{Side: SideServer, Seconds: smp.measuredSeconds(), LocalCPU: cpu.since(), Congestion: congestion}
		end.Streams = localResults(flows, end.Seconds)
		return end, testErr
	}

	flows.stopSenders(drain)
	if drain {
		timeout := time.NewTimer(drainTimeout)
		flows.waitReceivers(timeout.C)
		timeout.Stop()
	}
	flows.stopReceivers()
	smp.finish(time.Now())
	end := &End{Side: SideServer, Seconds: smp.measuredSeconds(), LocalCPU: cpu.since(), Congestion: congestion}
	end.Streams = localResults(flows, end.Seconds)
	// Close the data connections now, as iperf3 does at TEST_END: a stock
	// client may sit in a blocking read of a whole block and only an EOF
	// lets it go on to the results exchange.
	flows.closeAll()

	t.closeTelemetry()
	_ = ctl.SetDeadline(time.Now().Add(resultsTimeout))
	if err := wire.WriteState(ctl, wire.ExchangeResults); err != nil {
		return end, err
	}
	msg, err = wire.ReadMessage(br, wire.MaxResultsSize)
	if err != nil {
		return end, fmt.Errorf("read client results: %w", describeCtlErr(err))
	}
	peer, err := wire.UnmarshalResults(msg)
	if err != nil {
		return end, err
	}
	wr := wireResults(end.Streams, end.LocalCPU, congestion)
	if p.GetServerOutput && t.srv.cfg.ServerOutput != nil {
		local := *end
		local.Test = t.id
		local.Findings = t.findings.all()
		text, js := t.srv.cfg.ServerOutput(t.id, &local)
		if len(js) > 0 {
			wr.ServerOutputJSON = js
		} else {
			wr.ServerOutputText = text
		}
	}
	res, err := wr.Marshal()
	if err != nil {
		return end, err
	}
	if err := wire.WriteMessage(ctl, res); err != nil {
		return end, fmt.Errorf("send results: %w", err)
	}
	if err := mergePeer(end, peer); err != nil {
		return end, err
	}
	if err := wire.WriteState(ctl, wire.DisplayResults); err != nil {
		return end, err
	}
	// IPERF_DONE, or EOF from a client that closed at once; either is fine.
	_, _ = wire.ReadState(br)
	return end, nil
}

// validateParams rejects tests this server cannot run.
func validateParams(p *wire.Params) error {
	switch {
	case p.TCP == p.UDP:
		return errors.New("only TCP and UDP tests are supported")
	case p.Parallel < 1 || p.Parallel > MaxParallel:
		return fmt.Errorf("parallel %d out of range 1-%d", p.Parallel, MaxParallel)
	case p.TCP && (p.Len < 1 || p.Len > MaxBlockSize):
		return fmt.Errorf("block length %d out of range 1-%d", p.Len, MaxBlockSize)
	case p.UDP && (p.Len < MinUDPSize || p.Len > MaxUDPSize):
		return fmt.Errorf("UDP datagram size %d out of range %d-%d", p.Len, MinUDPSize, MaxUDPSize)
	case p.Time < 0 || p.Time > 86400:
		return fmt.Errorf("time %d out of range 0-86400", p.Time)
	case p.Omit < 0 || p.Omit > 600:
		return fmt.Errorf("omit %d out of range 0-600", p.Omit)
	case p.Time == 0 && p.Num <= 0 && p.BlockCount <= 0:
		return errors.New("test has neither a duration nor a byte count")
	case p.Window < 0 || p.Window > 512<<20:
		return fmt.Errorf("window %d out of range", p.Window)
	case p.Bandwidth < 0:
		return errors.New("negative bandwidth")
	}
	return nil
}

// acceptTCP waits for every data connection, giving up after setupTimeout
// without progress, and makes them flows.
func (t *serverTest) acceptTCP(ctx context.Context, p *wire.Params, n int, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	progress := time.NewTimer(setupTimeout)
	defer progress.Stop()
	for {
		t.mu.Lock()
		done := t.count == t.expected
		t.mu.Unlock()
		if done {
			break
		}
		select {
		case <-t.streamCh:
			progress.Reset(setupTimeout)
		case <-progress.C:
			t.mu.Lock()
			got := t.count
			t.mu.Unlock()
			return nil, t.fail(wire.ErrFlowscopeParam, fmt.Errorf("only %d of %d data connections arrived", got, n))
		case sr := <-ctlState:
			return nil, setupStateErr(sr)
		case <-ctx.Done():
			_ = wire.WriteState(t.ctl, wire.ServerTerminate)
			return nil, errors.New("server shutting down")
		}
	}
	t.mu.Lock()
	t.accepting = false
	slots := t.slots
	t.slots = nil // the flows own the connections now
	t.mu.Unlock()

	opts := sockOpts{window: int(p.Window), congestion: p.Congestion, mss: int(p.MSS), tos: int(p.TOS)}
	if ta, ok := t.ctl.LocalAddr().(*net.TCPAddr); ok && ta.IP.To4() == nil {
		opts.v6 = true
	}
	flows := make(flowSet, 0, n)
	for idx, conn := range slots {
		dir := streamDir(SideServer, idx, int(p.Parallel), p.Reverse, p.Bidirectional)
		o := opts
		if dir == Send {
			o.pacing = pacingRate(sendRate, uint64(max(p.FQRate, 0)))
		}
		_ = conn.SetNoDelay(p.NoDelay)
		f, err := newFlow(idx, dir, conn, 0)
		if err == nil {
			err = o.apply(f.raw)
			if dir == Send {
				f.rate = sendRate
			}
		}
		if err != nil {
			for _, c := range slots {
				_ = c.Close()
			}
			return nil, t.fail(wire.ErrSetBuf2, fmt.Errorf("stream %d: %w", StreamID(idx), err))
		}
		flows = append(flows, f)
	}
	return flows, nil
}

// setupStateErr explains a control message (or its failure) during setup.
func setupStateErr(sr stateResult) error {
	if sr.err != nil {
		return fmt.Errorf("client went away during setup: %w", describeCtlErr(sr.err))
	}
	return fmt.Errorf("client sent %v during setup", sr.state)
}

// listenerQueue reads the server listener's accept queue and backlog.
func (t *serverTest) listenerQueue() (queue, backlog uint32, err error) {
	t.srv.mu.Lock()
	rc := t.srv.listener
	t.srv.mu.Unlock()
	if rc == nil {
		return 0, 0, sysctl.ErrUnsupported
	}
	return sysctl.ListenerQueue(rc)
}

// sendTelemetry tells a flowscope client about this side, when it agreed.
func (t *serverTest) sendTelemetry(m *wire.TelemetryMsg) {
	if !t.telemetry {
		return
	}
	if q, _, err := t.listenerQueue(); err == nil {
		m.AcceptQueue = int64(q)
	}
	b, err := wire.EncodeTelemetry(m)
	if err != nil {
		return
	}
	t.ctlMu.Lock()
	defer t.ctlMu.Unlock()
	if t.ctlClosed {
		return
	}
	_, _ = t.ctl.Write(b)
}

// closeTelemetry stops telemetry before the control connection moves on to
// the results (or an error), so nothing interleaves with them.
func (t *serverTest) closeTelemetry() {
	t.ctlMu.Lock()
	t.ctlClosed = true
	t.ctlMu.Unlock()
}

// checkLimits applies the operator's limits to a test request.
func (s *Server) checkLimits(p *wire.Params) (wire.ErrorCode, error) {
	cfg := s.cfg
	n := p.Parallel
	if p.Bidirectional {
		n *= 2
	}
	if cfg.MaxStreams > 0 && n > int64(cfg.MaxStreams) {
		return wire.ErrFlowscopeParam, fmt.Errorf("%d streams asked for, this server allows %d (--max-streams)", n, cfg.MaxStreams)
	}
	if cfg.MaxDuration > 0 {
		if p.Time == 0 {
			return wire.ErrMaxDuration, fmt.Errorf("byte-limited tests (-n) are refused: this server limits tests to %s (--max-duration)", cfg.MaxDuration)
		}
		if d := time.Duration(p.Time+p.Omit) * time.Second; d > cfg.MaxDuration {
			return wire.ErrMaxDuration, fmt.Errorf("a %s test asked for, this server allows %s (--max-duration)", d, cfg.MaxDuration)
		}
	}
	if cfg.MaxBitrate > 0 && p.Bandwidth > 0 {
		total := uint64(p.Bandwidth) * uint64(p.Parallel)
		if p.Bidirectional {
			rev := uint64(p.Bandwidth)
			if p.Flowscope != nil && p.Flowscope.ReverseBitrate > 0 {
				rev = uint64(p.Flowscope.ReverseBitrate)
			}
			total += rev * uint64(p.Parallel)
		}
		if total > cfg.MaxBitrate {
			return wire.ErrTotalRate, fmt.Errorf("%d bit/s in total asked for, this server allows %d (--max-bitrate)", total, cfg.MaxBitrate)
		}
	}
	return 0, nil
}

// reject refuses a test: a flowscope client first hears why, in words
// (telemetry), then every client gets iperf3's SERVER_ERROR.
func (t *serverTest) reject(p *wire.Params, code wire.ErrorCode, err error) error {
	if p != nil && p.Flowscope.Has(wire.ExtTelemetry) {
		f := Finding{Severity: Critical, Kind: KindRejected, What: err.Error()}
		if b, e := wire.EncodeTelemetry(&wire.TelemetryMsg{Phase: "rejected", Findings: toWire([]Finding{f})}); e == nil {
			_ = t.ctl.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = t.ctl.Write(b)
		}
	}
	return t.fail(code, fmt.Errorf("refused: %w", err))
}

// KindRejected is the finding a server sends when it refuses a test.
const KindRejected = "rejected"

// rateGuard ends a test whose measured total rate stays above the
// server's limit (--max-bitrate) for two consecutive seconds, as iperf3's
// --server-bitrate-limit does.
type rateGuard struct {
	flows flowSet
	limit uint64
	last  time.Time
	bytes uint64
	over  int
}

func (g *rateGuard) check(now time.Time) error {
	if g.limit == 0 || now.Sub(g.last) < time.Second {
		return nil
	}
	var total uint64
	for _, f := range g.flows {
		total += f.bytes.Load()
	}
	bps := float64(total-g.bytes) * 8 / now.Sub(g.last).Seconds()
	g.bytes, g.last = total, now
	if bps <= float64(g.limit)*1.1 {
		g.over = 0
		return nil
	}
	if g.over++; g.over < 2 {
		return nil
	}
	return fmt.Errorf("the test moved %.0f bit/s, above this server's limit of %d (--max-bitrate)", bps, g.limit)
}

// admit counts a new connection against its address's allowance of
// connections that have not yet presented a cookie, or refuses it.
func (s *Server) admit(conn *net.TCPConn) bool {
	addr := addrOf(conn.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[addr] >= s.cfg.MaxPendingPerAddr {
		s.cfg.Log(fmt.Sprintf("%s: refused: %d connections from this address have yet to present a cookie", conn.RemoteAddr(), s.cfg.MaxPendingPerAddr))
		_ = conn.Close()
		return false
	}
	s.pending[addr]++
	return true
}
