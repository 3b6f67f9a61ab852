package ui

import (
	"slices"
	"strconv"
	"strings"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// vlayout is the vertical split of the list screen.
type vlayout struct {
	header, chart, listHead, rows, findings, history, footer int
}

// layoutScreen splits height rows between the parts of the list screen:
// the chart takes about a quarter, the findings pane and the server's
// history a few lines each, the stream list the rest. It is pure so tests
// can check the arithmetic at any size.
func layoutScreen(height, header, findings, history, footer int) vlayout {
	v := vlayout{header: header, listHead: 1, footer: footer}
	v.chart = min(max(height/4, 5), 14) + 2 // + the box's borders
	if findings > 0 {
		v.findings = min(findings, 5)
		if height < 30 {
			v.findings = min(v.findings, 3)
		}
	}
	if history > 0 {
		v.history = min(history, 4)
		if height < 30 {
			v.history = min(v.history, 2)
		}
	}
	rest := func() int {
		return height - v.header - v.chart - v.listHead - v.findings - v.history - v.footer
	}
	// Keep at least three stream rows: shrink the chart, then drop it.
	for rest() < 3 && v.chart > 6 {
		v.chart--
	}
	if rest() < 3 {
		v.chart = 0
	}
	for rest() < 3 && v.history > 0 {
		v.history--
	}
	for rest() < 3 && v.findings > 0 {
		v.findings--
	}
	v.rows = max(rest(), 0)
	return v
}

// pane is lines a screen's owner shows under a test's list (the server's
// history): want lines at most; draw gets the height it was given.
type pane struct {
	want int
	draw func(h int) []string
}

// body is the screen below the header, h lines at most: the view the user
// is on. The list view adds below under the findings.
func (ts *testScreen) body(h int, below pane) []string {
	r := ts.run
	ts.rc.layout(ts.env, len(r.streams) > 0, r.udp(), r.stateNeed)
	ts.updateOrder()
	switch ts.view {
	case viewDetail:
		return ts.detailView(h)
	case viewMap:
		return ts.mapView(h)
	case viewFindings:
		return ts.findingsView(h, ts.findings(), &ts.findOff, ts.peerNote()...)
	}
	return ts.listView(below)
}

// listView is the main screen: chart, stream list, findings, and what the
// owner adds below.
func (ts *testScreen) listView(below pane) []string {
	r := ts.run
	findings := ts.findingLines(ts.findings(), ts.peerNote()...)
	v := layoutScreen(ts.height, ts.headerH, lineCount(findings), below.want, ts.footerH)
	ts.rowsH = v.rows
	ts.clampList()
	// The selected problem stream's whole reason and fix, under the rows.
	var status []string
	if ts.count() > 0 {
		status = ts.statusLines(&r.streams[ts.at(ts.cursor)])
		if v.rows-len(status) < 3 {
			status = nil
		}
		v.rows -= len(status)
		ts.rowsH = v.rows
		ts.clampList()
	}
	lines := make([]string, 0, ts.height)
	if v.chart > 0 {
		lines = append(lines, ts.sumChart(v.chart)...)
	}
	if len(r.streams) == 0 {
		lines = append(lines, ts.st.dim.wrap(ts.emptyNote()))
		for i := 1; i < v.listHead+v.rows; i++ {
			lines = append(lines, "")
		}
	} else {
		lines = append(lines, ts.truncate(listHeader(ts.st, ts.rc.lst)))
		lines = append(lines, ts.streamRows(v.rows)...)
		for len(lines) < v.chart+v.listHead+v.rows {
			lines = append(lines, "")
		}
		lines = append(lines, status...)
	}
	lines = append(lines, ts.findingsPane(findings, v.findings)...)
	if below.draw != nil && v.history > 0 {
		lines = append(lines, below.draw(v.history)...)
	}
	return lines
}

// maxStatusLines bounds the status lines under the list: a reason and a
// fix of two lines each at 80 columns.
const maxStatusLines = 4

// statusLines are the selected stream's problem in full, wrapped: its
// state with the whole reason, then the fix of the finding that names it.
// A stream without a problem has none.
func (ts *testScreen) statusLines(s *stream) []string {
	if !s.bad() {
		return nil
	}
	st := ts.st
	text := " ▸ stream " + strconv.Itoa(s.id) + " " + dirGlyph(s.dir) + " " + stateWords(s)
	out := wrapText(st.bad.wrap(text), ts.width, "   ")
	if fix := ts.fixFor(s); fix != "" {
		out = append(out, wrapText(st.ok.wrap("   fix: ")+fix, ts.width, "   ")...)
	}
	if len(out) > maxStatusLines {
		out = out[:maxStatusLines]
		out[maxStatusLines-1] = ts.truncate(out[maxStatusLines-1] + "…")
	}
	return out
}

// stateWords is a stream's state with its whole reason and error.
func stateWords(s *stream) string {
	text := stateText(s)
	if s.reason != "" {
		if sh := reasonSuffix(s.reason); strings.HasSuffix(text, sh) {
			text = strings.TrimSuffix(text, sh) + ": " + s.reason
		}
	}
	if s.endedStalled && s.err != "" {
		text += " · error: " + s.err
	}
	return text
}

// fixFor is the fix of the current finding about stream s: the one that
// lists it, else the stall finding of its direction.
func (ts *testScreen) fixFor(s *stream) string {
	r := ts.run
	dir := r.findingDir(s.dir)
	fallback := ""
	for _, f := range r.timeline() {
		if f.Fix == "" || f.Span.Ended && f.Span.End != f.Span.Start {
			continue
		}
		if slices.Contains(f.Streams, s.id) {
			return f.Fix
		}
		if fallback == "" && len(f.Streams) == 0 && f.Kind == diagnose.KindStalled && (f.Direction == dir || f.Direction == diagnose.DirAny) {
			fallback = f.Fix
		}
	}
	return fallback
}

// peerNote says, once, why the other end's view of the streams is
// missing: the peer is a stock iperf3, which sends none.
func (ts *testScreen) peerNote() []string {
	r := ts.run
	if !r.peerKnown || r.peerFS {
		return nil
	}
	switch {
	case r.udp() && r.anySend:
		return []string{"stock iperf3 peer: the receiver's loss and jitter of sent streams arrive only with the results"}
	case !r.udp() && r.anyRecv:
		return []string{"stock iperf3 peer: the sender's view of received streams (RETR, RTT, CWND, its stall reason) is not available"}
	}
	return nil
}

func (ts *testScreen) emptyNote() string {
	r := ts.run
	switch {
	case r.phase == phaseIdle:
		return "   waiting for a client to start a test"
	case r.phase == phaseConnecting:
		return "   setting up the data connections…"
	case r.phase == phaseFailed:
		return "   the test failed before any data moved"
	case r.hasParams && r.params.Interval <= 0:
		return "   interval reports are off (-i 0): results appear at the end"
	}
	return "   no streams yet"
}

// streamRows draws the visible stream rows from their cache.
func (ts *testScreen) streamRows(h int) []string {
	r := ts.run
	ts.rc.scale(ts.env, r.sharedMax(ts.rc.lst.sparkW))
	out := make([]string, 0, h)
	n := ts.count()
	for k := 0; k < h && ts.offset+k < n; k++ {
		pos := ts.offset + k
		out = append(out, ts.markRow(ts.rc.row(ts.env, r, ts.at(pos)), pos == ts.cursor))
	}
	if n == 0 && ts.order.filter {
		out = append(out, ts.st.ok.wrap("   no problem streams: none stalled, failed or below half the median rate"))
	}
	return out
}

// chartRange is a SUM chart's time axis: the test's length when known,
// else up to a round number past the newest point (last, seconds).
func chartRange(total float64, points int, last float64) float64 {
	switch {
	case total > 0:
		return total
	case points > 0:
		return max(niceCeil(last), 1)
	}
	return 10
}

// sumChart draws the SUM chart box, cached until a sample or the size
// changes.
func (ts *testScreen) sumChart(h int) []string {
	r := ts.run
	key := [5]int{r.seq, ts.width, h, int(ts.view), r.findVer}
	if key == ts.chartKey && ts.chart != nil {
		return ts.chart
	}
	ts.chartKey = key
	st := ts.st
	var lines []series
	title := st.heading.wrap("SUM")
	pts := r.chart
	last := 0.0
	if len(pts) > 0 {
		last = pts[len(pts)-1].t
	}
	xMax, yMax := chartRange(r.total(), len(pts), last), 0.0
	for _, p := range pts {
		yMax = max(yMax, p.send, p.recv)
	}
	if r.hasSend {
		lines = append(lines, series{n: len(pts), at: func(i int) (float64, float64) { return pts[i].t, pts[i].send }, paint: st.sendLine})
	}
	if r.hasRecv {
		lines = append(lines, series{n: len(pts), at: func(i int) (float64, float64) { return pts[i].t, pts[i].recv }, paint: st.recvLine})
	}
	switch {
	case r.hasSend && r.hasRecv:
		title += st.dim.wrap(" ─ ") + st.sendLine.wrap("⣿ ↑ send "+fmtRate(r.sumSend)) + st.dim.wrap(" ─ ") + st.recvLine.wrap("⣿ ↓ receive "+fmtRate(r.sumRecv))
	case r.seq > 0:
		title += st.dim.wrap(" ─ ") + st.accent.wrap(fmtRate(r.sumNow()))
	case r.hasParams && r.params.Interval <= 0:
		title += st.dim.wrap(" ─ interval reports are off (-i 0): the rates arrive at the end")
	}
	body := drawChart(st, chartSpec{w: ts.width - 2, h: h - 2, xMin: 0, xMax: xMax, yMax: yMax, lines: lines, marks: ts.findingMarks()})
	ts.chart = ts.box(title, body)
	return ts.chart
}

// findingMarks flags on the SUM chart's time axis where each finding
// started (not those made before data flowed), the most severe drawn last
// so it wins a shared cell.
func (ts *testScreen) findingMarks() []chartMark {
	var marks []chartMark
	for sev := engine.Info; sev <= engine.Critical; sev++ {
		for _, f := range ts.run.findings {
			if f.Span.Start > 0 && f.Severity == sev {
				marks = append(marks, chartMark{x: f.Span.Start.Seconds(), paint: ts.st.sev[min(int(sev), 2)]})
			}
		}
	}
	return marks
}

// findings is the test's findings timeline for the findings pane and
// view, current ones first.
func (ts *testScreen) findings() []labelled {
	tl := ts.run.timeline()
	out := make([]labelled, 0, len(tl))
	end := ts.run.endedAt()
	for _, f := range tl {
		out = append(out, label("", ts.run.side, f, end))
	}
	return out
}

// medianRate is the median rate of the test's measured streams of
// direction d that are running or stalled.
func (ts *testScreen) medianRate(d engine.Dir) float64 { return ts.run.medianRate(d) }
