package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// env is what every screen of one Model shares: the styles and keys, the
// terminal's size, the list's order settings (they stay as set while the
// user moves between tests or servers), and the program's state that
// headers show.
type env struct {
	st            *styles
	keys          KeyMap
	width, height int
	order         listOrder
	// The header's and the footer's heights in the last frame.
	headerH, footerH int

	paused   bool
	held     int  // samples held while paused
	stopping bool // q was pressed (or StopMsg arrived)
	// engineDone: the engine call returned (DoneMsg).
	engineDone bool

	rowKeys uint32 // the last row layout key handed out
}

// listOrder is how stream lists are sorted and filtered.
type listOrder struct {
	sort    sortKey
	reverse bool
	filter  bool
}

type sortKey int

const (
	sortID sortKey = iota
	sortRate
	sortRetr
	sortState
	numSortKeys
)

var sortNames = [numSortKeys]string{"id", "rate (slowest first)", "retransmits (most first)", "state (worst first)"}
var sortNamesRev = [numSortKeys]string{"id (descending)", "rate (fastest first)", "retransmits (fewest first)", "state (best first)"}

// label describes the order for the header.
func (o listOrder) label() string {
	if o.reverse {
		return sortNamesRev[o.sort]
	}
	return sortNames[o.sort]
}

// newRowKey is a row layout key no screen used before: a screen takes a
// new one when its columns or sparkline scale change, and stream rows
// cached under another key are drawn again.
func (e *env) newRowKey() uint32 {
	e.rowKeys++
	return e.rowKeys
}

// truncate cuts a styled line to the screen width.
func (e *env) truncate(s string) string {
	if ansi.StringWidth(s) <= e.width {
		return s
	}
	return ansi.Truncate(s, e.width-1, "…")
}

// fit returns the first of n variants of a line, from the fullest to the
// most compact, that fits the screen width (the last one if none does).
func (e *env) fit(n int, variant func(compact int) string) string {
	var s string
	for c := 0; c < n; c++ {
		if s = variant(c); ansi.StringWidth(s) <= e.width {
			break
		}
	}
	return s
}

// box draws a rounded frame with a title around lines of width w-2.
func (e *env) box(title string, body []string) []string {
	w := e.width
	out := make([]string, 0, len(body)+2)
	t := "╭─ " + title + " "
	tw := ansi.StringWidth(t)
	if tw > w-2 {
		t = ansi.Truncate(t, w-2, "…")
		tw = ansi.StringWidth(t)
	}
	out = append(out, e.st.border.wrap("╭─ ")+title+e.st.border.wrap(" "+strings.Repeat("─", max(0, w-1-tw))+"╮"))
	side := e.st.border.wrap("│")
	for _, l := range body {
		pad := w - 2 - ansi.StringWidth(l)
		if pad < 0 {
			l = ansi.Truncate(l, w-2, "")
			pad = 0
		}
		out = append(out, side+l+strings.Repeat(" ", pad)+side)
	}
	out = append(out, e.st.border.wrap("╰"+strings.Repeat("─", max(0, w-2))+"╯"))
	return out
}

// bar is the header's progress bar at frac (0..1).
func (e *env) bar(b *strings.Builder, frac float64) {
	n := int(min(max(frac, 0), 1)*20 + 0.5)
	e.st.accent.to(b, strings.Repeat("█", n))
	e.st.dim.to(b, strings.Repeat("░", 20-n))
}

// pausedTo adds the pause notice to a header's state line.
func (e *env) pausedTo(b *strings.Builder) {
	if e.paused {
		b.WriteString("  ")
		e.st.paused.to(b, " PAUSED ")
		if e.held > 0 {
			e.st.dim.to(b, " "+strconv.Itoa(e.held)+" samples held")
		}
	}
}

// markRow puts the cursor column in front of a list row.
func (e *env) markRow(line string, selected bool) string {
	if selected {
		return e.st.sel.wrap("▸ ") + line
	}
	return "  " + line
}

// clampWindow keeps cursor inside a list of n rows and the window of h
// rows that starts at offset around it.
func clampWindow(cursor, offset, n, h int) (int, int) {
	h = max(1, h)
	cursor = min(max(cursor, 0), max(n-1, 0))
	offset = min(max(offset, 0), max(n-h, 0))
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+h {
		offset = cursor - h + 1
	}
	return cursor, offset
}
