package ui

import (
	"strconv"
	"strings"

	"github.com/flowscope/flowscope/engine"
)

// fleetSums is the run over all servers, for the header.
type fleetSums struct {
	send, recv       float64 // latest interval of each server still running
	hasSend, hasRecv bool
	avgSend, avgRecv float64 // the finished servers' results
	samples          bool
	flows            int
	params           *testRun // a server whose parameters are known
	progress         progress
	running, ended   int // servers
	failedServers    int
	// stateNeed is the widest stall state of any server's rows.
	stateNeed int
}

func (f *fleetView) sums() fleetSums {
	var s fleetSums
	p := &s.progress
	for _, t := range f.targets {
		r := t.test.run
		s.flows += len(r.streams)
		s.stateNeed = max(s.stateNeed, r.stateNeed)
		if r.hasParams {
			if s.params == nil {
				s.params = r
			}
			p.udp = p.udp || r.udp()
			p.total = max(p.total, r.total())
			if r.params.Bytes > 0 {
				p.goal += uint64(r.params.Bytes)
			}
		}
		p.elapsed = max(p.elapsed, r.elapsed)
		p.moved += r.moved
		p.retr += r.retr
		p.udpLost += r.udpLost
		p.udpPackets += r.udpPackets
		if r.seq > 0 {
			s.samples = true
			s.hasSend = s.hasSend || r.hasSend
			s.hasRecv = s.hasRecv || r.hasRecv
		}
		if r.end != nil {
			s.ended++
			send, recv := endRates(r.end)
			s.avgSend += send
			s.avgRecv += recv
			if r.end.Err != nil {
				s.failedServers++
			}
			continue
		}
		p.stalled += r.stalled
		p.failed += r.failed
		if r.seq > 0 {
			s.running++
			s.send += r.sumSend
			s.recv += r.sumRecv
		}
	}
	p.showRetr = s.samples && s.hasSend
	return s
}

func (f *fleetView) header() []string {
	top := f.fleetHeader()
	t := f.onScreen()
	if t == nil {
		// Every server's SUM first; the overview then has its own state
		// line, a server on screen its usual two.
		return []string{top, f.fleetStateLine()}
	}
	head := " " + f.serverPaint(f.focus).wrap("■ "+f.targets[f.focus].label)
	note := " · other servers still running"
	if f.engineDone || f.allEnded() {
		note = " · q to exit"
	}
	return []string{top, t.titleLine(head), t.stateLine(note)}
}

func (f *fleetView) body(h int) []string {
	if t := f.onScreen(); t != nil {
		return t.body(h, pane{})
	}
	s := f.sums()
	f.rc.layout(f.env, s.flows > 0, s.progress.udp, s.stateNeed)
	if f.view == viewFindings {
		return f.findingsView(h, f.findings(), &f.findOff)
	}
	return f.listView()
}

func (f *fleetView) help() viewHelp {
	v := f.view
	if t := f.onScreen(); t != nil {
		v = t.view
	}
	return viewHelp{view: v, fleet: true}
}

// findings is every server's findings, each under its server's name.
func (f *fleetView) findings() []labelled {
	var out []labelled
	for _, t := range f.targets {
		end := t.test.run.endedAt()
		for _, fd := range t.test.run.timeline() {
			out = append(out, label(t.label+": ", t.test.run.side, fd, end))
		}
	}
	return out
}

// listView is the overview below the header: the SUM chart over all
// servers, each server's section, and every server's findings.
func (f *fleetView) listView() []string {
	findings := f.findingLines(f.findings())
	v := layoutScreen(f.height, f.headerH, lineCount(findings), 0, f.footerH)
	f.rowsH = v.rows
	f.layout()
	f.clamp(1)
	lines := make([]string, 0, f.height)
	if v.chart > 0 {
		lines = append(lines, f.sumChart(v.chart)...)
	}
	lines = append(lines, f.truncate(listHeader(f.st, f.rc.lst)))
	lines = append(lines, f.rows(v.rows)...)
	return append(lines, f.findingsPane(findings, v.findings)...)
}

// rows draws the visible overview rows; streams come from their cache as
// in a test's list.
func (f *fleetView) rows(h int) []string {
	var top, sumTop float64
	for _, t := range f.targets {
		top = max(top, t.test.run.sharedMax(f.rc.lst.sparkW))
		sumTop = max(sumTop, sumMax(t.test.run, f.rc.lst.sparkW))
	}
	f.rc.scale(f.env, top)
	n := f.offs[len(f.offs)-1]
	out := make([]string, 0, h)
	for k := 0; k < h && f.offset+k < n; k++ {
		pos := f.offset + k
		t, row := f.row(pos)
		var line string
		switch row {
		case rowHeading:
			out = append(out, f.truncate(f.sectionHeading(t)))
			continue
		case rowSum:
			line = f.rc.cut(f.env, renderSumRow(f.st, f.rc.lst, t.test.run, sumTop, &f.rc.scratch))
		default:
			line = f.rc.row(f.env, t.test.run, row)
		}
		out = append(out, f.markRow(line, pos == f.cursor))
	}
	return out
}

// serverPaint is server i's colour: its line in the overview's chart and
// its name in the list.
func (f *fleetView) serverPaint(i int) paint {
	if len(f.targets) > maxServerLines {
		return f.st.heading
	}
	return f.st.server[i%len(f.st.server)]
}

// sectionHeading is a server's heading row: its name and its test.
func (f *fleetView) sectionHeading(t *fleetTarget) string {
	r := t.test.run
	var b strings.Builder
	b.WriteByte(' ')
	f.serverPaint(t.idx).to(&b, "■ "+t.label)
	if r.hasParams {
		f.st.dim.to(&b, "  "+r.protocol()+"  "+strconv.Itoa(len(r.streams))+" flows "+dirLabel(r))
	}
	if r.phase == phaseFailed {
		f.st.bad.to(&b, "  failed: "+r.failReason)
	}
	if f.order.filter && r.hasParams {
		f.st.warn.to(&b, "  problems: "+strconv.Itoa(t.test.count())+" of "+strconv.Itoa(len(r.streams)))
	}
	return b.String()
}

// sumMax is the largest SUM of run r in its last n intervals.
func sumMax(r *testRun, n int) float64 {
	var top float64
	for _, p := range r.chart[max(0, len(r.chart)-n):] {
		top = max(top, p.send+p.recv)
	}
	return top
}

// runDir is the direction glyph of a run's SUM.
func runDir(r *testRun) string {
	switch {
	case r.hasSend && r.hasRecv:
		return "↕"
	case r.hasSend:
		return "↑"
	case r.hasRecv:
		return "↓"
	}
	return " "
}

// renderSumRow is a server's SUM row in the stream list's columns: its
// SUM, the SUM's recent history, its totals and its test's state.
func renderSumRow(st *styles, l listLayout, r *testRun, top float64, scratch *[]float32) string {
	var b, cells strings.Builder
	b.Grow(l.width * 3)
	rate := "—"
	if r.seq > 0 {
		rate = fmtRate(r.sumNow())
	}
	leadCellsTo(&cells, "SUM", runDir(r), rate)
	st.heading.to(&b, cells.String())
	cells.Reset()
	v := (*scratch)[:0]
	for _, p := range r.chart[max(0, len(r.chart)-l.sparkW):] {
		v = append(v, float32(p.send+p.recv))
	}
	*scratch = v
	sparkline(&cells, v, l.sparkW, top)
	st.spark.to(&b, cells.String())
	cells.Reset()
	vals := noValues
	switch {
	case r.udp():
		u := engine.UDPStats{Packets: r.udpPackets, Lost: r.udpLost}
		if r.hasRecv || r.udpPackets > 0 {
			vals[colRetr] = fmtPercent(u.LostPercent())
		}
		vals[colCwnd] = fmtCount(r.udpPackets)
	case r.hasSend && r.anySend:
		vals[colRetr] = strconv.FormatUint(r.retr, 10)
	}
	optCellsTo(&cells, l, r.moved, vals)
	b.WriteString(cells.String())
	cells.Reset()
	text, p := runState(st, r)
	padR(&cells, text, l.stateW)
	p.to(&b, cells.String())
	return b.String()
}

// runState is the STATE column of a server's SUM row.
func runState(st *styles, r *testRun) (string, paint) {
	switch r.phase {
	case phaseConnecting:
		if r.connTotal > 0 {
			return "connecting " + strconv.Itoa(r.connected) + "/" + strconv.Itoa(r.connTotal), st.warn
		}
		return "connecting", st.warn
	case phaseFinishing:
		return "finishing", st.warn
	case phaseFailed:
		return "FAILED", st.failedTag
	case phaseDone:
		s := "done"
		if r.stopped {
			s += " (stopped)"
		}
		if send, recv := endRates(r.end); send+recv > 0 {
			s += ", avg " + fmtRate(send+recv)
		}
		return s, st.ok
	}
	switch {
	case r.stalled > 0 && r.failed > 0:
		return strconv.Itoa(r.stalled) + " STALLED, " + strconv.Itoa(r.failed) + " failed", st.failedTag
	case r.stalled > 0:
		return strconv.Itoa(r.stalled) + " STALLED", st.failedTag
	case r.failed > 0:
		return strconv.Itoa(r.failed) + " failed", st.failedTag
	case r.omitting:
		return "running (warm-up)", st.ok
	}
	return "running", st.ok
}

// fleetHeader is the header's first line in a multi-server run: how many
// servers, the test, and the SUM over all of them (their average once
// every test ended).
func (f *fleetView) fleetHeader() string {
	st := f.st
	s := f.sums()
	return f.fit(2, func(compact int) string {
		var a strings.Builder
		a.WriteByte(' ')
		st.title.to(&a, "flowscope")
		a.WriteString(" → " + strconv.Itoa(len(f.targets)) + " servers")
		if i := f.focus; i >= 0 {
			st.warn.to(&a, " [server "+strconv.Itoa(i+1)+"/"+strconv.Itoa(len(f.targets))+", tab: next]")
		}
		if r := s.params; r != nil {
			if compact == 0 {
				a.WriteString("  " + r.protocol())
			}
			a.WriteString("  " + strconv.Itoa(s.flows) + " flows " + dirLabel(r))
		}
		switch {
		case s.ended == len(f.targets) && s.avgSend+s.avgRecv > 0:
			a.WriteString("  avg ")
			st.accent.to(&a, bothRates(s.avgSend, s.avgRecv))
		case s.samples:
			a.WriteString("  SUM ")
			if s.hasSend && s.hasRecv {
				st.accent.to(&a, "↑ "+fmtRate(s.send)+" ↓ "+fmtRate(s.recv))
			} else {
				st.accent.to(&a, fmtRate(s.send+s.recv))
			}
		}
		return a.String()
	})
}

// fleetStateLine is the overview's second header line: the servers'
// states, the progress and the counters over all of them.
func (f *fleetView) fleetStateLine() string {
	st := f.st
	s := f.sums()
	n := len(f.targets)
	var b strings.Builder
	b.WriteByte(' ')
	switch {
	case s.ended == n:
		msg := "▸ done"
		if f.stopping {
			msg += " (stopped early)"
		}
		st.ok.to(&b, msg)
		if s.failedServers > 0 {
			st.bad.to(&b, " · "+strconv.Itoa(s.failedServers)+" of "+strconv.Itoa(n)+" failed")
		}
		st.dim.to(&b, " · q to exit")
	case f.stopping:
		st.warn.to(&b, "▸ finishing: stopping the tests, waiting for results (q again: quit now)")
	case s.running > 0:
		st.ok.to(&b, "▸ running "+strconv.Itoa(s.running)+"/"+strconv.Itoa(n)+" servers")
		if c := n - s.running - s.ended; c > 0 {
			st.warn.to(&b, " · "+strconv.Itoa(c)+" connecting")
		}
		if s.ended > 0 {
			st.dim.to(&b, " · "+strconv.Itoa(s.ended)+" ended")
		}
		if s.failedServers > 0 {
			st.bad.to(&b, " · "+strconv.Itoa(s.failedServers)+" failed")
		}
	default:
		st.warn.to(&b, "▸ connecting to "+strconv.Itoa(n)+" servers")
		if s.failedServers > 0 {
			st.bad.to(&b, " · "+strconv.Itoa(s.failedServers)+" failed")
		}
	}
	if s.params != nil || s.samples {
		b.WriteString("  ")
		f.progressTo(&b, s.progress)
	}
	if f.view == viewList && s.flows > 0 {
		b.WriteString("  ")
		st.dim.to(&b, "sort: "+f.order.label())
		if f.order.filter {
			k := 0
			for _, t := range f.targets {
				t.test.updateOrder()
				k += t.test.count()
			}
			b.WriteString("  ")
			st.warn.to(&b, "filter: problems ("+strconv.Itoa(k)+")")
		}
	}
	f.pausedTo(&b)
	return b.String()
}

// sumChart is the overview's SUM chart: the SUM over all servers and, for
// a few servers, each server's SUM in its colour.
func (f *fleetView) sumChart(h int) []string {
	key := [4]int{f.ver, f.width, h, -1 - int(f.view)}
	if key == f.chartKey && f.chartBox != nil {
		return f.chartBox
	}
	f.chartKey = key
	st := f.st
	s := f.sums()
	pts := f.chart[:f.chartLen()]
	last := 0.0
	if len(pts) > 0 {
		last = pts[len(pts)-1].t
	}
	xMax, yMax := chartRange(s.progress.total, len(pts), last), 0.0
	at := func(send bool) func(int) (float64, float64) {
		return func(i int) (float64, float64) {
			p := pts[i]
			if send {
				return p.t, p.send / float64(max(p.n, 1))
			}
			return p.t, p.recv / float64(max(p.n, 1))
		}
	}
	var lines []series
	title := st.heading.wrap("SUM")
	var cur float64
	if n := len(pts); n > 0 {
		last := pts[n-1]
		cur = (last.send + last.recv) / float64(max(last.n, 1))
	}
	for i := range pts {
		_, y := at(true)(i)
		_, z := at(false)(i)
		yMax = max(yMax, y, z)
	}
	if s.hasSend && s.hasRecv {
		lines = append(lines,
			series{n: len(pts), at: at(true), paint: st.sendLine},
			series{n: len(pts), at: at(false), paint: st.recvLine})
		title += st.dim.wrap(" ─ all servers ") + st.sendLine.wrap("⣿ ↑ send") + st.dim.wrap(" ") + st.recvLine.wrap("⣿ ↓ receive")
	} else {
		lines = append(lines, series{n: len(pts), at: func(i int) (float64, float64) {
			x, y := at(true)(i)
			_, z := at(false)(i)
			return x, y + z
		}, paint: st.accent})
		title += st.dim.wrap(" ─ ") + st.accent.wrap("⣿ all servers")
		if len(pts) > 0 {
			title += " " + st.accent.wrap(fmtRate(cur))
		}
		if k := len(f.targets); k > 1 && k <= maxServerLines {
			title += st.dim.wrap(" ─ ")
			for _, t := range f.targets {
				r := t.test.run
				lines = append(lines, series{n: len(r.chart), at: func(i int) (float64, float64) {
					return r.chart[i].t, r.chart[i].send + r.chart[i].recv
				}, paint: f.serverPaint(t.idx)})
				title += f.serverPaint(t.idx).wrap("⣿")
			}
			title += st.dim.wrap(" each server")
		}
	}
	body := drawChart(st, chartSpec{w: f.width - 2, h: h - 2, xMin: 0, xMax: xMax, yMax: yMax, lines: lines})
	f.chartBox = f.box(title, body)
	return f.chartBox
}
