package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// Minimum useful sizes: smaller terminals get a one-line notice.
const (
	minWidth  = 40
	minHeight = 12
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

// render rebuilds the frame. It runs after keys and at most once per
// FrameInterval for data.
func (m *Model) render() {
	m.dirty = false
	m.lastFrame = time.Now()
	if m.width <= 0 || m.height <= 0 {
		m.frame = ""
		return
	}
	if m.width < minWidth || m.height < minHeight {
		m.frame = cut("flowscope: terminal too small ("+strconv.Itoa(m.width)+"x"+strconv.Itoa(m.height)+"), need 80x24", m.width)
		return
	}
	tcp := m.run != nil && m.run.anySend
	udp := m.run != nil && m.run.udp()
	if m.fleetAll() {
		s := m.fl.sums()
		tcp, udp = s.anySend, s.udp
	}
	if m.lst.width != m.width || m.lst.tcp != (tcp || udp) || m.lst.udp != udp {
		m.lst = layoutList(m.width, tcp, udp)
		m.rowKey++
	}
	m.updateOrder()
	lines := make([]string, 0, m.height)
	lines = append(lines, m.header()...)
	m.headerH = len(lines)
	footer := m.footer()
	switch m.view {
	case viewDetail:
		lines = append(lines, m.detailView(m.height-len(lines)-len(footer))...)
	case viewMap:
		lines = append(lines, m.mapView(m.height-len(lines)-len(footer))...)
	case viewFindings:
		lines = append(lines, m.findingsView(m.height-len(lines)-len(footer))...)
	default:
		lines = append(lines, m.listView(len(footer))...)
	}
	for len(lines) < m.height-len(footer) {
		lines = append(lines, "")
	}
	lines = append(lines[:m.height-len(footer)], footer...)
	m.frame = strings.Join(lines, "\n")
}

// footer is the help line (or the full help with ?).
func (m *Model) footer() []string {
	vh := viewHelp{k: &m.keys, view: m.view, server: m.opts.Mode == ModeServer, fleet: m.fl != nil}
	if !m.showHelp {
		for {
			h := " " + m.help.ShortHelpView(vh.ShortHelp())
			if ansi.StringWidth(h) <= m.width || vh.drop >= 3 {
				return []string{m.truncate(h)}
			}
			vh.drop++
		}
	}
	out := strings.Split(m.help.FullHelpView(vh.FullHelp()), "\n")
	for i := range out {
		out[i] = m.truncate(" " + out[i])
	}
	return out
}

// truncate cuts a styled line to the screen width.
func (m *Model) truncate(s string) string {
	if ansi.StringWidth(s) <= m.width {
		return s
	}
	return ansi.Truncate(s, m.width-1, "…")
}

// box draws a rounded frame with a title around lines of width w-2.
func (m *Model) box(title string, body []string) []string {
	w := m.width
	out := make([]string, 0, len(body)+2)
	t := "╭─ " + title + " "
	tw := ansi.StringWidth(t)
	if tw > w-2 {
		t = ansi.Truncate(t, w-2, "…")
		tw = ansi.StringWidth(t)
	}
	out = append(out, m.st.border.wrap("╭─ ")+title+m.st.border.wrap(" "+strings.Repeat("─", max(0, w-1-tw))+"╮"))
	side := m.st.border.wrap("│")
	for _, l := range body {
		pad := w - 2 - ansi.StringWidth(l)
		if pad < 0 {
			l = ansi.Truncate(l, w-2, "")
			pad = 0
		}
		out = append(out, side+l+strings.Repeat(" ", pad)+side)
	}
	out = append(out, m.st.border.wrap("╰"+strings.Repeat("─", max(0, w-2))+"╯"))
	return out
}

// header is the status lines at the top of every screen: what is tested
// and the SUM, then the state, progress and counters. A server adds its
// listener above them.
func (m *Model) header() []string {
	st := m.st
	r := m.run
	var out []string
	var a, b strings.Builder
	a.WriteByte(' ')
	st.title.to(&a, "flowscope")
	if m.opts.Mode == ModeServer {
		var l strings.Builder
		l.WriteByte(' ')
		st.title.to(&l, "flowscope server")
		l.WriteString(" · listening on " + m.opts.Listen)
		if m.opts.Backlog > 0 {
			l.WriteString(" · backlog " + strconv.Itoa(m.opts.Backlog))
		}
		if q := m.listener; q != nil {
			l.WriteString(fmt.Sprintf(" · accept queue %d/%d", q.AcceptQueue, q.Backlog))
		} else {
			st.dim.to(&l, " · accept queue n/a")
		}
		out = append(out, m.truncate(l.String()))
		a.Reset()
		switch {
		case r == nil:
			st.dim.to(&a, " no test yet")
		case r.end != nil:
			a.WriteString(" last test from " + hostPort(r.host, r.port))
		case r.host != "":
			a.WriteString(" test from " + hostPort(r.host, r.port))
		default:
			a.WriteString(" test starting")
		}
		if n := len(m.active); n > 1 || n == 1 && (r == nil || r.end != nil) {
			k := 0
			if r != nil && r.end == nil {
				k = slices.Index(m.active, r.id) + 1
			}
			st.warn.to(&a, " ["+strconv.Itoa(k)+"/"+strconv.Itoa(n)+" running, tab: next]")
		}
	} else if m.fl != nil {
		// Every server's SUM first; the overview then has its own state
		// line, a server on screen its usual two.
		out = append(out, m.truncate(m.fleetHeader()))
		if m.fl.focus < 0 {
			return append(out, m.truncate(m.fleetStateLine()))
		}
		a.Reset()
		a.WriteByte(' ')
		m.serverPaint(m.fl.focus).to(&a, "■ "+m.fl.targets[m.fl.focus].label)
	} else if r != nil && r.host != "" {
		a.WriteString(" → " + hostPort(r.host, r.port))
	}
	head := a.String()
	for compact := 0; compact < 3; compact++ {
		// Narrow terminals lose the protocol, then the direction's word,
		// before anything is cut.
		a.Reset()
		a.WriteString(head)
		if r != nil && r.hasParams {
			p := r.params
			proto := p.Protocol
			if proto == "" {
				proto = "TCP"
			}
			if compact == 0 {
				a.WriteString("  " + proto)
			}
			dir := dirLabel(r)
			if compact == 2 {
				dir, _, _ = strings.Cut(dir, " ")
			}
			a.WriteString("  " + strconv.Itoa(len(r.streams)) + " flows " + dir)
		}
		if r != nil && r.end != nil && r.end.Seconds > 0 {
			a.WriteString("  avg ")
			st.accent.to(&a, m.avgLabel())
		} else if r != nil && r.seq > 0 {
			a.WriteString("  SUM ")
			st.accent.to(&a, m.sumLabel())
		}
		if ansi.StringWidth(a.String()) <= m.width {
			break
		}
	}

	b.WriteByte(' ')
	b.WriteString(m.stateLabel())
	if r != nil && (r.seq > 0 || r.hasParams) {
		b.WriteString("  ")
		bar := func(frac float64) { m.bar(&b, frac) }
		switch total := r.total(); {
		case total > 0:
			bar(r.elapsed / total)
			b.WriteString(" " + fmtSeconds(r.elapsed) + "/" + fmtSeconds(total) + " s")
		case r.hasParams && r.params.Bytes > 0:
			// -n: progress is bytes.
			bar(float64(r.moved) / float64(r.params.Bytes))
			b.WriteString(" " + fmtBytes(r.moved) + "/" + fmtBytes(uint64(r.params.Bytes)) + " · " + fmtSeconds(r.elapsed) + " s")
		default:
			b.WriteString(fmtSeconds(r.elapsed) + " s")
		}
		switch {
		case r.udp() && r.udpPackets+uint64(max(r.udpLost, 0)) > 0:
			u := engine.UDPStats{Packets: r.udpPackets, Lost: r.udpLost}
			b.WriteString("  lost " + strconv.FormatInt(r.udpLost, 10) + " (" + fmtPercent(u.LostPercent()) + ")")
		case r.seq > 0 && r.hasSend && !r.udp():
			b.WriteString("  retr " + strconv.FormatUint(r.retr, 10))
		}
		if r.stalled > 0 {
			b.WriteString("  ")
			st.stalledTag.to(&b, " "+strconv.Itoa(r.stalled)+" STALLED ")
		}
		if r.failed > 0 {
			b.WriteString("  ")
			st.bad.to(&b, strconv.Itoa(r.failed)+" failed")
		}
	}
	if (m.view == viewList || m.view == viewMap) && r != nil && len(r.streams) > 0 {
		b.WriteString("  ")
		st.dim.to(&b, "sort: "+m.sortLabel())
		if m.filter {
			b.WriteString("  ")
			st.warn.to(&b, "filter: problems ("+strconv.Itoa(m.count())+")")
		}
	}
	m.pausedTo(&b)
	return append(out, m.truncate(a.String()), m.truncate(b.String()))
}

// bar is the header's progress bar at frac (0..1).
func (m *Model) bar(b *strings.Builder, frac float64) {
	n := int(min(max(frac, 0), 1)*20 + 0.5)
	m.st.accent.to(b, strings.Repeat("█", n))
	m.st.dim.to(b, strings.Repeat("░", 20-n))
}

// pausedTo adds the pause notice to the header's state line.
func (m *Model) pausedTo(b *strings.Builder) {
	if m.paused {
		b.WriteString("  ")
		m.st.paused.to(b, " PAUSED ")
		if n := len(m.queued); n > 0 {
			m.st.dim.to(b, " "+strconv.Itoa(n)+" samples held")
		}
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
func (m *Model) sumLabel() string {
	r := m.run
	if r.hasSend && r.hasRecv {
		return "↑ " + fmtRate(r.sumSend) + " ↓ " + fmtRate(r.sumRecv)
	}
	return fmtRate(r.sumNow())
}

// avgLabel is the finished test's average rate from its results.
func (m *Model) avgLabel() string {
	send, recv := endRates(m.run.end)
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

// stateLabel is the test's state, coloured.
func (m *Model) stateLabel() string {
	st, r := m.st, m.run
	if r == nil {
		if m.opts.Mode == ModeServer {
			if m.engineDone {
				return st.dim.wrap("▸ server stopped")
			}
			return st.dim.wrap("▸ waiting for a client")
		}
		return ""
	}
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
		s := "▸ done"
		if r.stopped {
			s += " (stopped early)"
		}
		if m.opts.Mode == ModeServer {
			if m.engineDone {
				return st.ok.wrap(s) + st.dim.wrap(" · server stopped")
			}
			return st.ok.wrap(s) + st.dim.wrap(" · waiting for the next client")
		}
		if !m.Ended() {
			return st.ok.wrap(s) + st.dim.wrap(" · other servers still running")
		}
		return st.ok.wrap(s) + st.dim.wrap(" · q to exit")
	case phaseFailed:
		return st.bad.wrap("▸ failed: " + r.failReason)
	}
	return st.dim.wrap("▸ waiting for a client")
}

// listView is the main screen below the header: chart, stream list,
// findings, history.
func (m *Model) listView(footer int) []string {
	if m.fleetAll() {
		return m.fleetListView(footer)
	}
	r := m.run
	findings := m.findingLines()
	nh := 0
	if m.opts.Mode == ModeServer {
		nh = len(m.history) + min(len(m.logs), 2)
		if nh > 0 {
			nh++ // its heading
		}
	}
	v := layoutScreen(m.height, m.headerH, len(findings), nh, footer)
	m.rowsH = v.rows
	m.clampList()
	lines := make([]string, 0, m.height)
	if v.chart > 0 {
		lines = append(lines, m.sumChart(v.chart)...)
	}
	if r == nil || len(r.streams) == 0 {
		lines = append(lines, m.st.dim.wrap(m.emptyNote()))
		for i := 1; i < v.listHead+v.rows; i++ {
			lines = append(lines, "")
		}
	} else {
		lines = append(lines, m.truncate(listHeader(m.st, m.lst)))
		lines = append(lines, m.rows(v.rows)...)
	}
	lines = append(lines, m.findingsPane(findings, v.findings)...)
	lines = append(lines, m.historyPane(v.history)...)
	return lines
}

func (m *Model) emptyNote() string {
	r := m.run
	switch {
	case m.opts.Mode == ModeServer && (r == nil || r.phase == phaseIdle):
		return "   waiting for a client to start a test"
	case r != nil && r.phase == phaseConnecting:
		return "   setting up the data connections…"
	case r != nil && r.phase == phaseFailed:
		return "   the test failed before any data moved"
	case r != nil && r.hasParams && r.params.Interval <= 0:
		return "   interval reports are off (-i 0): results appear at the end"
	}
	return "   no streams yet"
}

// rows draws the visible stream rows from their cache.
func (m *Model) rows(h int) []string {
	r := m.run
	top := r.sharedMax(m.lst.sparkW)
	if top != m.rowTop {
		m.rowTop = top
		m.rowKey++
	}
	out := make([]string, 0, h)
	n := m.count()
	for k := 0; k < h && m.offset+k < n; k++ {
		pos := m.offset + k
		idx := m.at(pos)
		s := &r.streams[idx]
		if s.line == "" || s.lineVer != s.ver || s.lineLayout != m.rowKey {
			s.line = renderRow(m.st, m.lst, r, idx, top, &m.scratch)
			s.lineVer, s.lineLayout = s.ver, m.rowKey
		}
		line := m.cutRow(s.line)
		if pos == m.cursor {
			out = append(out, m.st.sel.wrap("▸ ")+line)
		} else {
			out = append(out, "  "+line)
		}
	}
	if n == 0 && m.filter {
		out = append(out, m.st.ok.wrap("   no problem streams: none stalled, failed or below half the median rate"))
	}
	return out
}

// cutRow cuts a list row (without its cursor column) to the screen when
// even the narrowest columns do not fit.
func (m *Model) cutRow(line string) string {
	if !m.lst.overflow {
		return line
	}
	return ansi.Truncate(line, m.width-wCursor-1, "…")
}

// sumChart draws the SUM chart box, cached until a sample or the size
// changes.
func (m *Model) sumChart(h int) []string {
	if m.fleetAll() {
		return m.fleetChart(h)
	}
	r := m.run
	seq := -1
	if r != nil {
		seq = r.seq
	}
	key := [4]int{seq, m.width, h, int(m.view)}
	if key == m.chartKey && m.chart != nil {
		return m.chart
	}
	m.chartKey = key
	st := m.st
	var lines []series
	xMax, yMax := 10.0, 0.0
	title := st.heading.wrap("SUM")
	if r != nil {
		pts := r.chart
		if t := r.total(); t > 0 {
			xMax = t
		} else if len(pts) > 0 {
			xMax = max(niceCeil(pts[len(pts)-1].t), 1)
		}
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
	}
	body := drawChart(st, chartSpec{w: m.width - 2, h: h - 2, xMin: 0, xMax: xMax, yMax: yMax, lines: lines})
	m.chart = m.box(title, body)
	return m.chart
}

// findingLines is the findings pane's content: each finding's What, then
// its fix on a second line.
func (m *Model) findingLines() []string {
	var out []string
	for _, lf := range m.findingsOf() {
		f := lf.f
		sev := m.st.sev[min(int(f.Severity), 2)]
		out = append(out, m.truncate(sev.wrap(" "+sevMark(f.Severity)+" "+lf.server+f.What)))
		if f.Fix != "" {
			out = append(out, m.truncate(m.st.ok.wrap("     fix: ")+f.Fix))
		}
	}
	return out
}

// findingsPane shows the first h lines of the findings, the last one
// saying how many more the findings view (w) has.
func (m *Model) findingsPane(lines []string, h int) []string {
	if h <= 0 || len(lines) == 0 {
		return nil
	}
	if len(lines) <= h {
		return lines
	}
	out := slices.Clone(lines[:h-1])
	return append(out, m.st.dim.wrap("   … "+strconv.Itoa(len(lines)-h+1)+" more lines of findings: press w"))
}

func sevMark(s engine.Severity) string {
	switch s {
	case engine.Info:
		return "i"
	case engine.Warning:
		return "!"
	}
	return "!!"
}

// historyPane is the server's list of finished tests and its log.
func (m *Model) historyPane(h int) []string {
	if h <= 0 {
		return nil
	}
	out := []string{m.st.heading.wrap(" recent tests")}
	logs := m.logs[max(0, len(m.logs)-2):]
	room := h - 1
	nl := min(len(logs), max(0, room-len(m.history)))
	if len(m.history) > 0 && nl >= room {
		nl = max(0, room-1)
	}
	nt := room - nl
	hist := m.history[max(0, len(m.history)-nt):]
	for i := len(hist) - 1; i >= 0; i-- {
		out = append(out, m.truncate(m.historyLine(hist[i])))
	}
	for _, l := range logs[len(logs)-nl:] {
		out = append(out, m.truncate(m.st.dim.wrap("   log: "+l)))
	}
	if len(m.history) == 0 && nl == 0 {
		out = append(out, m.st.dim.wrap("   none yet"))
	}
	return out[:min(len(out), h)]
}

func (m *Model) historyLine(f finished) string {
	var b strings.Builder
	b.WriteString("   ")
	if !f.at.IsZero() {
		b.WriteString(f.at.Local().Format("15:04:05") + "  ")
	}
	b.WriteString(hostPort(f.host, f.port))
	b.WriteString("  " + strconv.Itoa(f.flows) + " flows " + f.dir)
	b.WriteString("  " + fmtSeconds(f.secs) + " s")
	if f.recv > 0 {
		b.WriteString("  recv " + fmtRate(f.recv))
	}
	if f.send > 0 {
		b.WriteString("  sent " + fmtRate(f.send))
	}
	if f.retr >= 0 {
		b.WriteString("  retr " + strconv.FormatInt(f.retr, 10))
	}
	if f.err != "" {
		return m.st.bad.wrap(b.String() + "  failed: " + f.err)
	}
	return b.String() + m.st.ok.wrap("  ok")
}

// summarize turns a finished server test into a history line.
func summarize(r *testRun, e *engine.End) finished {
	f := finished{at: r.began, host: r.host, port: r.port, secs: e.Seconds, retr: -1, flows: len(r.streams)}
	if r.hasParams {
		switch {
		case r.params.Bidir:
			f.dir = "↑↓ bidir"
		case r.params.Reverse:
			f.dir = "↑ send"
		default:
			f.dir = "↓ receive"
		}
	}
	for _, s := range e.Streams {
		if s.Dir == engine.Send && s.Retransmits >= 0 {
			f.retr = max(f.retr, 0) + s.Retransmits
		}
	}
	f.send, f.recv = endRates(e)
	if e.Err != nil {
		f.err = e.Err.Error()
	}
	return f
}
