package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// controlWriteTimeout bounds every write on a control connection once the
// test is set up (telemetry included): a peer that stops reading cannot
// block a test for longer.
const controlWriteTimeout = 5 * time.Second

// session is one test's conversation on its control connection, and the
// steps both roles share: the agreed parameters and extensions, control
// writes (with deadlines, one at a time), telemetry, the test's flows and
// sampler, the Start and End events, the drain at the end and the results
// exchange. Client and serverTest drive it; what differs by transport is
// behind transport.
type session struct {
	side   Side
	test   uint64 // the server's number for the test; 0 on a client
	ctl    *net.TCPConn
	br     *bufio.Reader
	cookie string
	emit   func(Event)

	params   Params
	ext      *wire.Extensions // the agreed extensions; nil with a stock peer
	tr       transport
	findings *findingLog

	ctlMu     sync.Mutex // serialises control writes once the sampler runs
	ctlClosed bool       // no more telemetry: the results exchange began
	// telemetry: this side sends telemetry (a server whose client agreed).
	telemetry bool
	// beforeTelemetry adds this side's live readings to a telemetry
	// message (the server's accept queue); may be nil.
	beforeTelemetry func(*wire.TelemetryMsg)

	flows flowSet
	smp   *sampler
	cpu   cpuClock
	t0    time.Time
	// ended is when the test ended (its -t, -n, or TEST_END): stopping
	// the flows afterwards takes no part in its seconds.
	ended      time.Time
	congestion string

	// roles: how the roles of a TCP --bidir test facing a stock peer
	// were taken (see takeRoles); nil otherwise. roleSlack is what the
	// peer sent on every data connection before the test (checkRoles).
	roles     *RoleDetection
	roleSlack uint64
}

func newSession(side Side, ctl *net.TCPConn, emit func(Event)) *session {
	return &session{side: side, ctl: ctl, br: wire.NewReader(ctl), emit: emit, findings: newFindingLog(side.Origin())}
}

// w is the control connection for writing: every write has a deadline
// and writes do not interleave.
func (s *session) w() ctlWriter { return ctlWriter{s} }

type ctlWriter struct{ s *session }

func (w ctlWriter) Write(b []byte) (int, error) {
	w.s.ctlMu.Lock()
	defer w.s.ctlMu.Unlock()
	_ = w.s.ctl.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	return w.s.ctl.Write(b)
}

// writeState sends one state byte.
func (s *session) writeState(st wire.State) error { return wire.WriteState(s.w(), st) }

// agree sets the protocol both sides speak: the parameters and, from a
// flowscope peer, the extensions both support.
func (s *session) agree(p Params, ext *wire.Extensions) {
	s.params, s.ext = p, ext
	s.tr = transportFor(p.Protocol)
}

// agreedExtensions are the extensions of ours that a client offered; nil
// for a stock client.
func agreedExtensions(offer *wire.Extensions) *wire.Extensions {
	if offer == nil {
		return nil
	}
	ext := &wire.Extensions{Version: Version}
	for _, x := range ourExtensions {
		if offer.Has(x) {
			ext.Extensions = append(ext.Extensions, x)
		}
	}
	return ext
}

// sendTelemetry sends a telemetry message when this side sends telemetry
// and the results exchange has not begun. A write that fails (a peer that
// stopped reading, past the deadline) closes the control connection: the
// stream of control messages is broken, and the test ends.
func (s *session) sendTelemetry(m *wire.TelemetryMsg) {
	if !s.telemetry {
		return
	}
	if s.beforeTelemetry != nil {
		s.beforeTelemetry(m)
	}
	b, err := wire.EncodeTelemetry(m)
	if err != nil {
		return
	}
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if s.ctlClosed {
		return
	}
	_ = s.ctl.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	if _, err := s.ctl.Write(b); err != nil {
		s.ctlClosed = true
		_ = s.ctl.Close()
	}
}

// closeTelemetry stops telemetry before the control connection moves on to
// the results (or an error), so nothing interleaves with them.
func (s *session) closeTelemetry() {
	s.ctlMu.Lock()
	s.ctlClosed = true
	s.ctlMu.Unlock()
}

// announce emits Start for the flows, now that every data connection is
// up.
func (s *session) announce(host string, port int, connectTimes []time.Duration) {
	start := &Start{
		Side:          s.side,
		Test:          s.test,
		Version:       Version,
		PeerFlowscope: s.ext != nil,
		Cookie:        s.cookie,
		Host:          host,
		Port:          port,
		Params:        s.params,
		Timestamp:     time.Now(),
		MSS:           mss(mustRaw(s.ctl)),
		ConnectTimes:  connectTimes,
		Findings:      s.findings.take(),
		Roles:         s.roles,
	}
	s.congestion = s.flows.describe(start)
	s.emit(start)
}

// startFlows starts the sampler's clock and every flow. emit receives the
// samples; limit ends the test at a byte count (nil: none); tune, if not
// nil, sets up the sampler further before it starts.
func (s *session) startFlows(stallWin time.Duration, limit *byteLimit, emit func(Event), tune func(*sampler)) error {
	p := &s.params
	s.smp = newSampler(s.side, s.flows, *p, stallWin, emit)
	s.smp.findings = s.findings
	s.smp.test = s.test
	if tune != nil {
		tune(s.smp)
	}
	s.cpu = readCPU()
	t0 := time.Now()
	if p.Duration > 0 {
		s.flows.sendUntil(t0.Add(p.Omit + p.Duration))
	}
	if err := s.flows.start(newPayload(p.BlockSize, p.RepeatingPayload), p.BlockSize, limit, p.ZeroCopy, p.SkipRxCopy); err != nil {
		return err
	}
	s.t0 = t0
	s.smp.begin(t0)
	return nil
}

// timeUp is when a timed test's time is up (start, -O and -t); zero for a
// test that ends at a byte or block count.
func (s *session) timeUp() time.Time {
	if s.params.Duration <= 0 || s.t0.IsZero() {
		return time.Time{}
	}
	return s.t0.Add(s.params.Omit + s.params.Duration)
}

// end takes the final sample and returns this side's End. The flows must
// have stopped, or be closed, before.
func (s *session) end() *End {
	e := &End{Side: s.side, Test: s.test, Congestion: s.congestion}
	if s.smp == nil || s.t0.IsZero() {
		return e
	}
	at := time.Now()
	if !s.ended.IsZero() {
		at = s.ended
	}
	s.smp.finish(at)
	e.Seconds = s.smp.measuredSeconds()
	e.LocalCPU = s.cpu.since()
	e.Streams = localResults(s.flows, e.Seconds)
	return e
}

// abort ends a test that failed: telemetry stops, every flow is closed,
// and what was measured is returned.
func (s *session) abort() *End {
	s.closeTelemetry()
	s.flows.closeAll()
	return s.end()
}

// drains reports whether receivers read to EOF after the senders stop, so
// that receiver totals equal sender totals exactly: the transport must
// allow it and the peer must have agreed.
func (s *session) drains() bool { return s.tr.drains() && s.ext.Has(wire.ExtDrain) }

// stopSenders stops every sender; when the test drains, their write sides
// are shut down so that the receivers see EOF after the last byte. The
// test ended now, or at its time when this runs late and this side only
// sends: the interval ticks stop, and the final sample will end there
// however long the flows take to stop. A client's senders to a stock
// server finish their block; a server's to a stock client, which stopped
// reading at TEST_END, are cut at once.
func (s *session) stopSenders() {
	s.ended = time.Now()
	if up := s.timeUp(); !up.IsZero() && s.ended.After(up) && s.onlySends() {
		// Late here (a machine short of CPU): the senders sent nothing
		// after the test's time (sendUntil), so that is when it ended.
		s.ended = up
	}
	if s.smp != nil && !s.t0.IsZero() {
		s.smp.halt()
	}
	s.flows.stopSenders(s.drains(), s.side == SideClient)
}

// onlySends reports whether every flow of this side sends: then none
// counts anything after the test's time.
func (s *session) onlySends() bool {
	for _, f := range s.flows {
		if f.dir != Send {
			return false
		}
	}
	return len(s.flows) > 0
}

// drainReceivers waits (within drainTimeout) for the receivers to read to
// EOF, when the test drains.
func (s *session) drainReceivers() {
	if s.drains() {
		timeout := time.NewTimer(drainTimeout)
		s.flows.waitReceivers(timeout.C)
		timeout.Stop()
	}
}

// sendResults sends this side's results (EXCHANGE_RESULTS).
func (s *session) sendResults(wr *wire.Results) error {
	res, err := wr.Marshal()
	if err != nil {
		return err
	}
	if err := wire.WriteMessage(s.w(), res); err != nil {
		return fmt.Errorf("send results: %w", err)
	}
	return nil
}

// readResults reads the peer's results and adds them to end.
func (s *session) readResults(end *End) (*wire.Results, error) {
	msg, err := wire.ReadMessage(s.br, wire.MaxResultsSize)
	if err != nil {
		return nil, fmt.Errorf("read %v results: %w", s.side.peer(), describeCtlErr(err))
	}
	peer, err := wire.UnmarshalResults(msg)
	if err != nil {
		return nil, &Error{Cause: CauseProtocol, Err: err}
	}
	if err := mergePeer(end, peer); err != nil {
		return nil, &Error{Cause: CauseProtocol, Err: err}
	}
	return peer, nil
}

// peer is the other side.
func (s Side) peer() Side { return 1 - s }

// stallGuard ends a test in which no stream has moved a byte for a while
// (the stall timeout), with a finding that says why.
type stallGuard struct {
	watch   *stallWatch
	timeout time.Duration
	every   time.Duration
	// end is a timed test's end (zero for -n, -k): after it the senders
	// stop on their own, so a stream that does not move is not stalled.
	end time.Time
}

func newStallGuard(s *session, timeout time.Duration) *stallGuard {
	every := watchPeriod(timeout)
	if timeout <= 0 {
		every = watchPeriod(time.Second)
	}
	return &stallGuard{watch: newStallWatch(s.flows, s.t0), timeout: timeout, every: every, end: s.timeUp()}
}

// check returns the stall error once no stream has moved for the timeout,
// adding the finding to findings; nil before, after a timed test's end,
// and always with no timeout.
func (g *stallGuard) check(now time.Time, findings *findingLog) error {
	if !g.end.IsZero() && !now.Before(g.end) {
		return nil
	}
	if g.timeout <= 0 || !stalledLongEnough(g.watch.check(now), g.timeout, g.every) {
		return nil
	}
	reason := g.watch.reason()
	findings.add(diagnose.AllStalled(len(g.watch.flows), g.timeout, reason))
	return &Error{Cause: CauseStalled, Err: fmt.Errorf("no stream moved a byte for %s (%s)", g.timeout, reason)}
}

// abortOnCancel makes a blocked setup step return when ctx is cancelled,
// until the returned func is called.
func abortOnCancel(ctx context.Context, ctl *net.TCPConn) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-ctx.Done():
			_ = ctl.SetDeadline(time.Now())
		case <-done:
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}
