package ui

import (
	"strconv"
	"strings"
	"unicode/utf8"

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
)

var optWidth = [numOptCols]int{colTotal: wTotal, colRetr: wRetr, colRTT: wRTT, colCwnd: wCwnd}

// dropOrder is which optional columns a narrow terminal gives up first.
var dropOrder = [numOptCols]int{colCwnd, colRTT, colTotal, colRetr}

// listLayout is the stream list's column plan for one terminal width.
type listLayout struct {
	width  int
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
// their minimum; what is left is shared between them. Without sending
// streams (only they have TCP_INFO) RETR, RTT and CWND are left out.
func layoutList(width int, tcp, udp bool) listLayout {
	l := listLayout{width: width, tcp: tcp || udp, udp: udp}
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
	l.stateW = min(statePref, avail-sparkMin)
	l.sparkW = min(sparkMax, avail-l.stateW)
	l.stateW = avail - l.sparkW
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

// stateText is the STATE column's text and whether it is a problem.
func stateText(s *stream) string {
	switch s.state {
	case engine.StateStalled:
		if s.reason != "" {
			return "STALLED " + fmtDur(s.stalledFor) + ": " + shortReason(s.reason)
		}
		return "STALLED " + fmtDur(s.stalledFor)
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
	return "ok"
}

// renderRow builds one stream's row (without the cursor column). scratch
// is reused for the sparkline's values.
func renderRow(st *styles, l listLayout, r *testRun, idx int, top float64, scratch *[]float32) string {
	s := &r.streams[idx]
	bad := s.state == engine.StateStalled || s.state == engine.StateFailed
	var b strings.Builder
	b.Grow(l.width * 3)
	var cells strings.Builder
	padL(&cells, strconv.Itoa(s.id), wID-1)
	cells.WriteByte(' ')
	cells.WriteString(dirGlyph(s.dir))
	cells.WriteString("  ")
	padL(&cells, fmtRate(s.rate), wRate-1)
	cells.WriteByte(' ')
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
	cells.WriteByte(' ')
	if l.show[colTotal] {
		padL(&cells, fmtBytes(s.total), wTotal-1)
		cells.WriteByte(' ')
	}
	vals := [numOptCols]string{colRetr: "—", colRTT: "—", colCwnd: "—"}
	switch {
	case s.hasUDP:
		if s.dir == engine.Recv {
			vals[colRetr] = fmtPercent(s.udp.LostPercent())
			vals[colRTT] = fmtJitter(s.udp.Jitter)
		}
		vals[colCwnd] = fmtCount(s.udp.Packets)
	case s.dir == engine.Send && s.tcp.Valid:
		vals[colRetr] = strconv.FormatUint(s.retr, 10)
		vals[colRTT] = fmtRTT(s.tcp.RTT)
		vals[colCwnd] = fmtSize(s.tcp.SndCwnd)
	}
	for _, c := range [...]int{colRetr, colRTT, colCwnd} {
		if l.show[c] {
			padL(&cells, vals[c], optWidth[c]-1)
			cells.WriteByte(' ')
		}
	}
	if bad {
		st.stalledRow.to(&b, cells.String())
	} else {
		b.WriteString(cells.String())
	}
	cells.Reset()
	text := stateText(s)
	switch s.state {
	case engine.StateStalled:
		tag := cut("!! STALLED "+fmtDur(s.stalledFor), l.stateW)
		st.stalledTag.to(&b, tag)
		n := utf8.RuneCountInString(tag)
		if s.reason != "" && n+3 < l.stateW {
			why := cut(" "+shortReason(s.reason), l.stateW-n)
			st.stalledRow.to(&b, why)
			n += utf8.RuneCountInString(why)
		}
		for ; n < l.stateW; n++ {
			b.WriteByte(' ')
		}
	case engine.StateFailed:
		padR(&cells, text, l.stateW)
		st.failedTag.to(&b, cells.String())
	case engine.StateRunning:
		padR(&cells, text, l.stateW)
		st.ok.to(&b, cells.String())
	default:
		padR(&cells, text, l.stateW)
		st.dim.to(&b, cells.String())
	}
	return b.String()
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
