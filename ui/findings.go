package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// labelled is a finding, the server it came from ("" for the test on
// screen; "host:port: " in a fleet's overview) and when that server's test
// ended (-1: it runs), which tells a finding that recovered from one that
// held to the end.
type labelled struct {
	server string
	f      engine.Finding
	end    time.Duration
}

// label makes a labelled finding as the screen of a test's side shows it:
// its What says which end made it when that is the other end ("server: …"
// on a client).
func label(server string, side engine.Side, f engine.Finding, end time.Duration) labelled {
	f.What = f.Headline(side.Origin())
	return labelled{server, f, end}
}

// past reports whether the finding held for a while and no longer does.
// Instant ones (setup facts) are neither current nor past: they stay
// true.
func (lf labelled) past() bool {
	sp := lf.f.Span
	return sp.Ended && sp.End != sp.Start
}

// outcome is how a past finding ended: it recovered while the test ran,
// or it held until the test ended.
func (lf labelled) outcome() string {
	if lf.end >= 0 && lf.f.Span.End >= lf.end-time.Millisecond {
		return "until the end"
	}
	return "recovered"
}

// headline is a finding's line in the pane and the view: the server (in
// a fleet's overview), when, then what; a past finding says how it ended.
func (lf labelled) headline() string {
	s := lf.server + lf.f.Span.String() + ": " + lf.f.What
	if lf.past() {
		s += " — " + lf.outcome()
	}
	return s
}

// findingLines is the findings pane's content, one group of lines per
// note or finding, current findings first: each finding's time and What,
// then its fix, both wrapped to the width; past ones one dim line each.
// notes (what the screen itself has to say, such as a stock peer's
// missing view) come first.
func (e *env) findingLines(fs []labelled, notes ...string) [][]string {
	var out [][]string
	for _, n := range notes {
		out = append(out, []string{e.truncate(e.st.dim.wrap(" i " + n))})
	}
	for _, lf := range fs {
		f := lf.f
		if lf.past() {
			out = append(out, []string{e.truncate(e.st.dim.wrap(" · " + lf.headline()))})
			continue
		}
		// A current finding is never cut: its line and its fix wrap, and
		// the pane shows it whole or not at all.
		sev := e.st.sev[min(int(f.Severity), 2)]
		g := wrapText(sev.wrap(" "+sevMark(f.Severity)+" "+lf.headline()), e.width, "   ")
		if f.Fix != "" {
			g = append(g, wrapText(e.st.ok.wrap("     fix: ")+f.Fix, e.width, "     ")...)
		}
		out = append(out, g)
	}
	return out
}

// lineCount is how many lines the groups hold.
func lineCount(groups [][]string) int {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	return n
}

// findingsPane shows the findings' groups that fit in h lines, whole;
// when some do not, the last line says how many more lines the findings
// view (w) has. A first group that fits only without that line is shown
// whole instead (the help line names w); one taller than the pane shows
// its first lines.
func (e *env) findingsPane(groups [][]string, h int) []string {
	total := lineCount(groups)
	if h <= 0 || total == 0 {
		return nil
	}
	var out []string
	if total <= h {
		for _, g := range groups {
			out = append(out, g...)
		}
		return out
	}
	for _, g := range groups {
		if len(out)+len(g) > h-1 {
			if len(out) == 0 {
				if len(g) <= h {
					return g
				}
				out = append(out, g[:h-1]...)
			}
			break
		}
		out = append(out, g...)
	}
	return append(out, e.st.dim.wrap("   … "+strconv.Itoa(total-len(out))+" more lines of findings: press w"))
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

// findingsView is the findings timeline in full (when, what, evidence,
// fix): the current findings, then the past ones under "earlier", from
// line *off, which it keeps in range. notes come first.
func (e *env) findingsView(h int, fs []labelled, off *int, notes ...string) []string {
	st := e.st
	var all []string
	for _, n := range notes {
		all = append(all, wrapText(st.dim.wrap(" i "+n), e.width, "     ")...)
	}
	if len(notes) > 0 {
		all = append(all, "")
	}
	earlier := false
	for _, lf := range fs {
		f := lf.f
		if lf.past() && !earlier {
			earlier = true
			all = append(all, st.heading.wrap(" earlier"))
		}
		mark := sevMark(f.Severity) + " " + f.Severity.String() + " · "
		if lf.past() {
			all = append(all, wrapText(st.dim.wrap(" · "+f.Severity.String()+" · "+lf.headline()), e.width, "     ")...)
		} else {
			sev := st.sev[min(int(f.Severity), 2)]
			all = append(all, wrapText(sev.wrap(" "+mark)+lf.headline(), e.width, "     ")...)
		}
		if f.Evidence != "" {
			all = append(all, wrapText(st.dim.wrap("     evidence: ")+f.Evidence, e.width, "     ")...)
		}
		if f.Fix != "" {
			all = append(all, wrapText(st.ok.wrap("     fix: ")+f.Fix, e.width, "     ")...)
		}
		all = append(all, "")
	}
	out := []string{st.heading.wrap(" findings · timeline, current first")}
	if len(fs) == 0 {
		all = append(all, e.truncate(st.dim.wrap("   none: the engine has reported nothing unusual")))
	}
	room := max(1, h-1)
	*off = min(*off, max(0, len(all)-room))
	return append(out, all[*off:min(len(all), *off+room)]...)
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
