package ui

import (
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// An engine without spans reports each finding when it is new or changed:
// the latest of each kind (per origin) is kept, from when it was first
// seen.
func TestFindingsWithoutSpansKeepLatestPerKind(t *testing.T) {
	r := newRun(engine.SideClient)
	r.addFindings([]engine.Finding{{Kind: "window-clamped", What: "w"}}, 0, true)
	r.addFindings([]engine.Finding{{Kind: "stalled", What: "1 of 8 streams stalled"}}, 3*time.Second, false)
	r.addFindings([]engine.Finding{{Kind: "backlog-small", What: "b"}, {Kind: "stalled", What: "8 of 8 streams stalled"}}, 4*time.Second, false)
	r.addFindings([]engine.Finding{{Kind: "stalled", What: "server: 2 of 8 streams stalled"}}, 5*time.Second, false)
	if len(r.findings) != 4 {
		t.Fatalf("%d findings, want 4: %+v", len(r.findings), r.findings)
	}
	f := r.findings
	if f[1].What != "8 of 8 streams stalled" || f[1].Span != (diagnose.Span{Start: 3 * time.Second}) {
		t.Errorf("the stall: %+v, want the latest words since 3 s", f[1])
	}
	if f[0].Span.String() != "at 0.0 s" || f[2].Kind != "backlog-small" || f[3].Origin != diagnose.OriginServer {
		t.Errorf("%+v", f)
	}
}

// An engine with spans sends an entry each time a finding starts, changes
// or ends: one line per span, current ones first, the ended one past with
// its span.
func TestFindingsTimeline(t *testing.T) {
	r := newRun(engine.SideClient)
	stall := func(what string, sp diagnose.Span) engine.Finding {
		return engine.Finding{Kind: diagnose.KindStalled, What: what, Direction: diagnose.DirUp, Severity: engine.Warning, Span: sp}
	}
	r.addFindings([]engine.Finding{stall("2 of 8 ↑ streams stalled", diagnose.Span{Start: 5100 * time.Millisecond})}, 6*time.Second, false)
	r.addFindings([]engine.Finding{stall("8 of 8 ↑ streams stalled", diagnose.Span{Start: 5100 * time.Millisecond})}, 7*time.Second, false)
	r.addFindings([]engine.Finding{stall("8 of 8 ↑ streams stalled", diagnose.Span{Start: 5100 * time.Millisecond, End: 8300 * time.Millisecond, Ended: true})}, 9*time.Second, false)
	r.addFindings([]engine.Finding{{Kind: "retransmits", What: "loss", Direction: diagnose.DirUp, Severity: engine.Info, Span: diagnose.Span{Start: 9 * time.Second}}}, 10*time.Second, false)
	tl := r.timeline()
	if len(tl) != 2 {
		t.Fatalf("%d entries, want 2: %+v", len(tl), tl)
	}
	if tl[0].Kind != "retransmits" || tl[1].Kind != diagnose.KindStalled {
		t.Errorf("order %q, %q: want the current one first", tl[0].Kind, tl[1].Kind)
	}
	past := labelled{f: tl[1], end: r.endedAt()}
	if !past.past() || past.headline() != "5.1–8.3 s: 8 of 8 ↑ streams stalled — recovered" {
		t.Errorf("past entry: %q", past.headline())
	}
	// Ended by the end of the test: it held, it did not recover.
	r.elapsed = 8.3
	r.end = &engine.End{}
	if lf := (labelled{f: tl[1], end: r.endedAt()}); lf.outcome() != "until the end" {
		t.Errorf("ended with the test: %q", lf.headline())
	}
}

// Medians, the problems filter and "vs median" are per direction: a slow
// ↓ link does not make every ↓ stream a problem against the ↑ rate.
func TestMedianPerDirection(t *testing.T) {
	st := testStart(engine.SideClient, 8, engine.TestParams{Bidir: true, Parallel: 4})
	r := newRun(engine.SideClient)
	r.onStart(st)
	r.apply(testSample(st, 0, func(i int) streamSpec {
		if i >= 4 { // ↓: a 4 Mbit/s link, one stream slower still
			return streamSpec{mbps: []float64{1, 1.1, 1.2, 0.3}[i-4]}
		}
		return streamSpec{mbps: 900 + float64(i)}
	}))
	if m := r.medianRate(engine.Recv); m != 1.1e6 {
		t.Errorf("↓ median %v, want 1.1 Mbit/s (the upper middle: a rate one of the streams has)", m)
	}
	if m := r.medianRate(engine.Send); m != 902e6 {
		t.Errorf("↑ median %v, want 902 Mbit/s", m)
	}
	r.updateOrder(listOrder{filter: true})
	var probs []int
	for i := 0; i < r.ord.count(r); i++ {
		probs = append(probs, r.streams[r.ord.at(i)].id)
	}
	if len(probs) != 1 || probs[0] != 9 {
		t.Errorf("problems %v, want only stream 9 (below half the ↓ median)", probs)
	}
}

// A stream is starting until a sample reports it; one that closes while
// stalled keeps its stall and reason.
func TestStreamStates(t *testing.T) {
	st := testStart(engine.SideClient, 2, engine.TestParams{})
	r := newRun(engine.SideClient)
	r.onStart(st)
	if got := stateText(&r.streams[0]); got != "starting" {
		t.Errorf("before the first sample: %q", got)
	}
	if c := mapClass(&r.streams[0], 0); c != mapIdle {
		t.Errorf("map class before the first sample %d", c)
	}
	reason := "retransmission timeouts: RTO 13.2 s, backoff 6 (the path is dropping everything)"
	r.apply(testSample(st, 0, func(i int) streamSpec {
		return streamSpec{state: engine.StateStalled, stalled: 3 * time.Second, reason: reason}
	}))
	r.apply(testSample(st, 1, func(i int) streamSpec { return streamSpec{state: engine.StateClosed} }))
	s := &r.streams[0]
	if !s.bad() || s.reason != reason || stateText(s) != "STALLED 3s to the end: retransmission timeouts" {
		t.Errorf("closed while stalled: %q, reason %q", stateText(s), s.reason)
	}
	if r.stalled != 2 {
		t.Errorf("header counts %d stalled, want 2", r.stalled)
	}
}

// A stream this side receives shows the sender's view from a flowscope
// peer; a UDP sender shows the receiver's loss live.
func TestPeerView(t *testing.T) {
	st := testStart(engine.SideClient, 1, engine.TestParams{Reverse: true})
	st.PeerFlowscope = true
	r := newRun(engine.SideClient)
	r.onStart(st)
	s := testSample(st, 0, uniform(100))
	s.Streams[0].State = engine.StateStalled
	s.Streams[0].Reason = "no data arriving: last data 2.0 s ago; the sender stopped or the path is down"
	s.Streams[0].Peer = &engine.PeerView{TCP: engine.TCPStats{Valid: true, Retransmits: 4, RTT: 1500, SndCwnd: 64 << 10},
		State: engine.StateStalled, Reason: "peer window 0: the receiver is not reading"}
	r.apply(s)
	got := r.streams[0]
	if v := rowValues(&got); v[colRetr] != "4" || v[colRTT] != fmtRTT(1500) || v[colCwnd] != fmtSize(64<<10) {
		t.Errorf("received stream's columns %q", v)
	}
	if got.reason != "peer window 0: the receiver is not reading" {
		t.Errorf("reason %q: want the sender kernel's", got.reason)
	}

	ust := testStart(engine.SideClient, 1, engine.TestParams{Protocol: "UDP"})
	ust.PeerFlowscope = true
	r = newRun(engine.SideClient)
	r.onStart(ust)
	us := testSample(ust, 0, func(int) streamSpec { return streamSpec{mbps: 10, udp: &engine.UDPStats{Packets: 590}} })
	us.Streams[0].Peer = &engine.PeerView{UDP: &engine.UDPStats{Packets: 348, Lost: 242, Jitter: 0.0004}}
	r.apply(us)
	if v := rowValues(&r.streams[0]); v[colRetr] != fmtPercent(100*242.0/590) || v[colRTT] != fmtJitter(0.0004) {
		t.Errorf("UDP sender's columns %q", v)
	}
	if r.udpLost != 242 || r.udpPackets != 348 {
		t.Errorf("header lost %d of %d", r.udpLost, r.udpPackets)
	}
}
