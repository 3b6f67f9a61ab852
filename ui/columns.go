package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// Stream list columns, in screen order.
const (
	colTotal = iota
	colRetr
	colRTT
	colCwnd
	numOptCols
)

// Fixed column widths, each including the space after it.
const (
	wCursor   = 2
	wID       = 6
	wDir      = 3
	wRate     = 12
	wTotal    = 9
	wRetr     = 6
	wRTT      = 8
	wCwnd     = 7
	sparkMin  = 12
	sparkMax  = 60
	stateMin  = 20
	statePref = 30
	// sparkFloor is how far the sparkline shrinks to keep a stall reason
	// whole before optional columns are dropped for it; stateMax bounds
	// what a row's state may ask for.
	sparkFloor = 4
	stateMax   = 64
)

var optWidth = [numOptCols]int{colTotal: wTotal, colRetr: wRetr, colRTT: wRTT, colCwnd: wCwnd}

// dropOrder is which optional columns a narrow terminal gives up first.
var dropOrder = [numOptCols]int{colCwnd, colRTT, colTotal, colRetr}

// listLayout is the stream list's column plan for one terminal width.
type listLayout struct {
	width  int
	need   int // the state cell width asked for (layoutList's need)
	tcp    bool
	udp    bool // LOSS, JITTER and PKTS take the TCP columns' places
	show   [numOptCols]bool
	sparkW int
	stateW int
	// overflow: the narrowest columns are wider than the terminal, so
	// rows are cut to it.
	overflow bool
}

// layoutList fits the columns into width: optional columns are dropped
// (CWND, then RTT, TOTAL, RETR) until the sparkline and state columns have
// their minimum; what is left is shared between them. need is the widest
// state a row has to show (a stall and its reason): the sparkline gives
// way to it down to sparkFloor cells, then optional columns in the same
// order, so a reason is cut only when nothing else can give. Without
// streams there are no TCP columns (tcp false).
func layoutList(width int, tcp, udp bool, need int) listLayout {
	need = min(need, stateMax)
	l := listLayout{width: width, need: need, tcp: tcp || udp, udp: udp}
	tcp = l.tcp
	fixed := wCursor + wID + wDir + wRate + 1 // +1: the space after the sparkline
	for c := range l.show {
		if c != colTotal && !tcp {
			continue
		}
		l.show[c] = true
		fixed += optWidth[c]
	}
	for _, c := range dropOrder {
		if fixed+sparkMin+stateMin <= width {
			break
		}
		if !l.show[c] {
			continue
		}
		l.show[c] = false
		fixed -= optWidth[c]
	}
	avail := max(width-fixed, sparkMin+stateMin)
	l.overflow = fixed+avail > width
	l.stateW = min(max(statePref, need), avail-sparkMin)
	l.sparkW = min(sparkMax, avail-l.stateW)
	l.stateW = avail - l.sparkW
	if l.stateW < need && !l.overflow {
		give := min(need-l.stateW, l.sparkW-sparkFloor)
		l.sparkW -= give
		l.stateW += give
	}
	dropped := false
	for _, c := range dropOrder {
		if l.stateW >= need || l.overflow {
			break
		}
		if l.show[c] {
			l.show[c], dropped = false, true
			l.stateW += optWidth[c]
		}
	}
	if dropped {
		// What the state does not need goes back to the sparkline.
		both := l.sparkW + l.stateW
		l.stateW = min(max(statePref, need), both-sparkFloor)
		l.sparkW = min(sparkMax, both-l.stateW)
		l.stateW = both - l.sparkW
	}
	return l
}

// padL right-aligns s in w cells (every rune we print is one cell wide).
func padL(b *strings.Builder, s string, w int) {
	for n := utf8.RuneCountInString(s); n < w; n++ {
		b.WriteByte(' ')
	}
	b.WriteString(s)
}

// cut shortens s to at most w cells, ending it with "…" when it was cut.
func cut(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	k := 0
	for i := range s {
		if k == w-1 {
			return s[:i] + "…"
		}
		k++
	}
	return s
}

// padR left-aligns s in w cells, cutting it with "…" when too long.
func padR(b *strings.Builder, s string, w int) {
	s = cut(s, w)
	b.WriteString(s)
	for n := utf8.RuneCountInString(s); n < w; n++ {
		b.WriteByte(' ')
	}
}

// listHeader is the column heading line.
func listHeader(st *styles, l listLayout) string {
	var b strings.Builder
	b.WriteString("  ")
	padL(&b, "ID", wID-1)
	b.WriteString(" DIR")
	padL(&b, "RATE", wRate-2)
	b.WriteString("  ")
	spark := "LAST " + strconv.Itoa(l.sparkW) + " INTERVALS"
	if len(spark) > l.sparkW {
		spark = "LAST " + strconv.Itoa(l.sparkW)
	}
	if len(spark) > l.sparkW+1 {
		spark = "" // a sparkline squeezed for a stall's reason
	}
	padR(&b, spark, l.sparkW+1)
	if l.show[colTotal] {
		padL(&b, "TOTAL", wTotal-1)
		b.WriteByte(' ')
	}
	names := [numOptCols]string{colRetr: "RETR", colRTT: "RTT", colCwnd: "CWND"}
	if l.udp {
		names = [numOptCols]string{colRetr: "LOSS", colRTT: "JITTER", colCwnd: "PKTS"}
	}
	for _, c := range [...]int{colRetr, colRTT, colCwnd} {
		if l.show[c] {
			padL(&b, names[c], optWidth[c]-1)
			b.WriteByte(' ')
		}
	}
	padR(&b, "STATE", l.stateW)
	return st.heading.wrap(b.String())
}

var sparkRunes = [9]string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// sparkline writes one block-rune sparkline of exactly w cells: the values
// right-aligned (newest at the right) on the scale 0..top. Any non-zero
// value shows at least the lowest block, so only true zeros are blank.
func sparkline(b *strings.Builder, vals []float32, w int, top float64) {
	for i := len(vals); i < w; i++ {
		b.WriteByte(' ')
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	for _, v := range vals {
		lvl := 0
		if v > 0 && top > 0 {
			lvl = int(float64(v)/top*8 + 0.5)
			lvl = min(max(lvl, 1), 8)
		}
		b.WriteString(sparkRunes[lvl])
	}
}

// dirGlyph is a stream's direction seen from this side.
func dirGlyph(d engine.Dir) string {
	if d == engine.Send {
		return "↑"
	}
	return "↓"
}

// stateText is the stream's state in words: the STATE column's text and
// the detail view's.
func stateText(s *stream) string {
	switch {
	case s.endedStalled && s.state == engine.StateFailed:
		return "FAILED after STALLED " + fmtDur(s.stalledFor) + reasonSuffix(s.reason)
	case s.endedStalled:
		return "STALLED " + fmtDur(s.stalledFor) + " to the end" + reasonSuffix(s.reason)
	}
	switch s.state {
	case engine.StateStalled:
		return "STALLED " + fmtDur(s.stalledFor) + reasonSuffix(s.reason)
	case engine.StateFailed:
		if s.err != "" {
			return "FAILED: " + s.err
		}
		return "FAILED"
	case engine.StateConnecting:
		return "connecting"
	case engine.StateClosed:
		return "closed"
	}
	if !s.sampled {
		return "starting"
	}
	return "ok"
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + shortReason(r)
}

// stallCell is a stalled stream's STATE cell: the tag (drawn as a badge)
// and the short reason after it.
func stallCell(s *stream) (tag, why string) {
	tag = "!! STALLED " + fmtDur(s.stalledFor)
	switch {
	case s.endedStalled && s.state == engine.StateFailed:
		tag = "!! FAILED, STALLED " + fmtDur(s.stalledFor)
	case s.endedStalled:
		tag += ", closed"
	}
	if s.reason != "" {
		why = shortReason(s.reason)
	}
	return tag, why
}

// isStallCell reports whether the row draws its state as a stall badge.
func isStallCell(s *stream) bool {
	return s.state == engine.StateStalled || s.endedStalled
}

// stateWidth is the cells a problem stream's STATE needs: a stall's badge
// and short reason whole; a failure's error up to the usual width (the
// status line and the detail view have it whole).
func stateWidth(s *stream) int {
	if isStallCell(s) {
		tag, why := stallCell(s)
		n := utf8.RuneCountInString(tag)
		if why != "" {
			n += 1 + utf8.RuneCountInString(why)
		}
		return n
	}
	return min(utf8.RuneCountInString(stateText(s)), statePref)
}

// noValues is the optional columns of a row with nothing to show.
var noValues = [numOptCols]string{colRetr: "—", colRTT: "—", colCwnd: "—"}

// leadCellsTo writes a row's first columns: its id, direction and rate.
func leadCellsTo(b *strings.Builder, id, dir, rate string) {
	padL(b, id, wID-1)
	b.WriteString(" " + dir + "  ")
	padL(b, rate, wRate-1)
	b.WriteByte(' ')
}

// optCellsTo writes, after the sparkline, the optional columns the layout
// shows: TOTAL (bytes moved), then vals for RETR, RTT and CWND (LOSS,
// JITTER and PKTS in a UDP test).
func optCellsTo(b *strings.Builder, l listLayout, total uint64, vals [numOptCols]string) {
	b.WriteByte(' ')
	if l.show[colTotal] {
		padL(b, fmtBytes(total), wTotal-1)
		b.WriteByte(' ')
	}
	for _, c := range [...]int{colRetr, colRTT, colCwnd} {
		if l.show[c] {
			padL(b, vals[c], optWidth[c]-1)
			b.WriteByte(' ')
		}
	}
}

// renderRow builds one stream's row (without the cursor column). scratch
// is reused for the sparkline's values.
func renderRow(st *styles, l listLayout, r *testRun, idx int, top float64, scratch *[]float32) string {
	s := &r.streams[idx]
	bad := s.bad()
	var b strings.Builder
	b.Grow(l.width * 3)
	var cells strings.Builder
	leadCellsTo(&cells, strconv.Itoa(s.id), dirGlyph(s.dir), fmtRate(s.rate))
	if bad {
		st.bad.to(&b, cells.String())
	} else {
		b.WriteString(cells.String())
	}
	*scratch = r.history(idx, l.sparkW, *scratch)
	cells.Reset()
	sparkline(&cells, *scratch, l.sparkW, top)
	if bad {
		st.sparkBad.to(&b, cells.String())
	} else {
		st.spark.to(&b, cells.String())
	}
	cells.Reset()
	vals := rowValues(s)
	optCellsTo(&cells, l, s.total, vals)
	if bad {
		st.stalledRow.to(&b, cells.String())
	} else {
		b.WriteString(cells.String())
	}
	cells.Reset()
	switch {
	case isStallCell(s):
		tag, why := stallCell(s)
		tag = cut(tag, l.stateW)
		st.stalledTag.to(&b, tag)
		n := utf8.RuneCountInString(tag)
		if why != "" && n+3 < l.stateW {
			why = cut(" "+why, l.stateW-n)
			st.stalledRow.to(&b, why)
			n += utf8.RuneCountInString(why)
		}
		for ; n < l.stateW; n++ {
			b.WriteByte(' ')
		}
	case s.state == engine.StateFailed:
		padR(&cells, stateText(s), l.stateW)
		st.failedTag.to(&b, cells.String())
	case s.state == engine.StateRunning && s.sampled:
		padR(&cells, stateText(s), l.stateW)
		st.ok.to(&b, cells.String())
	default:
		padR(&cells, stateText(s), l.stateW)
		st.dim.to(&b, cells.String())
	}
	return b.String()
}

// rowValues is a row's RETR, RTT and CWND (LOSS, JITTER and PKTS in a UDP
// test) from whichever end has them: this side's kernel for a stream it
// sends, the sender's (a flowscope peer's report) for one it receives; a
// UDP receiver's own counters, or for a UDP sender the receiver's report.
func rowValues(s *stream) [numOptCols]string {
	vals := noValues
	switch {
	case s.hasUDP:
		switch {
		case s.dir == engine.Recv:
			vals[colRetr] = fmtPercent(s.udp.LostPercent())
			vals[colRTT] = fmtJitter(s.udp.Jitter)
		case s.hasPeerUDP:
			vals[colRetr] = fmtPercent(s.peerUDP.LostPercent())
			vals[colRTT] = fmtJitter(s.peerUDP.Jitter)
		}
		vals[colCwnd] = fmtCount(s.udp.Packets)
	case s.dir == engine.Send && s.tcp.Valid:
		vals[colRetr] = strconv.FormatUint(s.retr, 10)
		vals[colRTT] = fmtRTT(s.tcp.RTT)
		vals[colCwnd] = fmtSize(s.tcp.SndCwnd)
	case s.dir == engine.Recv && s.hasPeer && s.peer.TCP.Valid:
		vals[colRetr] = strconv.FormatUint(s.retr, 10)
		vals[colRTT] = fmtRTT(s.peer.TCP.RTT)
		vals[colCwnd] = fmtSize(s.peer.TCP.SndCwnd)
	}
	return vals
}

// shortReason is the stable phrase a stall reason starts with ("peer
// window 0", "retransmission timeouts"), without the numbers after it; the
// detail view shows the whole reason.
func shortReason(r string) string {
	if i := strings.IndexAny(r, ":("); i > 0 {
		return strings.TrimSpace(r[:i])
	}
	return r
}

// rowCache is a list's column plan, its sparklines' scale, and the key
// under which stream rows drawn with both are cached in the streams.
type rowCache struct {
	lst     listLayout
	key     uint32
	top     float64
	scratch []float32
}

// layout plans the columns for the screen's width, the test's kind and
// the widest state a row needs.
func (c *rowCache) layout(e *env, tcp, udp bool, need int) {
	need = min(need, stateMax)
	if c.key == 0 || c.lst.width != e.width || c.lst.tcp != (tcp || udp) || c.lst.udp != udp || c.lst.need != need {
		c.lst = layoutList(e.width, tcp, udp, need)
		c.key = e.newRowKey()
	}
}

// scale sets the sparklines' shared top rate.
func (c *rowCache) scale(e *env, top float64) {
	if top != c.top {
		c.top = top
		c.key = e.newRowKey()
	}
}

// row is run r's stream idx as a list row (without the cursor column),
// drawn again only when the stream or the layout changed.
func (c *rowCache) row(e *env, r *testRun, idx int) string {
	s := &r.streams[idx]
	if s.line == "" || s.lineVer != s.ver || s.lineLayout != c.key {
		s.line = renderRow(e.st, c.lst, r, idx, c.top, &c.scratch)
		s.lineVer, s.lineLayout = s.ver, c.key
	}
	return c.cut(e, s.line)
}

// cut cuts a list row (without its cursor column) to the screen when even
// the narrowest columns do not fit.
func (c *rowCache) cut(e *env, line string) string {
	if !c.lst.overflow {
		return line
	}
	return ansi.Truncate(line, e.width-wCursor-1, "…")
}
