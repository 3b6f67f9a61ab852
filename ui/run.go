package ui

import (
	"net"
	"strings"
	"time"

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

	local, remote net.Addr
	connect       time.Duration

	// ver counts data changes; the cached row below is valid while lineVer
	// and lineLayout match the stream's and the list's versions.
	ver        uint32
	line       string
	lineVer    uint32
	lineLayout uint32
}

// problem reports whether the stream belongs in the "problems only"
// filter: stalled, failed, or below half the median rate.
func (s *stream) problem(median float64) bool {
	switch s.state {
	case engine.StateStalled, engine.StateFailed:
		return true
	case engine.StateRunning:
		return median > 0 && s.rate < median/2
	}
	return false
}

// severity orders states for the state sort: worst first.
func (s *stream) severity() int {
	switch s.state {
	case engine.StateFailed:
		return 4
	case engine.StateStalled:
		return 3
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

	findings []engine.Finding
	seen     map[string]int // finding key → index in findings
	end      *engine.End

	ord streamOrder // the list's order of the streams
}

func newRun(side engine.Side) *testRun {
	return &testRun{side: side, phase: phaseConnecting, seen: map[string]int{}, ord: newOrder()}
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
	r.phase = phaseRunning
	r.began = s.Timestamp
	r.connected, r.connTotal = len(s.Streams), len(s.Streams)
	r.initStreams(len(s.Streams))
	for i, si := range s.Streams {
		st := &r.streams[i]
		st.id, st.dir, st.local, st.remote = si.ID, si.Dir, si.Local, si.Remote
		r.anySend = r.anySend || si.Dir == engine.Send
		st.state = engine.StateRunning
		if i < len(s.ConnectTimes) {
			st.connect = s.ConnectTimes[i]
		}
		r.byID[si.ID] = i
	}
	r.addFindings(s.Findings)
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
			r.byID[s.Streams[i].ID] = i
		}
	}
	if r.phase == phaseConnecting || r.phase == phaseIdle {
		r.phase = phaseRunning
	}
	secs := s.Seconds()
	pos := r.head
	var imax float32
	stalled, failed := 0, 0
	var moved uint64
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
		st.state, st.stalledFor, st.reason, st.err = ss.State, ss.StalledFor, ss.Reason, ss.Err
		st.ver++
		switch ss.State {
		case engine.StateStalled:
			stalled++
		case engine.StateFailed:
			failed++
		}
		f := float32(rate)
		r.hist[idx*histLen+pos] = f
		imax = max(imax, f)
	}
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
	}
	r.addChart(chartPoint{t: t, send: r.sumSend, recv: r.sumRecv})
	r.addFindings(s.Findings)
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

// addFindings keeps each distinct finding once, in arrival order.
// addFindings keeps the latest finding of each kind (per side: the
// server's findings start with "server: "), in order of first appearance,
// so a stall that grows from 1 to 8 streams is one line, not two.
func (r *testRun) addFindings(fs []engine.Finding) {
	for _, f := range fs {
		k := f.Kind
		if strings.HasPrefix(f.What, "server: ") {
			k += "\x00server"
		}
		if i, ok := r.seen[k]; ok {
			r.findings[i] = f
			continue
		}
		r.seen[k] = len(r.findings)
		r.findings = append(r.findings, f)
	}
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

// udp reports whether the test is a UDP test.
func (r *testRun) udp() bool { return r.hasParams && r.params.Protocol == "UDP" }
