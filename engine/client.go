package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// ErrServerBusy is returned when the server is running another test.
var ErrServerBusy error = &Error{Cause: CauseBusy, Err: errors.New("the server is busy running a test; try again later")}

// Client runs one test against a server.
type Client struct {
	cfg  Config
	emit func(Event)

	hooks clientHooks

	findings      *findingLog
	s             *session // the test's control session, once connected
	authNonce     []byte   // the server's nonce, once it challenged us
	mu            sync.Mutex
	rejection     string             // why the server refused the test, when it said so
	serverSetup   *wire.TelemetryMsg // the server's setup telemetry
	peers         peerTable          // the server's latest view of each stream
	serverBacklog int64              // the server's listen backlog, from its preflight
}

// clientHooks let tests reorder stream setup.
type clientHooks struct {
	beforeDial func(idx int)
	afterDial  func(idx int)
	// roleWait, when not 0, bounds the wait for a stock server's data in
	// --bidir instead of roleWait.
	roleWait time.Duration
}

// NewClient returns a client for cfg that reports through emit (which may
// be nil). emit is called in order, one call at a time, from a goroutine
// of its own, so a slow front end does not hold the test up; Run returns
// after its last call. If emit panics, the test ends with a CauseFrontEnd
// error instead of the process.
func NewClient(cfg Config, emit func(Event)) *Client {
	if emit == nil {
		emit = func(Event) {}
	}
	return &Client{cfg: cfg, emit: emit}
}

// Run runs the test and returns its results. Cancelling ctx while data
// flows ends the test early but still exchanges results; cancelling it
// during setup aborts. Run emits exactly one End, also on failure.
func (c *Client) Run(ctx context.Context) (*End, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	events := newDelivery(c.emit, cancel)
	defer events.close()
	end, err := c.run(ctx, events.push)
	// A panic in the front end, however late it handled its events, is
	// the test's error.
	events.flush()
	if fe := context.Cause(ctx); CauseOf(fe) == CauseFrontEnd {
		err = fe
	}
	if end == nil {
		end = &End{Side: SideClient}
	}
	end.Err = err
	if c.findings != nil {
		end.Findings = c.findings.all()
	}
	events.push(end)
	return end, err
}

func (c *Client) run(ctx context.Context, emit func(Event)) (*End, error) {
	if c.cfg.Protocol == "" {
		c.cfg.Protocol = ProtoTCP
	}
	if err := c.cfg.Validate(); err != nil {
		return nil, err
	}
	c.findings = newFindingLog(diagnose.OriginClient)
	c.findings.add(c.hostChecks()...)
	emit(&Connecting{Host: c.cfg.Host, Port: c.cfg.Port, Streams: c.cfg.NumStreams()})
	ctl, err := c.dialControl(ctx)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	s := newSession(SideClient, ctl, emit)
	s.findings, c.s = c.findings, s
	stopAbort := abortOnCancel(ctx, ctl)
	defer stopAbort()
	if err := c.exchangeParams(ctx); err != nil {
		return nil, err
	}
	counters, _ := sysctl.NewCounterReader()
	defer counters.Close()
	var before sysctl.Counters
	if counters != nil {
		before, _ = counters.Read()
	}
	flows, connectTimes, err := s.tr.dial(ctx, c, ctl.RemoteAddr(), s.ext, emit)
	s.flows = flows
	defer flows.closeAll()
	if err != nil {
		if ctx.Err() == nil {
			_ = s.writeState(wire.ClientTerminate)
		}
		return nil, err
	}
	// The server accepts every stream, then says TEST_START, TEST_RUNNING.
	_ = ctl.SetDeadline(time.Now().Add(setupTimeout))
	for _, st := range []wire.State{wire.TestStart, wire.TestRunning} {
		if err := c.expectState(st); err != nil {
			return nil, c.setupErr(ctx, err)
		}
	}
	stopAbort()
	c.setupFindings(ctl.RemoteAddr(), counters, before, connectTimes)
	_ = ctl.SetDeadline(time.Time{})
	if s.stockBidir() {
		// The stock server's senders start at TEST_RUNNING: roles from
		// where their data arrives, before ours start.
		if err := s.takeRoles(ctx, c.cfg.Rate, pacingRate(c.cfg.Rate, c.cfg.FQRate), c.hooks.roleWait); err != nil {
			_ = s.writeState(wire.ClientTerminate)
			return s.abort(), err
		}
	}

	s.announce(c.cfg.Host, c.cfg.Port, connectTimes)
	limit := newByteLimit(c.cfg.Bytes)
	// The client-view extension: the server hears what this side sees of
	// each stream, as this side hears the server's (peerViews).
	s.telemetry = s.ext.Has(wire.ExtClientView)
	next := 0
	emitSample := func(ev Event) {
		if smp, ok := ev.(*Sample); ok && s.telemetry {
			if views := peerViews(smp, &next); len(views) > 0 {
				s.sendTelemetry(&wire.TelemetryMsg{Phase: "interval", Streams: views})
			}
		}
		emit(ev)
	}
	if err := s.startFlows(c.cfg.StallWindow, limit, emitSample, func(smp *sampler) { smp.peers = &c.peers }); err != nil {
		return s.abort(), err
	}
	ctlState := c.readStateAsync()
	if err := c.wait(ctx, limit, ctlState); err != nil {
		return s.abort(), err
	}
	return c.finish(ctlState)
}

// dialControl connects the control connection.
func (c *Client) dialControl(ctx context.Context) (*net.TCPConn, error) {
	cfg := &c.cfg
	if cfg.Host == "" {
		return nil, &Error{Cause: CauseInvalid, Err: errors.New("no server host given")}
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	d := net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: controlKeepAlive(cfg.ControlKeepAlive)}
	d.SetMultipathTCP(cfg.MPTCP)
	if cfg.BindAddr != "" {
		ip := net.ParseIP(cfg.BindAddr)
		if ip == nil {
			return nil, &Error{Cause: CauseInvalid, Err: fmt.Errorf("bind address %q is not an IP address", cfg.BindAddr)}
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.DialContext(ctx, cfg.Network, addr)
	if err != nil {
		return nil, &Error{Cause: CauseConnect, Err: fmt.Errorf("unable to connect to server %s: %w", addr, unwrapOpError(err))}
	}
	ctl := conn.(*net.TCPConn)
	_ = ctl.SetNoDelay(true)
	return ctl, nil
}

// resolveSizes fills in the block size the transport picks for this
// control connection, and turns -k's block count into bytes (the engine
// counts bytes).
func (c *Client) resolveSizes(ctl *net.TCPConn) {
	p := &c.cfg.Params
	if p.BlockSize == 0 {
		p.BlockSize = transportFor(p.Protocol).defaultBlockSize(ctl)
	}
	if p.Blocks > 0 {
		p.Bytes = p.Blocks * int64(p.BlockSize)
	}
}

// exchangeParams sends the cookie and the parameters, and reads which
// extensions the server agreed to, up to CREATE_STREAMS.
func (c *Client) exchangeParams(ctx context.Context) error {
	s := c.s
	s.cookie = wire.NewCookie()
	_ = s.ctl.SetDeadline(time.Now().Add(setupTimeout))
	if _, err := s.w().Write(wire.EncodeCookie(s.cookie)); err != nil {
		return c.setupErr(ctx, fmt.Errorf("send cookie: %w", err))
	}
	// As iperf3, the control connection's MSS once the cookie went out
	// (on loopback 32,768, where it read 32,741 before any data).
	c.resolveSizes(s.ctl)
	if err := c.expectState(wire.ParamExchange); err != nil {
		return c.setupErr(ctx, err)
	}
	if err := wire.WriteMessage(s.w(), c.cfg.Params.toWire(c.offer()).Marshal()); err != nil {
		return c.setupErr(ctx, fmt.Errorf("send parameters: %w", err))
	}
	st, err := c.readState()
	if err != nil {
		return c.setupErr(ctx, err)
	}
	var ext *wire.Extensions
	if st == wire.ExtAccept {
		msg, err := wire.ReadMessage(s.br, wire.MaxParamsSize)
		if err != nil {
			return c.setupErr(ctx, fmt.Errorf("read extension acceptance: %w", err))
		}
		ext = &wire.Extensions{}
		if err := json.Unmarshal(msg, ext); err != nil {
			return c.setupErr(ctx, &Error{Cause: CauseProtocol, Err: fmt.Errorf("decode extension acceptance: %w", err)})
		}
		if st, err = c.readState(); err != nil {
			return c.setupErr(ctx, err)
		}
	}
	if err := stateErr(s.br, st, wire.CreateStreams); err != nil {
		return c.setupErr(ctx, err)
	}
	s.agree(c.cfg.Params, ext)
	if c.cfg.ReverseRate > 0 && ext == nil {
		_ = s.writeState(wire.ClientTerminate)
		return &Error{Cause: CauseRejected, Err: errors.New("--reverse-bitrate needs a flowscope server; this server is stock iperf3, which sends at -b")}
	}
	if ext.Has(wire.ExtRoles) && s.tr.listenBacklog() {
		c.mu.Lock()
		backlog := c.serverBacklog
		c.mu.Unlock()
		c.findings.add(diagnose.BacklogSmall(min(c.cfg.NumStreams(), c.cfg.ConnectConcurrency), backlog))
	}
	return nil
}

// wait lets the test run until it is over: its time or byte count is
// reached, ctx is cancelled, or it fails. nil means an orderly end.
func (c *Client) wait(ctx context.Context, limit *byteLimit, ctlState <-chan stateResult) error {
	s := c.s
	var deadline <-chan time.Time
	if c.cfg.Duration > 0 {
		timer := time.NewTimer(time.Until(s.t0.Add(c.cfg.Omit + c.cfg.Duration)))
		defer timer.Stop()
		deadline = timer.C
	}
	allDone := s.flows.allDone()
	roleTick, stopRoleTick := s.roleTicker()
	defer stopRoleTick()
	guard := newStallGuard(s, c.cfg.StallTimeout)
	var watchTick <-chan time.Time
	if c.cfg.StallTimeout > 0 {
		tk := time.NewTicker(guard.every)
		defer tk.Stop()
		watchTick = tk.C
	}
	for {
		select {
		case <-deadline:
		case <-limit.reached():
		case <-ctx.Done():
		case <-allDone:
			// Senders that stopped at -n end every flow at once: select
			// may pick this case over the limit's when both are ready
			// (always so when the bytes went out before the test began
			// waiting), and that is an orderly end, not a failure.
			if limit.isReached() {
				return nil
			}
			// The server usually says why it dropped the streams: its
			// control message explains better than a reset does.
			select {
			case sr := <-ctlState:
				return c.midTestState(sr)
			case <-time.After(time.Second):
				return firstFlowErr(s.flows, "all streams ended before the test did")
			}
		case sr := <-ctlState:
			return c.midTestState(sr)
		case <-roleTick:
			if err := s.checkRoles(); err != nil {
				return err
			}
			continue
		case now := <-watchTick:
			if err := guard.check(now, s.findings); err != nil {
				return err
			}
			continue
		}
		return nil
	}
}

// finish ends the test in order: senders stop, TEST_END, receivers
// drain, then the results exchange.
func (c *Client) finish(ctlState <-chan stateResult) (*End, error) {
	s := c.s
	s.stopSenders()
	s.closeTelemetry() // nothing may follow TEST_END but the results
	time.Sleep(s.tr.endGrace(&s.params))
	if !s.drains() {
		// A stock server stops counting at TEST_END: what our senders
		// wrote goes out first (the kernel paces -b, so megabytes can
		// still wait in the socket), so that it receives what was sent.
		s.flows.waitDelivered(deliveredWait)
	}
	if err := s.writeState(wire.TestEnd); err != nil {
		return s.abort(), fmt.Errorf("send TEST_END: %w", err)
	}
	_ = s.ctl.SetReadDeadline(time.Now().Add(resultsTimeout + drainTimeout))
	s.drainReceivers()
	end := s.end()
	sr := <-ctlState
	if sr.err != nil {
		return end, fmt.Errorf("waiting for results exchange: %w", describeCtlErr(sr.err))
	}
	if err := stateErr(s.br, sr.state, wire.ExchangeResults); err != nil {
		return end, err
	}
	_ = s.ctl.SetReadDeadline(time.Now().Add(resultsTimeout))
	if err := s.sendResults(wireResults(end.Streams, end.LocalCPU, s.congestion)); err != nil {
		return end, err
	}
	peer, err := s.readResults(end)
	if err != nil {
		return end, err
	}
	s.checkPairing(end)
	end.ServerOutputText, end.ServerOutputJSON = peer.ServerOutputText, peer.ServerOutputJSON
	if err := c.expectState(wire.DisplayResults); err != nil {
		return end, err
	}
	s.flows.stopReceivers()
	_ = s.writeState(wire.IperfDone)
	return end, nil
}

// hostChecks looks at this host's limits before the test.
func (c *Client) hostChecks() []*Finding {
	cfg := c.cfg
	lim := sysctl.ReadLimits()
	n := cfg.NumStreams()
	perStream := 1
	if cfg.Loopback {
		perStream = 2
	}
	return []*Finding{
		diagnose.FDLimit(n, perStream, lim.NofileSoft, lim.NofileHard),
		diagnose.EphemeralPorts(n, lim.EphemeralPorts()),
		diagnose.WindowClamped(int64(cfg.Window), lim.RmemMax, lim.WmemMax),
	}
}

// setupFindings explains slow connects, with the server's accept-queue
// evidence from its telemetry or, when the server shares this host's
// network namespace, from the local counters.
func (c *Client) setupFindings(server net.Addr, counters *sysctl.CounterReader, before sysctl.Counters, times []time.Duration) {
	overflow, backlog := int64(-1), int64(0)
	c.mu.Lock()
	if c.serverSetup != nil {
		overflow = c.serverSetup.Counters["TcpExt.ListenOverflows"]
		backlog = c.serverSetup.Backlog
	}
	c.mu.Unlock()
	if !c.s.ext.Has(wire.ExtTelemetry) && counters != nil && before != nil && isLoopback(server) {
		if now, err := counters.Read(); err == nil {
			delta := now.Sub(before)
			overflow = delta["TcpExt.ListenOverflows"]
			c.findings.add(diagnose.ListenOverflow(delta, sysctl.ReadLimits().Somaxconn))
		}
	}
	c.findings.add(diagnose.SlowConnects(times, overflow, backlog))
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// readState reads the next state byte, handling any telemetry the server
// sends in between.
func (c *Client) readState() (wire.State, error) {
	br := c.s.br
	for {
		st, err := wire.ReadState(br)
		if err == nil && st == wire.AuthChallenge {
			if err := c.answerAuth(); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil || st != wire.Telemetry {
			return st, err
		}
		msg, err := wire.ReadMessage(br, wire.MaxTelemetrySize)
		if err != nil {
			return 0, fmt.Errorf("read telemetry: %w", err)
		}
		tm, err := wire.UnmarshalTelemetry(msg)
		if err != nil {
			continue // a bad telemetry document is not worth the test
		}
		c.findings.add(fromWire(tm.Findings, diagnose.OriginServer)...)
		c.peers.update(tm.Streams)
		c.mu.Lock()
		switch tm.Phase {
		case "preflight":
			c.serverBacklog = tm.Backlog
		case "setup":
			c.serverSetup = tm
		case "rejected":
			if len(tm.Findings) > 0 {
				c.rejection = tm.Findings[0].What
			}
		}
		c.mu.Unlock()
	}
}

// expectState reads one state and requires want.
func (c *Client) expectState(want wire.State) error {
	st, err := c.readState()
	if err != nil {
		return fmt.Errorf("waiting for %v: %w", want, describeCtlErr(err))
	}
	return stateErr(c.s.br, st, want)
}

// readStateAsync reads one state in the background.
func (c *Client) readStateAsync() <-chan stateResult {
	ch := make(chan stateResult, 1)
	go func() {
		st, err := c.readState()
		ch <- stateResult{st, err}
	}()
	return ch
}

// midTestState handles a control message that arrives while data flows.
func (c *Client) midTestState(sr stateResult) error {
	s := c.s
	if sr.err != nil {
		return withCause(CausePeerGone, fmt.Errorf("control connection lost during the test: %w", describeCtlErr(sr.err)))
	}
	switch sr.state {
	case wire.ServerTerminate:
		_ = s.writeState(wire.IperfDone)
		return errServerTerminated
	case wire.ServerError:
		_ = s.ctl.SetReadDeadline(time.Now().Add(time.Second))
		return wire.ReadServerError(s.br)
	case wire.AccessDenied:
		return &Error{Cause: CauseRejected, Err: errors.New("the server denied access during the test")}
	}
	return &Error{Cause: CauseProtocol, Err: fmt.Errorf("unexpected control message %v during the test", sr.state)}
}

// setupErr prefers ctx's error when the failure came from cancellation.
func (c *Client) setupErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &Error{Cause: CauseInterrupted, Err: fmt.Errorf("interrupted during setup: %w", ctx.Err())}
	}
	c.mu.Lock()
	why := c.rejection
	c.mu.Unlock()
	if why != "" {
		cause := CauseOf(err)
		if cause != CauseAuth {
			cause = CauseRejected
		}
		return &Error{Cause: cause, Err: fmt.Errorf("the server refused the test: %s", why)}
	}
	return err
}

// dialStreams opens every data connection. With the roles extension they
// are dialled in parallel and each declares its role; against a stock
// server they are dialled one at a time in iperf3's order.
func (c *Client) dialStreams(ctx context.Context, server net.Addr, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error) {
	cfg := c.cfg
	cookie := c.s.cookie
	n := cfg.NumStreams()
	roles := ext.Has(wire.ExtRoles)
	// detectRoles: the roles come from the stock server's data once the
	// test runs (takeRoles), which also paces the senders then.
	detectRoles := c.s.stockBidir()
	flows := make(flowSet, n)
	times := make([]time.Duration, n)
	var fails setupFailures
	var mu sync.Mutex
	connected := 0
	lastProgress := time.Now()

	dialOne := func(idx int) {
		if c.hooks.beforeDial != nil {
			c.hooks.beforeDial(idx)
		}
		dir := cfg.dir(SideClient, idx)
		opts := c.dataSockOpts(server, false)
		if dir == Send && !detectRoles {
			opts.pacing = pacingRate(cfg.Rate, cfg.FQRate)
		}
		d := net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: -1}
		d.SetMultipathTCP(cfg.MPTCP)
		if cfg.BindAddr != "" || cfg.CPort > 0 {
			la := &net.TCPAddr{IP: net.ParseIP(cfg.BindAddr)}
			if cfg.CPort > 0 {
				la.Port = cfg.CPort + idx
			} else {
				opts.noPortBind = true
			}
			d.LocalAddr = la
		}
		d.Control = opts.control
		t := time.Now()
		conn, err := d.DialContext(ctx, "tcp", server.String())
		if err == nil {
			hdr := wire.EncodeCookie(cookie)
			if roles {
				hdr = append(hdr, cfg.roleHeader(idx)...)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(setupTimeout))
			if _, err = conn.Write(hdr); err == nil {
				_ = conn.SetWriteDeadline(time.Time{})
			}
		}
		var f *flow
		if err == nil {
			_ = conn.(*net.TCPConn).SetNoDelay(cfg.NoDelay) // iperf3 leaves Nagle on unless -N
			f, err = newFlow(idx, dir, conn.(*net.TCPConn), len(wire.EncodeCookie(cookie))+boolInt(roles)*wire.StreamHeaderSize)
			if err == nil && dir == Send {
				f.rate = cfg.Rate
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if conn != nil {
				_ = conn.Close()
			}
			fails.add(fmt.Errorf("stream %d: %w", StreamID(idx), unwrapOpError(err)))
			return
		}
		flows[idx] = f
		times[idx] = time.Since(t)
		connected++
		if connected == n || time.Since(lastProgress) > 50*time.Millisecond {
			lastProgress = time.Now()
			emit(&Progress{Side: SideClient, Connected: connected, Total: n})
		}
		if c.hooks.afterDial != nil {
			c.hooks.afterDial(idx)
		}
	}

	if roles {
		dialParallel(ctx, n, min(n, cfg.ConnectConcurrency), dialOne)
	} else {
		for idx := range n {
			if ctx.Err() != nil {
				break
			}
			dialOne(idx)
			if fails.total > 0 {
				break // a stock server cannot recover from a missing stream
			}
		}
	}
	// Keep only the connected flows so callers can close them.
	ok := flows[:0:0]
	for _, f := range flows {
		if f != nil {
			ok = append(ok, f)
		}
	}
	if ctx.Err() != nil {
		return ok, nil, &Error{Cause: CauseInterrupted, Err: fmt.Errorf("interrupted during setup: %w", ctx.Err())}
	}
	if err := fails.err(n); err != nil {
		c.findings.add(diagnose.SetupFailed(fails.byCause, n))
		return ok, nil, err
	}
	return ok, times, nil
}

// dialParallel calls dial for each index below n on workers goroutines,
// until ctx is cancelled.
func dialParallel(ctx context.Context, n, workers int, dial func(idx int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idx := range next {
				dial(idx)
			}
		}()
	}
feed:
	for idx := range n {
		select {
		case next <- idx:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stateErr turns an unexpected state into an error, reading SERVER_ERROR's
// details.
func stateErr(r io.Reader, got, want wire.State) error {
	switch got {
	case want:
		return nil
	case wire.AccessDenied:
		return ErrServerBusy
	case wire.ServerError:
		return wire.ReadServerError(r)
	case wire.ServerTerminate:
		return errServerTerminated
	}
	return &Error{Cause: CauseProtocol, Err: fmt.Errorf("protocol error: expected %v, got %v", want, got)}
}

// describeCtlErr makes control-connection failures readable.
func describeCtlErr(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Cause: CausePeerGone, Err: errors.New("the peer closed the control connection")}
	case isTimeout(err):
		return &Error{Cause: CauseTimeout, Err: errors.New("the peer did not answer in time")}
	}
	return &Error{Cause: netCause(err), Err: unwrapOpError(err)}
}

// unwrapOpError drops net.OpError's address noise but keeps the cause,
// naming the operation once ("read: connection reset by peer", not
// "read: read: …": the cause is often a system call of the same name).
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		cause := oe.Err
		var se *os.SyscallError
		if errors.As(cause, &se) && se.Syscall == oe.Op {
			cause = se.Err
		}
		return fmt.Errorf("%s: %w", oe.Op, cause)
	}
	return err
}

func firstFlowErr(flows flowSet, fallback string) error {
	for _, f := range flows {
		if err := f.endErr(); err != nil {
			return &Error{Cause: CauseStream, Err: fmt.Errorf("%s: %w", fallback, err)}
		}
	}
	return &Error{Cause: CauseStream, Err: errors.New(fallback)}
}

func mustRaw(c *net.TCPConn) rawConn {
	rc, _ := c.SyscallConn()
	return rc
}

// offer lists the extensions this client proposes.
func (c *Client) offer() []string {
	x := append([]string(nil), ourExtensions...)
	if len(c.cfg.AuthKey) > 0 {
		x = append(x, wire.ExtAuth)
	}
	return x
}

// dataSockOpts are the socket options of this client's data connections.
func (c *Client) dataSockOpts(server net.Addr, udp bool) sockOpts {
	cfg := c.cfg
	o := sockOpts{
		window: cfg.Window, congestion: cfg.Congestion, mss: cfg.MSS, tos: cfg.TOS,
		bindDev: cfg.BindDev, userTimeout: int(cfg.SndTimeout / time.Millisecond),
		udp: udp, dontFrag: cfg.DontFragment,
	}
	if ta, ok := server.(*net.TCPAddr); ok && ta.IP.To4() == nil {
		o.v6 = true
	}
	return o
}

// pacingRate is the SO_MAX_PACING_RATE (bytes/s) for a sender: the lower of
// -b and --fq-rate, 0 for none.
func pacingRate(rate, fqRate uint64) uint64 {
	switch {
	case rate == 0:
		return fqRate / 8
	case fqRate == 0:
		return rate / 8
	}
	return min(rate, fqRate) / 8
}
