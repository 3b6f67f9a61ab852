package ui

import (
	"strconv"
	"strings"

	"github.com/flowscope/flowscope/engine"
)

// titleLine is the header's first line for this test: head (who the test
// is with, as the screen's owner names it), the protocol, the streams and
// their direction, and the SUM (the average once the test ended). Narrow
// terminals lose the protocol, then the direction's word, before anything
// is cut.
func (ts *testScreen) titleLine(head string) string {
	r := ts.run
	return ts.fit(3, func(compact int) string {
		var a strings.Builder
		a.WriteString(head)
		if r.hasParams {
			if compact == 0 {
				a.WriteString("  " + r.protocol())
			}
			dir := dirLabel(r)
			if compact == 2 {
				dir, _, _ = strings.Cut(dir, " ")
			}
			a.WriteString("  " + strconv.Itoa(len(r.streams)) + " flows " + dir)
		}
		if r.end != nil && r.end.Seconds > 0 {
			a.WriteString("  avg ")
			ts.st.accent.to(&a, bothRates(endRates(r.end)))
		} else if r.seq > 0 {
			a.WriteString("  SUM ")
			ts.st.accent.to(&a, ts.sumLabel())
		}
		return a.String()
	})
}

// stateLine is the header's second line: the test's state (doneNote
// follows "done": what happens next, as the owner knows), its progress,
// counters and the list's order.
func (ts *testScreen) stateLine(doneNote string) string {
	st, r := ts.st, ts.run
	ts.updateOrder()
	var b strings.Builder
	b.WriteByte(' ')
	b.WriteString(ts.stateLabel(doneNote))
	if r.seq > 0 || r.hasParams {
		b.WriteString("  ")
		ts.progressTo(&b, r.progress())
	}
	if (ts.view == viewList || ts.view == viewMap) && len(r.streams) > 0 {
		b.WriteString("  ")
		st.dim.to(&b, "sort: "+ts.order.label())
		if ts.order.filter {
			b.WriteString("  ")
			st.warn.to(&b, "filter: problems ("+strconv.Itoa(ts.count())+")")
		}
	}
	ts.pausedTo(&b)
	return b.String()
}

// stateLabel is the test's state, coloured.
func (ts *testScreen) stateLabel(doneNote string) string {
	st, r := ts.st, ts.run
	switch r.phase {
	case phaseConnecting:
		if r.connected > 0 || r.connTotal > 0 && r.side == engine.SideServer {
			return st.warn.wrap("▸ connecting " + strconv.Itoa(r.connected) + "/" + strconv.Itoa(r.connTotal))
		}
		if r.connTotal > 0 {
			return st.warn.wrap("▸ connecting 0/" + strconv.Itoa(r.connTotal))
		}
		return st.warn.wrap("▸ connecting")
	case phaseRunning:
		if r.omitting {
			return st.ok.wrap("▸ running (warm-up, omitted)")
		}
		return st.ok.wrap("▸ running")
	case phaseFinishing:
		return st.warn.wrap("▸ finishing: stopping the test, waiting for results (q again: quit now)")
	case phaseDone:
		msg := "▸ done"
		if r.stopped {
			msg += " (stopped early)"
		}
		return st.ok.wrap(msg) + st.dim.wrap(doneNote)
	case phaseFailed:
		return st.bad.wrap("▸ failed: " + r.failReason)
	}
	return st.dim.wrap("▸ waiting for a client")
}

// progress is what a header's state line counts, for one test or a
// fleet's tests together.
type progress struct {
	elapsed, total float64 // seconds; total 0: not a timed test
	moved, goal    uint64  // bytes; goal > 0: a byte-limited test (-n)
	udp            bool
	udpLost        int64
	udpPackets     uint64
	retr           uint64
	showRetr       bool // senders of a TCP test reported
	stalled        int
	failed         int
}

// progress is the run's counters for the header.
func (r *testRun) progress() progress {
	p := progress{elapsed: r.elapsed, total: r.total(), moved: r.moved, udp: r.udp(),
		udpLost: r.udpLost, udpPackets: r.udpPackets, retr: r.retr,
		showRetr: r.seq > 0 && r.hasSend, stalled: r.stalled, failed: r.failed}
	if r.hasParams && r.params.Bytes > 0 {
		p.goal = uint64(r.params.Bytes)
	}
	return p
}

// progressTo writes the progress bar and the counters.
func (e *env) progressTo(b *strings.Builder, p progress) {
	switch {
	case p.total > 0:
		e.bar(b, p.elapsed/p.total)
		b.WriteString(" " + fmtSeconds(p.elapsed) + "/" + fmtSeconds(p.total) + " s")
	case p.goal > 0:
		// -n: progress is bytes.
		e.bar(b, float64(p.moved)/float64(p.goal))
		b.WriteString(" " + fmtBytes(p.moved) + "/" + fmtBytes(p.goal) + " · " + fmtSeconds(p.elapsed) + " s")
	default:
		b.WriteString(fmtSeconds(p.elapsed) + " s")
	}
	switch {
	case p.udp && p.udpPackets+uint64(max(p.udpLost, 0)) > 0:
		u := engine.UDPStats{Packets: p.udpPackets, Lost: p.udpLost}
		b.WriteString("  lost " + strconv.FormatInt(p.udpLost, 10) + " (" + fmtPercent(u.LostPercent()) + ")")
	case p.showRetr && !p.udp:
		b.WriteString("  retr " + strconv.FormatUint(p.retr, 10))
	}
	if p.stalled > 0 {
		b.WriteString("  ")
		e.st.stalledTag.to(b, " "+strconv.Itoa(p.stalled)+" STALLED ")
	}
	if p.failed > 0 {
		b.WriteString("  ")
		e.st.bad.to(b, strconv.Itoa(p.failed)+" failed")
	}
}

func hostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + strconv.Itoa(p)
	}
	return h + ":" + strconv.Itoa(p)
}

// dirLabel is run r's direction from this side: ↑ this side sends,
// ↓ it receives, ↑↓ both.
func dirLabel(r *testRun) string {
	if r.params.Bidir {
		return "↑↓ bidir"
	}
	send := r.params.Reverse == (r.side == engine.SideServer)
	if send {
		return "↑ send"
	}
	return "↓ receive"
}

// sumLabel is the current SUM: one rate, or both directions in bidir.
func (ts *testScreen) sumLabel() string {
	r := ts.run
	if r.hasSend && r.hasRecv {
		return "↑ " + fmtRate(r.sumSend) + " ↓ " + fmtRate(r.sumRecv)
	}
	return fmtRate(r.sumNow())
}

// bothRates is one rate, or both directions when both moved.
func bothRates(send, recv float64) string {
	switch {
	case send > 0 && recv > 0:
		return "↑ " + fmtRate(send) + " ↓ " + fmtRate(recv)
	case recv > 0:
		return fmtRate(recv)
	}
	return fmtRate(send)
}

// endRates is the average rate this side sent and received over a test,
// from its results.
func endRates(e *engine.End) (send, recv float64) {
	if e == nil || !(e.Seconds > 0) {
		return 0, 0
	}
	var sent, got uint64
	for _, s := range e.Streams {
		if s.Dir == engine.Send {
			sent += s.Bytes
		} else {
			got += s.Bytes
		}
	}
	return float64(sent) * 8 / e.Seconds, float64(got) * 8 / e.Seconds
}
