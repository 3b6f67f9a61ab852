package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// Map classes: a stream's rate against the median, and the states that
// override it.
const (
	mapIdle    = iota // closed, connecting, or not measured yet
	mapSlow           // below half the median
	mapLow            // 0.5–0.8 × median
	mapMedian         // 0.8–1.25 × median
	mapFast           // above 1.25 × median
	mapStalled        // no bytes for the stall window
	mapFailed
	mapClasses
)

// Glyphs get denser with the rate so the map reads without colour too.
var mapGlyph = [mapClasses]string{
	mapIdle:    "·",
	mapSlow:    "░",
	mapLow:     "▒",
	mapMedian:  "▓",
	mapFast:    "█",
	mapStalled: "X",
	mapFailed:  "x",
}

// mapSelGlyph marks the cursor's cell.
const mapSelGlyph = "@"

var mapLegend = [mapClasses]string{
	mapIdle:    "idle",
	mapSlow:    "<0.5×",
	mapLow:     "0.5–0.8×",
	mapMedian:  "0.8–1.25×",
	mapFast:    ">1.25×",
	mapStalled: "stalled",
	mapFailed:  "failed",
}

// mapClass classifies one stream for the map.
func mapClass(s *stream, median float64) int {
	switch s.state {
	case engine.StateStalled:
		return mapStalled
	case engine.StateFailed:
		return mapFailed
	case engine.StateRunning:
	default:
		return mapIdle
	}
	if median <= 0 {
		if s.rate > 0 {
			return mapFast
		}
		return mapSlow
	}
	switch q := s.rate / median; {
	case q < 0.5:
		return mapSlow
	case q < 0.8:
		return mapLow
	case q <= 1.25:
		return mapMedian
	}
	return mapFast
}

// mapGeometry is the map's flows per row, rows on screen and cell width
// for a body of height h: two columns per flow when they all fit that way,
// else one.
func (m *Model) mapGeometry(h int) (cols, rows, cellW int) {
	rows = max(1, h-3)
	if w2 := (m.width - 2) / 2; m.count() <= w2*rows {
		return max(1, w2), rows, 2
	}
	return max(1, m.width-2), rows, 1
}

// mapView shows every stream as one cell, coloured by rate against the
// median, in the list's order.
func (m *Model) mapView(h int) []string {
	st := m.st
	r := m.run
	out := make([]string, 0, h)
	if r == nil || len(r.streams) == 0 {
		return append(out, st.dim.wrap("   no streams yet"))
	}
	med := m.medianRate()
	cols, rows, cw := m.mapGeometry(h)
	n := m.count()
	m.cursor = min(max(m.cursor, 0), max(n-1, 0))
	crow := m.cursor / cols
	m.offset = min(max(m.offset, 0), max((n+cols-1)/cols-rows, 0))
	if crow < m.offset {
		m.offset = crow
	}
	if crow >= m.offset+rows {
		m.offset = crow - rows + 1
	}
	var counts [mapClasses]int
	for i := range r.streams {
		counts[mapClass(&r.streams[i], med)]++
	}
	first, last := m.offset*cols, min(n, (m.offset+rows)*cols)
	info := " map · " + strconv.Itoa(len(r.streams)) + " flows, one cell each, rate against the median " + fmtRate(med)
	if first > 0 || last < n {
		info += " · showing " + strconv.Itoa(first+1) + "–" + strconv.Itoa(last) + " of " + strconv.Itoa(n)
	}
	out = append(out, m.truncate(st.heading.wrap(info)))
	var b strings.Builder
	for row := 0; row < rows; row++ {
		b.Reset()
		b.WriteByte(' ')
		for c := 0; c < cols; c++ {
			pos := (m.offset+row)*cols + c
			if pos >= n {
				break
			}
			cl := mapClass(&r.streams[m.at(pos)], med)
			switch {
			case pos == m.cursor && cw == 2:
				b.WriteString(st.mapSel2[cl])
			case pos == m.cursor:
				b.WriteString(st.mapSel[cl])
			case cw == 2:
				b.WriteString(st.mapCell2[cl])
			default:
				b.WriteString(st.mapCell[cl])
			}
		}
		out = append(out, b.String())
	}
	for _, sep := range []string{"  ", " "} {
		b.Reset()
		b.WriteByte(' ')
		for c := 0; c < mapClasses; c++ {
			b.WriteString(st.mapCell[c])
			b.WriteString(" " + mapLegend[c] + " " + strconv.Itoa(counts[c]) + sep)
		}
		if ansi.StringWidth(b.String()) <= m.width {
			break
		}
	}
	out = append(out, m.truncate(b.String()))
	if n > 0 {
		s := &r.streams[m.at(m.cursor)]
		line := " @ stream " + strconv.Itoa(s.id) + " " + dirGlyph(s.dir) + " " + fmtRate(s.rate) + " · " + stateText(s)
		if med > 0 && s.state == engine.StateRunning {
			line += " · " + strconv.FormatFloat(s.rate/med, 'f', 2, 64) + "× median"
		}
		out = append(out, m.truncate(st.sel.wrap(line)+st.dim.wrap("   enter: detail")))
	}
	return out
}

func (m *Model) mapKey(k tea.KeyMsg) tea.Cmd {
	if m.viewKeys(k) {
		return nil
	}
	m.updateOrder()
	km := &m.keys
	cols, rows, _ := m.mapGeometry(m.height - m.headerH - len(m.footer()))
	switch {
	case key.Matches(k, km.Left):
		m.cursor--
	case key.Matches(k, km.Right):
		m.cursor++
	case key.Matches(k, km.Up):
		if m.cursor >= cols {
			m.cursor -= cols
		}
	case key.Matches(k, km.Down):
		if m.cursor+cols < m.count() {
			m.cursor += cols
		}
	case key.Matches(k, km.PageUp):
		m.cursor -= cols * rows
	case key.Matches(k, km.PageDown):
		m.cursor += cols * rows
	case key.Matches(k, km.Top):
		m.cursor = 0
	case key.Matches(k, km.Bottom):
		m.cursor = m.count() - 1
	case key.Matches(k, km.Back):
		m.view = viewList
	}
	m.cursor = min(max(m.cursor, 0), max(m.count()-1, 0))
	if m.view == viewList {
		m.offset = m.cursor
		m.clampList()
	}
	return nil
}

// detailView is one stream: a large chart of its rate and every field we
// have for it.
func (m *Model) detailView(h int) []string {
	st := m.st
	r := m.run
	if r == nil || m.detail >= len(r.streams) {
		return []string{st.dim.wrap("   no stream selected")}
	}
	s := &r.streams[m.detail]
	var fields, wide []field
	for _, f := range m.detailFields(s) {
		if f.wide() {
			wide = append(wide, f)
		} else {
			fields = append(fields, f)
		}
	}
	half := (len(fields) + 1) / 2
	chartH := max(h-half-len(wide)-1, 6)
	if chartH > h-3 {
		chartH = h
	}
	// The chart: this stream's last histLen intervals.
	vals := r.history(m.detail, histLen, nil)
	n := len(vals)
	times := make([]float64, n)
	for k := 0; k < n; k++ {
		times[k] = float64(r.times[(r.head-n+k+histLen)%histLen])
	}
	xMin, xMax := 0.0, 10.0
	if t := r.total(); t > 0 {
		xMax = t
	}
	if n > 0 {
		xMax = max(xMax, times[n-1])
		if r.n == histLen {
			xMin = times[0]
			xMax = times[n-1]
		}
	}
	yMax := 0.0
	for _, v := range vals {
		yMax = max(yMax, float64(v))
	}
	p := st.sendLine
	if s.dir == engine.Recv {
		p = st.recvLine
	}
	if s.state == engine.StateStalled || s.state == engine.StateFailed {
		p = st.sparkBad
	}
	title := st.heading.wrap("stream "+strconv.Itoa(s.id)) + " " + dirGlyph(s.dir) + " " + s.dir.String() + " · " + fmtRate(s.rate)
	if s.state == engine.StateStalled {
		title += " " + st.stalledTag.wrap(" STALLED "+fmtDur(s.stalledFor)+" ")
	}
	var lines []series
	if n > 0 {
		lines = []series{{n: n, at: func(i int) (float64, float64) { return times[i], float64(vals[i]) }, paint: p}}
	}
	out := m.box(title, drawChart(st, chartSpec{w: m.width - 2, h: chartH - 2, xMin: xMin, xMax: xMax, yMax: yMax, lines: lines}))
	colW := (m.width - 2) / 2
	for i := 0; i < half && len(out) < h; i++ {
		var b strings.Builder
		b.WriteByte(' ')
		writeField(&b, st, fields[i], colW)
		if j := i + half; j < len(fields) {
			writeField(&b, st, fields[j], colW)
		}
		out = append(out, m.truncate(b.String()))
	}
	for _, f := range wide {
		if len(out) >= h {
			break
		}
		var b strings.Builder
		b.WriteByte(' ')
		writeField(&b, st, f, m.width-2)
		out = append(out, m.truncate(b.String()))
	}
	return out
}

type field struct {
	label, value string
	bad          bool
}

// wide fields get a line of their own under the two columns.
func (f field) wide() bool { return f.label == "why stalled" || f.label == "error" }

const fieldLabelW = 20

func writeField(b *strings.Builder, st *styles, f field, w int) {
	var c strings.Builder
	padR(&c, f.label, fieldLabelW)
	st.dim.to(b, c.String())
	v := cut(f.value, max(1, w-fieldLabelW-1))
	if f.bad {
		st.bad.to(b, v)
	} else {
		b.WriteString(v)
	}
	for n := fieldLabelW + ansi.StringWidth(v); n < w; n++ {
		b.WriteByte(' ')
	}
}

// detailFields lists everything the engine reports about a stream.
func (m *Model) detailFields(s *stream) []field {
	r := m.run
	bad := s.state == engine.StateStalled || s.state == engine.StateFailed
	fs := []field{
		{"state", stateText(s), bad},
		{"rate", fmtRate(s.rate), false},
	}
	if sum := r.sumSend + r.sumRecv; sum > 0 {
		fs = append(fs, field{"share of SUM", strconv.FormatFloat(100*s.rate/sum, 'f', 1, 64) + " %", false})
	}
	if med := m.medianRate(); med > 0 {
		fs = append(fs, field{"vs median", strconv.FormatFloat(s.rate/med, 'f', 2, 64) + "×  (median " + fmtRate(med) + ")", false})
	}
	moved := "written"
	if s.dir == engine.Recv {
		moved = "read"
	}
	fs = append(fs,
		field{moved + " (interval)", fmtBytes(s.bytes), false},
		field{"total", fmtBytes(s.total), false},
	)
	tcp := s.dir == engine.Send && s.tcp.Valid
	if s.hasUDP {
		u := s.udp
		fs = append(fs, field{"datagrams", fmtCount(u.Packets) + " (test " + fmtCount(s.packets) + ")", false})
		if s.dir == engine.Recv {
			tot := engine.UDPStats{Packets: s.packets, Lost: s.lost}
			fs = append(fs,
				field{"lost", strconv.FormatInt(u.Lost, 10) + " = " + fmtPercent(u.LostPercent()) + " (test " + strconv.FormatInt(s.lost, 10) + " = " + fmtPercent(tot.LostPercent()) + ")", u.Lost > 0},
				field{"jitter", fmtJitter(u.Jitter), false},
				field{"out of order", strconv.FormatUint(u.OutOfOrder, 10), false},
				field{"duplicates", strconv.FormatUint(u.Duplicates, 10), false},
				field{"malformed", strconv.FormatUint(u.Malformed, 10), u.Malformed > 0},
			)
		} else {
			fs = append(fs,
				field{"send errors", strconv.FormatUint(u.SendErrors, 10), u.SendErrors > 0},
				field{"behind schedule", fmtCount(u.Behind) + " datagrams", u.Behind > 0},
			)
		}
	} else if tcp {
		fs = append(fs,
			field{"acked (interval)", fmtBytes(s.acked), false},
			field{"bytes_acked", fmtBytes(s.tcp.BytesAcked), false},
			field{"retransmits", strconv.FormatUint(s.retr, 10) + " (last interval " + strconv.FormatUint(s.tcp.Retransmits, 10) + ")", false},
			field{"rtt / rttvar", fmtRTT(s.tcp.RTT) + " / " + fmtRTT(s.tcp.RTTVar), false},
			field{"snd_cwnd", fmtBytes(s.tcp.SndCwnd), false},
			field{"peer window", fmtBytes(s.tcp.SndWnd), s.tcp.SndWnd == 0},
			field{"path MTU", strconv.FormatUint(uint64(s.tcp.PMTU), 10), false},
		)
	} else {
		fs = append(fs, field{"TCP_INFO", "read on the sending side only", false})
	}
	if s.state == engine.StateStalled {
		why := s.reason
		if why == "" {
			why = "not diagnosed (the engine gave no reason)"
		}
		fs = append(fs, field{"stalled for", fmtDur(s.stalledFor), true}, field{"why stalled", why, true})
	}
	if s.err != "" {
		fs = append(fs, field{"error", s.err, true})
	}
	if s.connect > 0 {
		fs = append(fs, field{"connect time", fmtRTT(uint32(min(s.connect.Microseconds(), 1<<31))), false})
	}
	if s.local != nil {
		fs = append(fs, field{"local", s.local.String(), false})
	}
	if s.remote != nil {
		fs = append(fs, field{"remote", s.remote.String(), false})
	}
	return fs
}

// findingsView lists every finding in full: what, evidence, fix.
func (m *Model) findingsView(h int) []string {
	st := m.st
	var all []string
	for _, lf := range m.findingsOf() {
		f := lf.f
		sev := st.sev[min(int(f.Severity), 2)]
		all = append(all, wrapText(sev.wrap(" "+sevMark(f.Severity)+" "+f.Severity.String()+": ")+lf.server+f.What, m.width, "     ")...)
		if f.Evidence != "" {
			all = append(all, wrapText(st.dim.wrap("     evidence: ")+f.Evidence, m.width, "     ")...)
		}
		if f.Fix != "" {
			all = append(all, wrapText(st.ok.wrap("     fix: ")+f.Fix, m.width, "     ")...)
		}
		all = append(all, "")
	}
	out := []string{st.heading.wrap(" findings")}
	if len(all) == 0 {
		return append(out, m.truncate(st.dim.wrap("   none: the engine has reported nothing unusual")))
	}
	room := max(1, h-1)
	m.findOff = min(m.findOff, max(0, len(all)-room))
	return append(out, all[m.findOff:min(len(all), m.findOff+room)]...)
}

// wrapText wraps a styled line to width, indenting continuation lines.
func wrapText(s string, width int, indent string) []string {
	w := ansi.Wrap(s, max(10, width-1), " ")
	lines := strings.Split(w, "\n")
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + strings.TrimLeft(lines[i], " ")
		if ansi.StringWidth(lines[i]) > width {
			lines[i] = ansi.Truncate(lines[i], width-1, "…")
		}
	}
	return lines
}
