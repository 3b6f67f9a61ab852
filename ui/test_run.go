package ui

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// histLen is how many intervals each stream keeps for its sparkline and
// detail chart. All streams share one ring position because every Sample
// carries every stream.
const histLen = 240

// maxChartPoints bounds the SUM chart's history; older points are merged
// pairwise so a long test keeps its whole shape at a bounded cost.
const maxChartPoints = 2048

// stream is one data connection as the UI shows it.
type stream struct {
	id  int
	dir engine.Dir

	rate       float64 // bit/s in the last interval (delivered, see rateOf)
	bytes      uint64  // moved in the last interval (written or read)
	acked      uint64  // delivered in the last interval (senders with TCP_INFO)
	total      uint64
	retr       uint64 // retransmits over the measured test
	tcp        engine.TCPStats
	udp        engine.UDPStats // last interval, UDP streams
	hasUDP     bool
	lost       int64  // datagrams lost over the measured test (UDP receivers)
	packets    uint64 // datagrams over the measured test (UDP)
	state      engine.StreamState
	stalledFor time.Duration
	reason     string // why a stalled stream is stalled (engine diagnosis)
	err        string
	// sampled: a sample has reported the stream (until then it is
	// starting, not "ok" at 0 bit/s). endedStalled: it was stalled when
	// it closed, and keeps its last stall and reason as its evidence.
	sampled      bool
	endedStalled bool
	// peer is the other end's view of the stream (hasPeer: reported).
	peer    engine.PeerView // UDP unset: see peerUDP
	peerUDP engine.UDPStats // the receiver's last interval (UDP senders)
	hasPeer bool
	// hasPeerUDP: peerUDP holds a report.
	hasPeerUDP bool
	// peerPackets: datagrams the receiver got over the measured test (a
	// UDP sender's lost then counts the receiver's losses).
	peerPackets uint64

	local, remote net.Addr
	connect       time.Duration

	// ver counts data changes; the cached row below is valid while lineVer
	// and lineLayout match the stream's and the list's versions.
	ver        uint32
	line       string
	lineVer    uint32
	lineLayout uint32
}

// bad reports whether the stream is stalled or failed, or closed while
// stalled.
func (s *stream) bad() bool {
	return s.state == engine.StateStalled || s.state == engine.StateFailed || s.endedStalled
}

// running reports whether the stream is measured and moving (or trying
// to): it counts toward its direction's median.
func (s *stream) running() bool {
	return s.sampled && (s.state == engine.StateRunning || s.state == engine.StateStalled)
}

// problem reports whether the stream belongs in the "problems only"
// filter: stalled, failed, or below half the median rate of its own
// direction.
func (s *stream) problem(median float64) bool {
	switch {
	case s.bad():
		return true
	case s.sampled && s.state == engine.StateRunning:
		return median > 0 && s.rate < median/2
	}
	return false
}

// severity orders states for the state sort: worst first.
func (s *stream) severity() int {
	switch {
	case s.state == engine.StateFailed:
		return 4
	case s.state == engine.StateStalled || s.endedStalled:
		return 3
	}
	switch s.state {
	case engine.StateConnecting:
		return 2
	case engine.StateRunning:
		return 1
	}
	return 0
}

// chartPoint is one SUM chart sample: seconds since the test started and
// bit/s per direction.
type chartPoint struct {
	t          float64
	send, recv float64
}

// phase is the state a test is in, as the header shows it.
type phase int

const (
	phaseIdle       phase = iota // server: waiting for a client
	phaseConnecting              // control connection or data connections
	phaseRunning
	phaseFinishing // stop requested, waiting for the results
	phaseDone
	phaseFailed
)

// testRun is everything the UI knows about one test. A server starts a new
// one at each Start.
type testRun struct {
	id         uint64 // the server's test number
	side       engine.Side
	host       string
	port       int
	params     engine.TestParams
	hasParams  bool
	connected  int
	connTotal  int
	phase      phase
	failReason string
	stopped    bool // ended early by the user
	began      time.Time

	streams []stream
	byID    map[int]int
	anySend bool // some stream sends (and so has TCP_INFO)
	anyRecv bool // some stream this side receives
	// peerKnown: Start said whether the peer is flowscope (peerFS), so
	// whether the other end's view of the streams can arrive at all.
	peerKnown, peerFS bool
	// stateNeed is the widest STATE cell of a stalled or failed stream in
	// the last sample: the list keeps room for it (see layoutList).
	stateNeed int

	// hist holds histLen rates per stream (stream i at i*histLen); times
	// and imax hold each ring slot's interval end and largest stream rate.
	hist  []float32
	times [histLen]float32
	imax  [histLen]float32
	head  int // next ring slot
	n     int // filled ring slots
	seq   int // samples applied

	elapsed  float64 // seconds since the test started (incl. warm-up)
	moved    uint64  // bytes moved by all streams (progress of -n tests)
	omitting bool
	sumSend  float64
	sumRecv  float64
	hasSend  bool
	hasRecv  bool
	retr     uint64
	// UDP receivers: datagrams lost and received over the measured test.
	udpLost    int64
	udpPackets uint64
	stalled    int
	failed     int
	chart      []chartPoint

	// findings is the test's findings timeline, in order of arrival, one
	// entry per span (see addFindings); findVer counts its changes and
	// shown is it in display order (current first), built for findVer.
	findings []engine.Finding
	findVer  int
	shown    []engine.Finding
	shownVer int
	end      *engine.End

	ord streamOrder // the list's order of the streams
}

func newRun(side engine.Side) *testRun {
	return &testRun{side: side, phase: phaseConnecting, ord: newOrder(), shownVer: -1}
}

// total is the expected test length in seconds including any warm-up, or
// 0 when the test is byte-limited.
func (r *testRun) total() float64 {
	if !r.hasParams || r.params.Duration <= 0 {
		return 0
	}
	return (r.params.Omit + r.params.Duration).Seconds()
}

// onStart sets up the stream table.
func (r *testRun) onStart(s *engine.Start) {
	r.side, r.host, r.port = s.Side, s.Host, s.Port
	r.params, r.hasParams = s.Params, true
	r.peerKnown, r.peerFS = true, s.PeerFlowscope
	r.phase = phaseRunning
	r.began = s.Timestamp
	r.connected, r.connTotal = len(s.Streams), len(s.Streams)
	r.initStreams(len(s.Streams))
	for i, si := range s.Streams {
		st := &r.streams[i]
		st.id, st.dir, st.local, st.remote = si.ID, si.Dir, si.Local, si.Remote
		r.anySend = r.anySend || si.Dir == engine.Send
		r.anyRecv = r.anyRecv || si.Dir == engine.Recv
		st.state = engine.StateRunning
		if i < len(s.ConnectTimes) {
			st.connect = s.ConnectTimes[i]
		}
		r.byID[si.ID] = i
	}
	r.addFindings(s.Findings, 0, true)
}

func (r *testRun) initStreams(n int) {
	r.streams = make([]stream, n)
	r.byID = make(map[int]int, n)
	r.hist = make([]float32, n*histLen)
	r.head, r.n = 0, 0
	r.ord = newOrder()
}

// rateOf is a stream's rate in an interval of secs seconds: a sender's
// delivered (acknowledged) bytes when TCP_INFO has them, as the design asks,
// else the bytes moved.
func rateOf(ss *engine.StreamSample, secs float64) float64 {
	if !(secs > 0) {
		return 0
	}
	b := ss.Bytes
	if ss.Dir == engine.Send && ss.TCP.Valid {
		b = ss.Acked
	}
	return float64(b) * 8 / secs
}

// apply folds one Sample into the run: O(streams), no allocation once the
// table exists.
func (r *testRun) apply(s *engine.Sample) {
	if len(r.streams) != len(s.Streams) && (len(r.streams) == 0 || r.seq == 0) {
		// No Start (or a different stream set): build the table from the
		// sample itself.
		r.initStreams(len(s.Streams))
		for i := range s.Streams {
			r.streams[i].id, r.streams[i].dir = s.Streams[i].ID, s.Streams[i].Dir
			r.anySend = r.anySend || s.Streams[i].Dir == engine.Send
			r.anyRecv = r.anyRecv || s.Streams[i].Dir == engine.Recv
			r.byID[s.Streams[i].ID] = i
		}
	}
	if r.phase == phaseConnecting || r.phase == phaseIdle {
		r.phase = phaseRunning
	}
	secs := s.Seconds()
	pos := r.head
	var imax float32
	stalled, failed, need := 0, 0, 0
	var moved uint64
	var peerLost int64
	var peerPackets uint64
	for i := range s.Streams {
		ss := &s.Streams[i]
		moved += ss.Total
		idx := i
		if idx >= len(r.streams) || r.streams[idx].id != ss.ID {
			j, ok := r.byID[ss.ID]
			if !ok {
				continue
			}
			idx = j
		}
		st := &r.streams[idx]
		rate := rateOf(ss, secs)
		st.rate, st.bytes, st.acked, st.total = rate, ss.Bytes, ss.Acked, ss.Total
		if ss.TCP.Valid {
			st.tcp = ss.TCP
			if !s.Omitted {
				st.retr += ss.TCP.Retransmits
			}
		}
		if ss.UDP != nil {
			st.udp, st.hasUDP = *ss.UDP, true
			if !s.Omitted {
				st.lost += ss.UDP.Lost
				st.packets += ss.UDP.Packets
			}
		}
		st.applyPeer(ss.Peer, s.Omitted)
		if ss.Peer != nil && ss.Peer.UDP != nil && ss.Dir == engine.Send && !s.Omitted {
			peerLost += ss.Peer.UDP.Lost
			peerPackets += ss.Peer.UDP.Packets
		}
		st.applyState(ss)
		st.sampled = true
		st.ver++
		switch {
		case st.state == engine.StateStalled || st.endedStalled:
			stalled++
		case st.state == engine.StateFailed:
			failed++
		}
		if st.bad() {
			need = max(need, stateWidth(st))
		}
		f := float32(rate)
		r.hist[idx*histLen+pos] = f
		imax = max(imax, f)
	}
	r.stateNeed = need
	r.stalled, r.failed = stalled, failed
	r.moved = moved

	// Time since the test started: after a warm-up the engine measures
	// from the end of the omit period.
	t := s.End.Seconds()
	if !s.Omitted && r.hasParams {
		t += r.params.Omit.Seconds()
	}
	r.elapsed, r.omitting = t, s.Omitted
	r.times[pos], r.imax[pos] = float32(t), imax
	r.head = (pos + 1) % histLen
	r.n = min(r.n+1, histLen)
	r.seq++

	r.hasSend, r.hasRecv = s.Sent.Streams > 0, s.Received.Streams > 0
	r.sumSend, r.sumRecv = 0, 0
	if secs > 0 {
		sb := s.Sent.Bytes
		if s.Sent.HasTCP {
			sb = s.Sent.Acked
		}
		r.sumSend = float64(sb) * 8 / secs
		r.sumRecv = float64(s.Received.Bytes) * 8 / secs
	}
	if !s.Omitted {
		r.retr += s.Sent.Retransmits
		if u := s.Received.UDP; u != nil {
			r.udpLost += u.Lost
			r.udpPackets += u.Packets
		}
		// A UDP sender learns its loss from a flowscope receiver.
		r.udpLost += peerLost
		r.udpPackets += peerPackets
	}
	r.addChart(chartPoint{t: t, send: r.sumSend, recv: r.sumRecv})
	r.addFindings(s.Findings, time.Duration(t*float64(time.Second)), false)
}

// applyState takes a sample's state and reason for the stream. A stream
// that closes or fails while stalled keeps its last stall (how long, and
// why) as its evidence instead of turning into a plain "closed". For a
// stream this side receives, the sender's reason (from a flowscope peer)
// is the stronger one: the sender's kernel knows why it is not sending.
func (st *stream) applyState(ss *engine.StreamSample) {
	reason := ss.Reason
	if p := ss.Peer; p != nil && p.Reason != "" && (reason == "" || ss.Dir == engine.Recv) {
		reason = p.Reason
	}
	ended := ss.State == engine.StateClosed || ss.State == engine.StateFailed
	if ended && (st.state == engine.StateStalled || st.endedStalled) {
		st.endedStalled = true
		st.state, st.err = ss.State, ss.Err
		if reason != "" {
			st.reason = reason
		}
		return
	}
	st.endedStalled = false
	st.state, st.stalledFor, st.reason, st.err = ss.State, ss.StalledFor, reason, ss.Err
}

// applyPeer keeps the other end's view of the stream from a sample (p nil:
// none this interval; the last one stays).
func (st *stream) applyPeer(p *engine.PeerView, omitted bool) {
	if p == nil {
		return
	}
	st.peer, st.hasPeer = *p, true
	st.peer.UDP = nil
	if p.TCP.Valid && st.dir == engine.Recv && !omitted {
		st.retr += p.TCP.Retransmits
	}
	if p.UDP != nil {
		st.peerUDP, st.hasPeerUDP = *p.UDP, true
		if st.dir == engine.Send && !omitted {
			st.lost += p.UDP.Lost
			st.peerPackets += p.UDP.Packets
		}
	}
}

// addChart appends a SUM point, halving the history when it is full.
func (r *testRun) addChart(p chartPoint) {
	if len(r.chart) >= maxChartPoints {
		h := r.chart[:0]
		for i := 0; i+1 < len(r.chart); i += 2 {
			a, b := r.chart[i], r.chart[i+1]
			h = append(h, chartPoint{t: b.t, send: (a.send + b.send) / 2, recv: (a.recv + b.recv) / 2})
		}
		r.chart = h
	}
	r.chart = append(r.chart, p)
}

// addFindings folds findings reported at now (since the test started)
// into the timeline. An engine that reports spans sends an entry each time
// a finding starts, changes or ends: the entry with the same kind,
// direction, origin and start is updated (diagnose.Merge), so a stall that
// grows from 1 to 8 streams is one line. A finding without a span (an
// engine that reports each finding once, when it is new or changed) takes
// the place of the last one of its kind, direction and origin and keeps its
// start; its start is when it was first reported, an instant at 0 for
// those made before data flowed (setup, true).
func (r *testRun) addFindings(fs []engine.Finding, now time.Duration, setup bool) {
	for _, f := range fs {
		if f.Origin == "" && strings.HasPrefix(f.What, "server: ") {
			// an old recording: the origin was a prefix of the text
			f.Origin, f.What = diagnose.OriginServer, strings.TrimPrefix(f.What, "server: ")
		}
		if f.Span != (diagnose.Span{}) {
			r.findings = diagnose.Merge(r.findings, f)
			r.findVer++
			continue
		}
		if i := r.lastOfKind(f); i >= 0 {
			f.Span = r.findings[i].Span
			r.findings[i] = f
		} else {
			f.Span = diagnose.Span{Start: now}
			if setup {
				f.Span.End, f.Span.Ended = now, true
			}
			r.findings = append(r.findings, f)
		}
		r.findVer++
	}
}

// lastOfKind is the index of the latest finding of f's kind, direction
// and origin, or -1.
func (r *testRun) lastOfKind(f engine.Finding) int {
	for i := len(r.findings) - 1; i >= 0; i-- {
		g := &r.findings[i]
		if g.Kind == f.Kind && g.Direction == f.Direction && g.Origin == f.Origin {
			return i
		}
	}
	return -1
}

// findingDir is the direction findings name for this side's streams of
// direction d: findings name directions from the client's point of view.
func (r *testRun) findingDir(d engine.Dir) diagnose.Direction {
	if (d == engine.Send) == (r.side == engine.SideClient) {
		return diagnose.DirUp
	}
	return diagnose.DirDown
}

// timeline is the findings in display order: those that still hold first
// (the most severe first), then the past ones, the most recent first.
func (r *testRun) timeline() []engine.Finding {
	if r.shownVer != r.findVer {
		r.shown = append(r.shown[:0], r.findings...)
		diagnose.CurrentFirst(r.shown)
		r.shownVer = r.findVer
	}
	return r.shown
}

// endedAt is the time the test ended at, since its start, or -1 while it
// runs: a finding that ended then held to the end rather than recovered.
func (r *testRun) endedAt() time.Duration {
	if r.end == nil {
		return -1
	}
	return time.Duration(r.elapsed * float64(time.Second))
}

// history copies stream idx's last n rates, oldest first, into dst.
func (r *testRun) history(idx, n int, dst []float32) []float32 {
	n = min(n, r.n)
	dst = dst[:0]
	base := idx * histLen
	for k := n; k > 0; k-- {
		dst = append(dst, r.hist[base+(r.head-k+histLen)%histLen])
	}
	return dst
}

// sharedMax is the largest stream rate in the last n intervals: one scale
// for every sparkline, so rows compare at a glance.
func (r *testRun) sharedMax(n int) float64 {
	n = min(n, r.n)
	var m float32
	for k := 1; k <= n; k++ {
		m = max(m, r.imax[(r.head-k+histLen)%histLen])
	}
	return float64(m)
}

// sumNow is the current SUM in the test's main direction (both added in a
// bidir test).
func (r *testRun) sumNow() float64 { return r.sumSend + r.sumRecv }

// protocol is the test's protocol's name ("TCP" until Start says).
func (r *testRun) protocol() string {
	if r.params.Protocol == "" {
		return "TCP"
	}
	return string(r.params.Protocol)
}

// udp reports whether the test is a UDP test.
func (r *testRun) udp() bool { return r.hasParams && r.params.Protocol == "UDP" }

// streamOrder is a run's streams in the list's order, cached until the
// data or the order settings change.
type streamOrder struct {
	idx        []int32 // the order when not identity
	identity   bool
	key        [5]int
	median     [2]float64 // by engine.Dir
	medianSeq  int
	medScratch []float64
}

func newOrder() streamOrder { return streamOrder{identity: true, key: [5]int{-1}, medianSeq: -1} }

func (o *streamOrder) count(r *testRun) int {
	if o.identity {
		return len(r.streams)
	}
	return len(o.idx)
}

func (o *streamOrder) at(i int) int {
	if o.identity {
		return i
	}
	return int(o.idx[i])
}

// medianRate is the median rate of the measured streams of direction d
// that are running or stalled, computed once per sample. Each direction
// has its own: a slow ↓ link does not make every ↓ stream slow against
// the ↑ streams' rate. It is the rate of a stream (the upper middle one of
// an even count), never an average no stream has.
func (r *testRun) medianRate(d engine.Dir) float64 {
	o := &r.ord
	if o.medianSeq != r.seq {
		o.medianSeq = r.seq
		for dir := range o.median {
			v := o.medScratch[:0]
			for i := range r.streams {
				if s := &r.streams[i]; s.dir == engine.Dir(dir) && s.running() {
					v = append(v, s.rate)
				}
			}
			o.medScratch = v
			o.median[dir] = 0
			if len(v) > 0 {
				slices.Sort(v)
				o.median[dir] = v[len(v)/2]
			}
		}
	}
	return o.median[d]
}

// updateOrder re-sorts and re-filters the run's streams when the data or
// the order settings changed since the last time.
func (r *testRun) updateOrder(lo listOrder) {
	o := &r.ord
	key := [5]int{r.seq, int(lo.sort), b2i(lo.reverse), b2i(lo.filter), len(r.streams)}
	if key == o.key {
		return
	}
	o.key = key
	if lo.sort == sortID && !lo.reverse && !lo.filter {
		o.identity = true
		return
	}
	o.identity = false
	o.idx = o.idx[:0]
	var med [2]float64
	if lo.filter {
		med = [2]float64{r.medianRate(engine.Send), r.medianRate(engine.Recv)}
	}
	for i := range r.streams {
		if !lo.filter || r.streams[i].problem(med[r.streams[i].dir]) {
			o.idx = append(o.idx, int32(i))
		}
	}
	slices.SortFunc(o.idx, streamCmp(r.streams, lo))
}

// streamCmp compares two streams (by index) in the order lo asks for;
// ties go by id.
func streamCmp(ss []stream, lo listOrder) func(a, b int32) int {
	rev := lo.reverse
	// by orders on one number: ascending (the slowest rate first) or
	// descending (the most retransmits first), turned round by r.
	by := func(f func(*stream) float64, ascending bool) func(a, b int32) int {
		if rev {
			ascending = !ascending
		}
		return func(a, b int32) int {
			x, y := f(&ss[a]), f(&ss[b])
			if !ascending {
				x, y = y, x
			}
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return ss[a].id - ss[b].id
		}
	}
	switch lo.sort {
	case sortRate:
		return by(func(s *stream) float64 { return s.rate }, true)
	case sortRetr:
		return by(func(s *stream) float64 { return float64(s.retr) }, false)
	case sortState:
		return func(a, b int32) int {
			x, y := ss[a].severity(), ss[b].severity()
			if rev {
				x, y = y, x
			}
			if x != y {
				return y - x
			}
			if d := ss[b].stalledFor - ss[a].stalledFor; d != 0 && !rev {
				if d > 0 {
					return 1
				}
				return -1
			}
			return ss[a].id - ss[b].id
		}
	}
	return func(a, b int32) int {
		if rev {
			return ss[b].id - ss[a].id
		}
		return ss[a].id - ss[b].id
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
