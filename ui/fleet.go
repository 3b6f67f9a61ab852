package ui

import (
	"sort"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// TargetMsg is one engine event of a multi-server run (ModeFleet), tagged
// with the server whose test produced it: the engine's events do not say.
// Target is one of Options.Targets; an unknown one gets a section of its
// own after them.
type TargetMsg struct {
	Target string
	Event  engine.Event
}

// maxServerLines is how many servers get a line of their own in the
// overview's SUM chart; more would be a tangle.
const maxServerLines = 8

// Overview rows that are not streams (fleetRow's second result).
const (
	rowHeading = -2 // the server's name and test
	rowSum     = -1 // the server's SUM
)

// fleetState is a multi-server run: one client test per server. The
// overview lists every server's streams under a heading and a SUM row;
// tab puts one server at a time on the screen, which then looks like a
// one-server run.
type fleetState struct {
	targets []*fleetTarget
	byLabel map[string]*fleetTarget
	focus   int // index of the server on screen; -1: the overview
	// The overview's list position, kept while a server is on screen.
	allCursor, allOffset int
	// offs[i] is the first overview row of server i's section; the last
	// entry is the number of rows. Rebuilt before each frame and key.
	offs []int
	// chart is the SUM over all servers per interval: the k-th sample of
	// every server added up. When full, pairs of points are merged and
	// shift grows: point i covers intervals i<<shift to (i+1)<<shift.
	chart []fleetPoint
	shift uint
	ver   int // bumped by every sample, for the chart's cache
}

// fleetTarget is one server of the run.
type fleetTarget struct {
	label string // host:port
	idx   int
	run   *testRun
}

// fleetPoint is one point of the overall SUM chart: the servers' rates
// added up, and summed over the n intervals merged into it.
type fleetPoint struct {
	t          float64
	send, recv float64
	n          int
}

func newFleet(labels []string) *fleetState {
	f := &fleetState{byLabel: map[string]*fleetTarget{}, focus: -1, allCursor: 1}
	for _, l := range labels {
		f.target(l)
	}
	return f
}

// target returns the server called label, adding it if it is new.
func (f *fleetState) target(label string) *fleetTarget {
	if t := f.byLabel[label]; t != nil {
		return t
	}
	t := &fleetTarget{label: label, idx: len(f.targets), run: newRun(engine.SideClient)}
	f.targets = append(f.targets, t)
	f.byLabel[label] = t
	return t
}

// allEnded reports whether every server's test sent its End.
func (f *fleetState) allEnded() bool {
	for _, t := range f.targets {
		if t.run.end == nil {
			return false
		}
	}
	return true
}

// addChart adds a server's newest sample (its k-th) to the overall chart.
func (f *fleetState) addChart(r *testRun) {
	f.ver++
	k := r.seq - 1
	for k>>f.shift >= maxChartPoints {
		h := f.chart[:0]
		for i := 0; i < len(f.chart); i += 2 {
			p := f.chart[i]
			if i+1 < len(f.chart) {
				q := f.chart[i+1]
				p = fleetPoint{t: max(p.t, q.t), send: p.send + q.send, recv: p.recv + q.recv, n: p.n + q.n}
			}
			h = append(h, p)
		}
		f.chart = h
		f.shift++
	}
	s := k >> f.shift
	for len(f.chart) <= s {
		f.chart = append(f.chart, fleetPoint{})
	}
	p := &f.chart[s]
	p.t = max(p.t, r.elapsed)
	p.send += r.sumSend
	p.recv += r.sumRecv
	p.n = max(p.n, k-s<<f.shift+1)
}

// chartLen is how many overall chart points every running server has
// contributed to: a server whose intervals end a little later than the
// others' would otherwise make the newest point dip each interval.
func (f *fleetState) chartLen() int {
	done, seq := -1, 0
	for _, t := range f.targets {
		r := t.run
		seq = max(seq, r.seq)
		if r.end == nil && r.seq > 0 && (done < 0 || r.seq < done) {
			done = r.seq
		}
	}
	if done < 0 {
		done = seq
	}
	if done <= 0 {
		return 0
	}
	return min(len(f.chart), (done-1)>>f.shift+1)
}

// fleetSums is the run over all servers, for the header.
type fleetSums struct {
	send, recv       float64 // latest interval of each server still running
	hasSend, hasRecv bool
	avgSend, avgRecv float64 // the finished servers' results
	samples          bool
	flows            int
	params           *testRun // a server whose parameters are known
	elapsed, total   float64
	moved, goal      uint64 // -n tests
	retr             uint64
	udpLost          int64
	udpPackets       uint64
	stalled, failed  int // streams
	running, ended   int // servers
	failedServers    int
	anySend, udp     bool
}

func (f *fleetState) sums() fleetSums {
	var s fleetSums
	for _, t := range f.targets {
		r := t.run
		s.flows += len(r.streams)
		s.anySend = s.anySend || r.anySend
		if r.hasParams {
			if s.params == nil {
				s.params = r
			}
			s.udp = s.udp || r.udp()
			s.total = max(s.total, r.total())
			if r.params.Bytes > 0 {
				s.goal += uint64(r.params.Bytes)
			}
		}
		s.elapsed = max(s.elapsed, r.elapsed)
		s.moved += r.moved
		s.retr += r.retr
		s.udpLost += r.udpLost
		s.udpPackets += r.udpPackets
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
		s.stalled += r.stalled
		s.failed += r.failed
		if r.seq > 0 {
			s.running++
			s.send += r.sumSend
			s.recv += r.sumRecv
		}
	}
	return s
}

// fleetAll reports whether the overview of every server is on screen.
func (m *Model) fleetAll() bool { return m.fl != nil && m.fl.focus < 0 }

func (m *Model) onTargetSample(t *fleetTarget, s *engine.Sample) {
	t.run.apply(s)
	m.fl.addChart(t.run)
}

// onTargetEvent is onEvent for one server of a multi-server run.
func (m *Model) onTargetEvent(t *fleetTarget, ev engine.Event) tea.Cmd {
	r := t.run
	switch e := ev.(type) {
	case *engine.Connecting:
		r.host, r.port, r.connTotal = e.Host, e.Port, e.Streams
		r.phase = phaseConnecting
	case *engine.Progress:
		r.connected, r.connTotal = e.Connected, e.Total
		r.phase = phaseConnecting
	case *engine.Start:
		if r == m.run {
			m.resetNav()
		}
		r.onStart(e)
		if m.stopping {
			r.phase = phaseFinishing
		}
	case *engine.Sample:
		m.onTargetSample(t, e)
	case *engine.End:
		r.end = e
		r.addFindings(e.Findings)
		if e.Err != nil {
			r.phase, r.failReason = phaseFailed, e.Err.Error()
		} else {
			r.phase = phaseDone
		}
		if m.stopping {
			r.stopped = true
		}
		m.fl.ver++
		if m.fl.allEnded() {
			anyData := false
			for _, t := range m.fl.targets {
				anyData = anyData || t.run.hasParams
			}
			if m.stopping || !anyData {
				// Stopped by the user, or every test failed before any
				// data moved: main prints the summaries or the errors.
				m.quitting = true
				return tea.Quit
			}
		}
		m.dirty = true
		m.render()
		return nil
	default:
		return nil
	}
	return m.frameLater()
}

// fleetFocus puts server i on the screen, or the overview for -1.
func (m *Model) fleetFocus(i int) {
	f := m.fl
	if i == f.focus || i >= len(f.targets) {
		return
	}
	if f.focus < 0 {
		f.allCursor, f.allOffset = m.cursor, m.offset
	}
	f.focus = i
	if i < 0 {
		m.run = nil
		m.cursor, m.offset = f.allCursor, f.allOffset
		if m.view != viewFindings {
			m.view = viewList
		}
		m.findOff = 0
		m.chart = nil
		return
	}
	m.run = f.targets[i].run
	m.resetNav()
	if m.view == viewFindings {
		m.view = viewList
	}
}

// fleetStep is tab (d=1) and shift+tab (d=-1): the overview, then each
// server in turn.
func (m *Model) fleetStep(d int) {
	n := len(m.fl.targets) + 1
	m.fleetFocus((m.fl.focus+1+d+n)%n - 1)
}

// layoutFleet works out the overview's sections (a heading, the SUM row
// and the streams in the list's order per server) and returns the rows.
func (m *Model) layoutFleet() int {
	f := m.fl
	f.offs = f.offs[:0]
	n := 0
	for _, t := range f.targets {
		f.offs = append(f.offs, n)
		t.run.updateOrder(m.sort, m.reverse, m.filter)
		n += 2 + t.run.ord.count(t.run)
	}
	f.offs = append(f.offs, n)
	return n
}

// fleetRow maps an overview row to its server and what it shows: the
// heading, the SUM row, or a stream's index.
func (m *Model) fleetRow(pos int) (*fleetTarget, int) {
	f := m.fl
	i := sort.Search(len(f.targets), func(i int) bool { return f.offs[i+1] > pos })
	t := f.targets[i]
	switch k := pos - f.offs[i]; k {
	case 0:
		return t, rowHeading
	case 1:
		return t, rowSum
	default:
		return t, t.run.ord.at(k - 2)
	}
}

// clampFleet keeps the overview's cursor on a row it can select (not a
// heading) and the window around it, with the heading above a SUM row in
// view. d is the direction of the last move.
func (m *Model) clampFleet(d int) {
	n := m.fl.offs[len(m.fl.offs)-1]
	if n == 0 {
		m.cursor, m.offset = 0, 0
		return
	}
	m.cursor = min(max(m.cursor, 0), n-1)
	if _, row := m.fleetRow(m.cursor); row == rowHeading {
		if d < 0 && m.cursor > 0 {
			m.cursor--
		} else {
			m.cursor++
		}
	}
	m.clampRows(n)
	if _, row := m.fleetRow(m.cursor); row == rowSum && m.offset == m.cursor {
		m.offset--
	}
}

// fleetListKey is the overview's list keys.
func (m *Model) fleetListKey(k tea.KeyMsg) tea.Cmd {
	km := &m.keys
	n := m.layoutFleet()
	page := max(1, m.rowsH)
	d := 1
	switch {
	case m.orderKeys(k):
	case key.Matches(k, km.Back):
		m.filter = false
	case key.Matches(k, km.Findings):
		m.view, m.findOff = viewFindings, 0
		return nil
	case key.Matches(k, km.Detail), key.Matches(k, km.Map):
		if n == 0 {
			return nil
		}
		t, row := m.fleetRow(min(m.cursor, n-1))
		m.fleetFocus(t.idx)
		switch {
		case key.Matches(k, km.Map):
			m.view = viewMap
		case row >= 0:
			m.view, m.detail = viewDetail, row
			for pos := 0; pos < m.count(); pos++ {
				if m.at(pos) == row {
					m.cursor = pos
				}
			}
		}
		return nil
	case key.Matches(k, km.Up):
		m.cursor--
		d = -1
	case key.Matches(k, km.Down):
		m.cursor++
	case key.Matches(k, km.PageUp):
		m.cursor -= page
		m.offset -= page
		d = -1
	case key.Matches(k, km.PageDown):
		m.cursor += page
		m.offset += page
	case key.Matches(k, km.Top):
		m.cursor, m.offset = 0, 0
	case key.Matches(k, km.Bottom):
		m.cursor = n - 1
	}
	m.layoutFleet()
	m.clampFleet(d)
	return nil
}

// fleetListView is the overview below the header: the SUM chart over all
// servers, each server's section, and every server's findings.
func (m *Model) fleetListView(footer int) []string {
	findings := m.findingLines()
	v := layoutScreen(m.height, m.headerH, len(findings), 0, footer)
	m.rowsH = v.rows
	m.layoutFleet()
	m.clampFleet(1)
	lines := make([]string, 0, m.height)
	if v.chart > 0 {
		lines = append(lines, m.sumChart(v.chart)...)
	}
	lines = append(lines, m.truncate(listHeader(m.st, m.lst)))
	lines = append(lines, m.fleetRows(v.rows)...)
	return append(lines, m.findingsPane(findings, v.findings)...)
}

// fleetRows draws the visible overview rows; streams come from their
// cache as in the one-server list.
func (m *Model) fleetRows(h int) []string {
	f := m.fl
	var top, sumTop float64
	for _, t := range f.targets {
		top = max(top, t.run.sharedMax(m.lst.sparkW))
		sumTop = max(sumTop, sumMax(t.run, m.lst.sparkW))
	}
	if top != m.rowTop {
		m.rowTop = top
		m.rowKey++
	}
	n := f.offs[len(f.offs)-1]
	out := make([]string, 0, h)
	for k := 0; k < h && m.offset+k < n; k++ {
		pos := m.offset + k
		t, row := m.fleetRow(pos)
		var line string
		switch row {
		case rowHeading:
			out = append(out, m.truncate(m.sectionHeading(t)))
			continue
		case rowSum:
			line = renderSumRow(m.st, m.lst, t.run, sumTop, &m.scratch)
		default:
			s := &t.run.streams[row]
			if s.line == "" || s.lineVer != s.ver || s.lineLayout != m.rowKey {
				s.line = renderRow(m.st, m.lst, t.run, row, top, &m.scratch)
				s.lineVer, s.lineLayout = s.ver, m.rowKey
			}
			line = s.line
		}
		line = m.cutRow(line)
		if pos == m.cursor {
			out = append(out, m.st.sel.wrap("▸ ")+line)
		} else {
			out = append(out, "  "+line)
		}
	}
	return out
}

// serverPaint is server i's colour: its line in the overview's chart and
// its name in the list.
func (m *Model) serverPaint(i int) paint {
	if len(m.fl.targets) > maxServerLines {
		return m.st.heading
	}
	return m.st.server[i%len(m.st.server)]
}

// sectionHeading is a server's heading row: its name and its test.
func (m *Model) sectionHeading(t *fleetTarget) string {
	r := t.run
	var b strings.Builder
	b.WriteByte(' ')
	m.serverPaint(t.idx).to(&b, "■ "+t.label)
	if r.hasParams {
		proto := r.params.Protocol
		if proto == "" {
			proto = "TCP"
		}
		m.st.dim.to(&b, "  "+proto+"  "+strconv.Itoa(len(r.streams))+" flows "+dirLabel(r))
	}
	if r.phase == phaseFailed {
		m.st.bad.to(&b, "  failed: "+r.failReason)
	}
	if m.filter && r.hasParams {
		m.st.warn.to(&b, "  problems: "+strconv.Itoa(r.ord.count(r))+" of "+strconv.Itoa(len(r.streams)))
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
	padL(&cells, "SUM", wID-1)
	cells.WriteString(" " + runDir(r) + "  ")
	rate := "—"
	if r.seq > 0 {
		rate = fmtRate(r.sumNow())
	}
	padL(&cells, rate, wRate-1)
	cells.WriteByte(' ')
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
	cells.WriteByte(' ')
	if l.show[colTotal] {
		padL(&cells, fmtBytes(r.moved), wTotal-1)
		cells.WriteByte(' ')
	}
	vals := [numOptCols]string{colRetr: "—", colRTT: "—", colCwnd: "—"}
	switch {
	case r.udp():
		u := engine.UDPStats{Packets: r.udpPackets, Lost: r.udpLost}
		if r.hasRecv {
			vals[colRetr] = fmtPercent(u.LostPercent())
		}
		vals[colCwnd] = fmtCount(r.udpPackets)
	case r.hasSend && r.anySend:
		vals[colRetr] = strconv.FormatUint(r.retr, 10)
	}
	for _, c := range [...]int{colRetr, colRTT, colCwnd} {
		if l.show[c] {
			padL(&cells, vals[c], optWidth[c]-1)
			cells.WriteByte(' ')
		}
	}
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
func (m *Model) fleetHeader() string {
	st, f := m.st, m.fl
	s := f.sums()
	var a strings.Builder
	for compact := 0; compact < 2; compact++ {
		a.Reset()
		a.WriteByte(' ')
		st.title.to(&a, "flowscope")
		a.WriteString(" → " + strconv.Itoa(len(f.targets)) + " servers")
		if i := f.focus; i >= 0 {
			st.warn.to(&a, " [server "+strconv.Itoa(i+1)+"/"+strconv.Itoa(len(f.targets))+", tab: next]")
		}
		if r := s.params; r != nil {
			if compact == 0 {
				proto := r.params.Protocol
				if proto == "" {
					proto = "TCP"
				}
				a.WriteString("  " + proto)
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
		if ansi.StringWidth(a.String()) <= m.width {
			break
		}
	}
	return a.String()
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

// fleetStateLine is the overview's second header line: the servers'
// states, the progress and the counters over all of them.
func (m *Model) fleetStateLine() string {
	st, f := m.st, m.fl
	s := f.sums()
	n := len(f.targets)
	var b strings.Builder
	b.WriteByte(' ')
	switch {
	case s.ended == n:
		msg := "▸ done"
		if m.stopping {
			msg += " (stopped early)"
		}
		st.ok.to(&b, msg)
		if s.failedServers > 0 {
			st.bad.to(&b, " · "+strconv.Itoa(s.failedServers)+" of "+strconv.Itoa(n)+" failed")
		}
		st.dim.to(&b, " · q to exit")
	case m.stopping:
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
		switch {
		case s.total > 0:
			m.bar(&b, s.elapsed/s.total)
			b.WriteString(" " + fmtSeconds(s.elapsed) + "/" + fmtSeconds(s.total) + " s")
		case s.goal > 0:
			m.bar(&b, float64(s.moved)/float64(s.goal))
			b.WriteString(" " + fmtBytes(s.moved) + "/" + fmtBytes(s.goal) + " · " + fmtSeconds(s.elapsed) + " s")
		default:
			b.WriteString(fmtSeconds(s.elapsed) + " s")
		}
		switch {
		case s.udp && s.udpPackets+uint64(max(s.udpLost, 0)) > 0:
			u := engine.UDPStats{Packets: s.udpPackets, Lost: s.udpLost}
			b.WriteString("  lost " + strconv.FormatInt(s.udpLost, 10) + " (" + fmtPercent(u.LostPercent()) + ")")
		case s.samples && s.hasSend && !s.udp:
			b.WriteString("  retr " + strconv.FormatUint(s.retr, 10))
		}
		if s.stalled > 0 {
			b.WriteString("  ")
			st.stalledTag.to(&b, " "+strconv.Itoa(s.stalled)+" STALLED ")
		}
		if s.failed > 0 {
			b.WriteString("  ")
			st.bad.to(&b, strconv.Itoa(s.failed)+" failed")
		}
	}
	if m.view == viewList && s.flows > 0 {
		b.WriteString("  ")
		st.dim.to(&b, "sort: "+m.sortLabel())
		if m.filter {
			k := 0
			for _, t := range f.targets {
				k += t.run.ord.count(t.run)
			}
			b.WriteString("  ")
			st.warn.to(&b, "filter: problems ("+strconv.Itoa(k)+")")
		}
	}
	m.pausedTo(&b)
	return b.String()
}

// fleetChart is the overview's SUM chart: the SUM over all servers and,
// for a few servers, each server's SUM in its colour.
func (m *Model) fleetChart(h int) []string {
	f := m.fl
	key := [4]int{f.ver, m.width, h, -1 - int(m.view)}
	if key == m.chartKey && m.chart != nil {
		return m.chart
	}
	m.chartKey = key
	st := m.st
	s := f.sums()
	pts := f.chart[:f.chartLen()]
	xMax, yMax := 10.0, 0.0
	if s.total > 0 {
		xMax = s.total
	} else if len(pts) > 0 {
		xMax = max(niceCeil(pts[len(pts)-1].t), 1)
	}
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
	both := s.hasSend && s.hasRecv
	if both {
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
				r := t.run
				lines = append(lines, series{n: len(r.chart), at: func(i int) (float64, float64) {
					return r.chart[i].t, r.chart[i].send + r.chart[i].recv
				}, paint: m.serverPaint(t.idx)})
				title += m.serverPaint(t.idx).wrap("⣿")
			}
			title += st.dim.wrap(" each server")
		}
	}
	body := drawChart(st, chartSpec{w: m.width - 2, h: h - 2, xMin: 0, xMax: xMax, yMax: yMax, lines: lines})
	m.chart = m.box(title, body)
	return m.chart
}

// labelled is a finding and the server it came from ("" for the run on
// screen).
type labelled struct {
	server string
	f      engine.Finding
}

// findingsOf is every finding to show: the run on screen's, or in the
// overview every server's, each under its server's name.
func (m *Model) findingsOf() []labelled {
	var out []labelled
	if m.fleetAll() {
		for _, t := range m.fl.targets {
			for _, f := range t.run.findings {
				out = append(out, labelled{t.label + ": ", f})
			}
		}
		return out
	}
	if m.run != nil {
		for _, f := range m.run.findings {
			out = append(out, labelled{"", f})
		}
	}
	return out
}
