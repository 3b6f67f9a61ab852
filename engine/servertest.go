package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// serverTest is one test from its control connection to its results: the
// server's side of the session, and the data connections arriving for it.
type serverTest struct {
	*session
	srv    *Server
	events *delivery // the front end's events, off the test's goroutines

	mu        sync.Mutex
	accepting bool
	roles     bool
	expected  int
	slots     []*net.TCPConn
	pending   []acceptedConn // stock clients: streams in arrival, sorted at the end
	count     int
	streamCh  chan struct{} // signalled on each new stream
	// UDP tests: the registration with the address's request mux while
	// the streams are set up, and a fresh socket on the server's address.
	udpMux    *udpStreamMux
	peers     peerTable // the client's latest view of each stream (client-view)
	udpReg    *udpSetup
	udpListen func() (*net.UDPConn, error)
	authNonce []byte      // the nonce the client answered (authentication)
	neg       *negotiated // the parameters, once negotiated

	backlog  int64 // the listen backlog the client is told about
	counters *sysctl.CounterReader
	before   sysctl.Counters // kernel counters before the streams arrived
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
		if idx, err = t.params.placeOf(h); err != nil {
			reject(err.Error())
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
	t.closeTelemetry()
	_ = wire.WriteServerError(t.w(), code, 0)
	return err
}

func (t *serverTest) run(ctx context.Context) (*End, error) {
	defer t.ctl.Close()
	_ = t.ctl.SetNoDelay(true)
	// A vanished client must end the test within a bounded time even when
	// no data flows: keepalive probes the control connection.
	_ = t.ctl.SetKeepAliveConfig(controlKeepAlive(t.srv.cfg.ControlKeepAlive))
	if t.neg == nil {
		if err := t.negotiate(time.Now().Add(setupTimeout)); err != nil {
			return nil, err
		}
	}
	if err := t.exchangeParams(); err != nil {
		return nil, err
	}
	release, err := t.openStreams(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	defer t.closeSlots()
	ctlState := t.readStateAsync()
	flows, err := t.tr.accept(ctx, t, t.sendRate(), ctlState)
	if err != nil {
		return nil, err
	}
	t.flows = flows
	defer flows.closeAll()
	t.pinFlows()
	t.sendTelemetry(t.setupTelemetry())
	for _, st := range []wire.State{wire.TestStart, wire.TestRunning} {
		if err := t.writeState(st); err != nil {
			return nil, err
		}
	}
	if t.stockBidir() {
		// The stock client's senders start at TEST_RUNNING: roles from
		// where their data arrives, before ours start.
		rate := t.sendRate()
		if err := t.takeRoles(ctx, rate, pacingRate(rate, t.params.FQRate), 0); err != nil {
			return nil, t.fail(wire.ErrNoMsg, err)
		}
	}
	host, port := hostPort(t.ctl.RemoteAddr())
	t.announce(host, port, nil)
	next := 0 // the first stream of the next sender-view batch
	emitSample := func(ev Event) {
		if smp, ok := ev.(*Sample); ok && t.telemetry {
			views := peerViews(smp, &next)
			if len(smp.Findings) > 0 || len(views) > 0 {
				t.sendTelemetry(&wire.TelemetryMsg{Phase: "interval", Findings: toWire(smp.Findings), Streams: views})
			}
		}
		t.emit(ev)
	}
	if err := t.startFlows(t.srv.cfg.StallWindow, serverByteLimit(&t.params), emitSample, t.tuneSampler); err != nil {
		return nil, t.fail(wire.ErrFlowscopeParam, err)
	}
	if err := t.wait(ctx, ctlState); err != nil {
		return t.abort(), err
	}
	return t.finish()
}

// negotiate asks for the parameters, checks them against this server's
// limits and, when it has a key, makes the client prove it, all before
// deadline. A refusal is answered (SERVER_ERROR) and returned.
func (t *serverTest) negotiate(deadline time.Time) error {
	_ = t.ctl.SetDeadline(deadline)
	if err := t.writeState(wire.ParamExchange); err != nil {
		return err
	}
	msg, err := wire.ReadMessage(t.br, wire.MaxParamsSize)
	if err != nil {
		return t.fail(wire.ErrRecvParams, fmt.Errorf("read parameters: %w", describeCtlErr(err)))
	}
	wp, err := wire.UnmarshalParams(msg)
	if err != nil {
		return t.fail(wire.ErrRecvParams, &Error{Cause: CauseProtocol, Err: err})
	}
	p, err := paramsFromWire(wp)
	if err == nil {
		err = p.validate(t.srv.cfg.limits())
	}
	if err != nil {
		return t.reject(wp, refusalCode(err, wire.ErrFlowscopeParam), err)
	}
	if err := t.authenticate(wp); err != nil {
		return err
	}
	t.neg = &negotiated{wire: wp, params: p}
	return nil
}

// negotiated is a test's parameters as the client sent them and as this
// server runs them.
type negotiated struct {
	wire   *wire.Params
	params Params
}

// exchangeParams answers a flowscope client's extension offer, once the
// parameters are negotiated.
func (t *serverTest) exchangeParams() error {
	_ = t.ctl.SetDeadline(time.Now().Add(setupTimeout))
	wp, p := t.neg.wire, t.neg.params
	p.Interval = t.srv.cfg.Interval
	ext := agreedExtensions(wp.Flowscope)
	t.agree(p, ext)
	t.telemetry = ext.Has(wire.ExtTelemetry)
	if ext == nil {
		if p.Parallel > 128 {
			t.srv.cfg.Log(fmt.Sprintf("%s: stock iperf3 client asks for %d streams", t.ctl.RemoteAddr(), p.Parallel))
		}
		return nil
	}
	js, _ := json.Marshal(ext)
	if err := t.writeState(wire.ExtAccept); err != nil {
		return err
	}
	return wire.WriteMessage(t.w(), js)
}

// openStreams tells the client this host's limits (preflight telemetry),
// readies the transport for the data connections and says CREATE_STREAMS.
// The returned func releases what the transport holds.
func (t *serverTest) openStreams(ctx context.Context) (func(), error) {
	n := t.params.NumStreams()
	lim := sysctl.ReadLimits()
	t.backlog = lim.Somaxconn
	if _, b, err := t.listenerQueue(); err == nil && b > 0 {
		t.backlog = int64(b)
	}
	// The backlog check is the client's: only it knows how many
	// connections it dials at once. It gets our backlog in the preflight.
	t.findings.add(
		diagnose.FDLimit(n, 1, lim.NofileSoft, lim.NofileHard),
		diagnose.WindowClamped(int64(t.params.Window), lim.RmemMax, lim.WmemMax),
	)
	t.counters, _ = sysctl.NewCounterReader()
	if t.counters != nil {
		t.before, _ = t.counters.Read()
	}
	t.sendTelemetry(&wire.TelemetryMsg{Phase: "preflight", Findings: toWire(t.findings.all()), Backlog: t.backlog})
	t.mu.Lock()
	t.roles = t.ext.Has(wire.ExtRoles)
	t.expected = n
	t.slots = make([]*net.TCPConn, n)
	t.accepting = true
	t.mu.Unlock()
	release, err := t.tr.listen(ctx, t)
	if err != nil {
		t.counters.Close()
		return nil, t.fail(wire.ErrFlowscopeParam, err)
	}
	if err := t.writeState(wire.CreateStreams); err != nil {
		release()
		t.counters.Close()
		return nil, err
	}
	_ = t.ctl.SetDeadline(time.Time{})
	return func() { release(); t.counters.Close() }, nil
}

// sendRate is the per-stream rate of this side's senders: the client's
// -b, or --reverse-bitrate in bidir; with --max-bitrate and no rate asked
// for, our senders stay inside the limit.
func (t *serverTest) sendRate() uint64 {
	rate := t.params.Rate
	if t.params.ReverseRate > 0 {
		rate = t.params.ReverseRate
	}
	if lim := t.srv.cfg.MaxBitrate; lim > 0 && rate == 0 {
		rate = max(lim/uint64(t.params.NumStreams()), 8)
	}
	return rate
}

// pinFlows makes the client's -A n,m apply to this test's own flows: each
// runs on a thread of its own, pinned to CPU m. Other tests and the rest
// of the server stay where they are.
func (t *serverTest) pinFlows() {
	cpu := t.params.ServerAffinity
	if cpu < 0 {
		return
	}
	if err := checkCPU(cpu); err != nil {
		t.findings.add(&Finding{Severity: Warning, Kind: "affinity", What: fmt.Sprintf("could not pin the test to CPU %d as the client asked (-A)", cpu), Evidence: err.Error()})
		return
	}
	for _, f := range t.flows {
		f.pinCPU = cpu + 1
	}
}

// setupTelemetry is what the client hears about the setup: the kernel
// counters that moved while its streams arrived, and an overflowed accept
// queue.
func (t *serverTest) setupTelemetry() *wire.TelemetryMsg {
	m := &wire.TelemetryMsg{Phase: "setup", Backlog: t.backlog}
	if t.counters == nil || t.before == nil {
		return m
	}
	now, err := t.counters.Read()
	if err != nil {
		return m
	}
	delta := now.Sub(t.before)
	m.Counters = map[string]int64{}
	for _, k := range sysctl.WatchedCounters {
		if delta[k] != 0 {
			m.Counters[k] = delta[k]
		}
	}
	if f := diagnose.ListenOverflow(delta, t.backlog); f != nil {
		t.findings.add(f)
		m.Findings = toWire([]Finding{*f})
	}
	return m
}

// maxDurationGrace is how long past --max-duration a test may run before
// the server ends it: the client's own end (TEST_END, the senders'
// drain) comes a little after its time.
const maxDurationGrace = 2 * time.Second

// authTimeout bounds, with authentication, the time from a client's
// cookie to its proof of the key.
const authTimeout = 5 * time.Second

// readStateAsync reads the client's next state byte in the background;
// with the client-view extension it takes the client's telemetry in
// between, keeping its stream views for the samples.
func (t *serverTest) readStateAsync() <-chan stateResult {
	ch := make(chan stateResult, 1)
	views := t.ext.Has(wire.ExtClientView)
	go func() {
		for {
			b, err := t.br.ReadByte()
			st := wire.State(int8(b))
			if err != nil || st != wire.Telemetry || !views {
				ch <- stateResult{st, err}
				return
			}
			msg, err := wire.ReadMessage(t.br, wire.MaxTelemetrySize)
			if err != nil {
				ch <- stateResult{0, fmt.Errorf("read the client's telemetry: %w", err)}
				return
			}
			if tm, err := wire.UnmarshalTelemetry(msg); err == nil {
				t.peers.update(tm.Streams)
			} // a bad document is not worth the test
		}
	}()
	return ch
}

// tuneSampler gives the sampler the server's listener reading and the
// client's view of the streams.
func (t *serverTest) tuneSampler(smp *sampler) {
	smp.peers = &t.peers
	smp.listener = func() *ListenerStats {
		q, b, err := t.listenerQueue()
		if err != nil {
			return nil
		}
		return &ListenerStats{AcceptQueue: int(q), Backlog: int(b)}
	}
}

// wait lets the test run until the client ends it (nil), or it fails: the
// client leaves, no stream moves for the stall timeout, the test moves more
// than --max-bitrate, or the server shuts down. A watchdog bounds the wait
// at the requested time plus 40 s, as iperf3 does.
func (t *serverTest) wait(ctx context.Context, ctlState <-chan stateResult) error {
	p := &t.params
	if p.Duration > 0 {
		_ = t.ctl.SetReadDeadline(t.t0.Add(p.Omit + p.Duration + 40*time.Second))
	}
	guard := newStallGuard(t.session, t.srv.cfg.StallTimeout)
	idle := time.NewTicker(guard.every)
	defer idle.Stop()
	roleTick, stopRoleTick := t.roleTicker()
	defer stopRoleTick()
	rate := &rateGuard{flows: t.flows, limit: t.srv.cfg.MaxBitrate, last: t.t0}
	// --max-duration holds while the test runs, not only at admission: a
	// client that asks for 5 s and never sends TEST_END is ended by the
	// server, maxDurationGrace after its limit.
	var overtime <-chan time.Time
	if lim := t.srv.cfg.MaxDuration; lim > 0 {
		timer := time.NewTimer(time.Until(t.t0.Add(lim + maxDurationGrace)))
		defer timer.Stop()
		overtime = timer.C
	}
	for {
		select {
		case <-overtime:
			return t.fail(wire.ErrMaxDuration, &Error{Cause: CauseRejected, Err: fmt.Errorf("the test ran past this server's limit of %s (--max-duration)", t.srv.cfg.MaxDuration)})
		case sr := <-ctlState:
			switch {
			case sr.err != nil:
				return withCause(CausePeerGone, fmt.Errorf("control connection lost during the test: %w", describeCtlErr(sr.err)))
			case sr.state == wire.TestEnd:
				return nil
			case sr.state == wire.ClientTerminate:
				return &Error{Cause: CausePeerGone, Err: errors.New("the client terminated the test")}
			}
			return &Error{Cause: CauseProtocol, Err: fmt.Errorf("unexpected control message %v during the test", sr.state)}
		case <-roleTick:
			if err := t.checkRoles(); err != nil {
				return t.fail(wire.ErrNoMsg, err)
			}
		case now := <-idle.C:
			if err := rate.check(now); err != nil {
				return t.fail(wire.ErrTotalRate, err)
			}
			if err := guard.check(now, t.findings); err != nil {
				return t.fail(wire.ErrNoMsg, err)
			}
		case <-ctx.Done():
			t.closeTelemetry()
			_ = t.writeState(wire.ServerTerminate)
			return stopCause(ctx)
		}
	}
}

// finish ends the test in order after TEST_END: senders stop, receivers
// drain, the data connections close, then the results exchange.
func (t *serverTest) finish() (*End, error) {
	t.stopSenders()
	t.drainReceivers()
	t.flows.stopReceivers()
	end := t.end()
	// Close the data connections now, as iperf3 does at TEST_END: a stock
	// client may sit in a blocking read of a whole block and only an EOF
	// lets it go on to the results exchange.
	t.flows.closeAll()
	t.closeTelemetry()
	_ = t.ctl.SetDeadline(time.Now().Add(resultsTimeout))
	if err := t.writeState(wire.ExchangeResults); err != nil {
		return end, err
	}
	wr := wireResults(end.Streams, end.LocalCPU, t.congestion)
	msg, err := wire.ReadMessage(t.br, wire.MaxResultsSize)
	if err != nil {
		return end, fmt.Errorf("read client results: %w", describeCtlErr(err))
	}
	peer, err := wire.UnmarshalResults(msg)
	if err != nil {
		return end, &Error{Cause: CauseProtocol, Err: err}
	}
	if t.params.GetServerOutput && t.srv.cfg.ServerOutput != nil {
		local := *end
		local.Findings = t.findings.all()
		text, js := t.srv.cfg.ServerOutput(t.test, &local)
		if len(js) > 0 {
			wr.ServerOutputJSON = js
		} else {
			wr.ServerOutputText = text
		}
	}
	if err := t.sendResults(wr); err != nil {
		return end, err
	}
	if err := mergePeer(end, peer); err != nil {
		return end, &Error{Cause: CauseProtocol, Err: err}
	}
	t.checkPairing(end)
	if err := t.writeState(wire.DisplayResults); err != nil {
		return end, err
	}
	// IPERF_DONE, or EOF from a client that closed at once; either is fine.
	_, _ = wire.ReadState(t.br)
	return end, nil
}

// acceptTCP waits for every data connection, giving up after setupTimeout
// without progress, and makes them flows.
func (t *serverTest) acceptTCP(ctx context.Context, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	p, n := &t.params, t.params.NumStreams()
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
			return nil, t.fail(wire.ErrFlowscopeParam, &Error{Cause: CauseStreamsMissing, Err: fmt.Errorf("only %d of %d data connections arrived", got, n)})
		case sr := <-ctlState:
			return nil, setupStateErr(sr)
		case <-ctx.Done():
			_ = t.writeState(wire.ServerTerminate)
			return nil, stopCause(ctx)
		}
	}
	t.mu.Lock()
	t.accepting = false
	slots := t.slots
	t.slots = nil // the flows own the connections now
	t.mu.Unlock()

	opts := sockOpts{window: p.Window, congestion: p.Congestion, mss: p.MSS, tos: p.TOS}
	if ta, ok := t.ctl.LocalAddr().(*net.TCPAddr); ok && ta.IP.To4() == nil {
		opts.v6 = true
	}
	flows := make(flowSet, 0, n)
	for idx, conn := range slots {
		dir := p.dir(SideServer, idx)
		o := opts
		if dir == Send && !t.stockBidir() { // else paced once the roles are known (takeRoles)
			o.pacing = pacingRate(sendRate, p.FQRate)
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
		return withCause(CausePeerGone, fmt.Errorf("client went away during setup: %w", describeCtlErr(sr.err)))
	}
	return &Error{Cause: CausePeerGone, Err: fmt.Errorf("client sent %v during setup", sr.state)}
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

// reject refuses a test: a flowscope client first hears why, in words
// (telemetry), then every client gets iperf3's SERVER_ERROR.
func (t *serverTest) reject(p *wire.Params, code wire.ErrorCode, err error) error {
	if p != nil && p.Flowscope.Has(wire.ExtTelemetry) {
		f := Finding{Severity: Critical, Kind: KindRejected, What: err.Error()}
		if b, e := wire.EncodeTelemetry(&wire.TelemetryMsg{Phase: "rejected", Findings: toWire([]Finding{f})}); e == nil {
			_, _ = t.w().Write(b)
		}
	}
	if p != nil {
		code = codeForClient(p.ClientVersion, code)
	}
	cause := CauseRejected
	if CauseOf(err) == CauseAuth {
		cause = CauseAuth
	}
	return t.fail(code, &Error{Cause: cause, Err: fmt.Errorf("refused: %w", err)})
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
	return &Error{Cause: CauseRateLimit, Err: fmt.Errorf("the test moved %.0f bit/s, above this server's limit of %d (--max-bitrate)", bps, g.limit)}
}
