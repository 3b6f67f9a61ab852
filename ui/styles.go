package ui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// paint is a lipgloss style reduced to the escape sequences around its
// text. Hot paths colour text by concatenation instead of Style.Render,
// which measures, splits and re-encodes its input on every call. Under
// NO_COLOR (or any colourless terminal) both parts are empty.
type paint struct{ pre, post string }

func newPaint(s lipgloss.Style) paint {
	r := s.Render("x")
	i := strings.IndexByte(r, 'x')
	if i < 0 {
		return paint{}
	}
	return paint{pre: r[:i], post: r[i+1:]}
}

// wrap returns s painted.
func (p paint) wrap(s string) string {
	if p.pre == "" && p.post == "" {
		return s
	}
	return p.pre + s + p.post
}

// to appends s painted to b.
func (p paint) to(b *strings.Builder, s string) {
	b.WriteString(p.pre)
	b.WriteString(s)
	b.WriteString(p.post)
}

// Palette, in ANSI-256 numbers that lipgloss degrades to the terminal's
// profile.
var (
	colAccent  = lipgloss.Color("39")  // blue: titles, the send line
	colRecv    = lipgloss.Color("213") // magenta: the receive line
	colDim     = lipgloss.Color("245") // grey: secondary text
	colOK      = lipgloss.Color("42")  // green
	colWarn    = lipgloss.Color("214") // amber
	colBad     = lipgloss.Color("196") // red: stalled, failed, critical
	colSlow    = lipgloss.Color("208") // orange
	colMid     = lipgloss.Color("220") // yellow
	colFast    = lipgloss.Color("51")  // cyan
	colIdle    = lipgloss.Color("240") // dark grey
	colSpark   = lipgloss.Color("75")
	colHeading = lipgloss.Color("250")
)

// styles holds every style the UI uses, built once per Model (after the
// colour profile is known) and never inside View.
type styles struct {
	title, dim, accent, ok, warn, bad, heading, sel paint
	sendLine, recvLine, spark, sparkBad             paint
	stalledTag, failedTag, stalledRow               paint
	border, paused                                  paint
	server                                          [maxServerLines]paint // each server's line and name (ModeFleet)
	sev                                             [3]paint              // info, warning, critical
	mapCell, mapCell2                               [mapClasses]string    // one and two cells wide
	mapSel, mapSel2                                 [mapClasses]string
	help                                            lipgloss.Style
}

func newStyles() *styles {
	st := lipgloss.NewStyle
	s := &styles{
		title:      newPaint(st().Bold(true).Foreground(colAccent)),
		dim:        newPaint(st().Foreground(colDim)),
		accent:     newPaint(st().Foreground(colAccent)),
		ok:         newPaint(st().Foreground(colOK)),
		warn:       newPaint(st().Foreground(colWarn).Bold(true)),
		bad:        newPaint(st().Foreground(colBad).Bold(true)),
		heading:    newPaint(st().Foreground(colHeading).Bold(true)),
		sel:        newPaint(st().Foreground(colAccent).Bold(true)),
		sendLine:   newPaint(st().Foreground(colAccent)),
		recvLine:   newPaint(st().Foreground(colRecv)),
		spark:      newPaint(st().Foreground(colSpark)),
		sparkBad:   newPaint(st().Foreground(colBad)),
		stalledTag: newPaint(st().Foreground(lipgloss.Color("231")).Background(colBad).Bold(true)),
		failedTag:  newPaint(st().Foreground(colBad).Bold(true)),
		stalledRow: newPaint(st().Foreground(colBad)),
		border:     newPaint(st().Foreground(colDim)),
		paused:     newPaint(st().Foreground(lipgloss.Color("16")).Background(colWarn).Bold(true)),
		help:       st().Foreground(colDim),
	}
	for i, c := range [maxServerLines]string{"220", "42", "208", "141", "51", "203", "118", "180"} {
		s.server[i] = newPaint(st().Foreground(lipgloss.Color(c)).Bold(true))
	}
	s.sev = [3]paint{
		newPaint(st().Foreground(colAccent)),
		newPaint(st().Foreground(colWarn).Bold(true)),
		newPaint(st().Foreground(colBad).Bold(true)),
	}
	mapColour := [mapClasses]lipgloss.Style{
		mapIdle:    st().Foreground(colIdle),
		mapSlow:    st().Foreground(colSlow),
		mapLow:     st().Foreground(colMid),
		mapMedian:  st().Foreground(colOK),
		mapFast:    st().Foreground(colFast),
		mapStalled: st().Foreground(lipgloss.Color("231")).Background(colBad).Bold(true),
		mapFailed:  st().Foreground(colBad).Bold(true),
	}
	for c := range mapColour {
		s.mapCell[c] = mapColour[c].Render(mapGlyph[c])
		s.mapCell2[c] = mapColour[c].Render(mapGlyph[c] + mapGlyph[c])
		s.mapSel[c] = mapColour[c].Reverse(true).Render(mapSelGlyph)
		s.mapSel2[c] = mapColour[c].Reverse(true).Render(mapSelGlyph + mapSelGlyph)
	}
	return s
}
