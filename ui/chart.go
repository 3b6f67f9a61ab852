package ui

import (
	"math"
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/NimbleMarkets/ntcharts/canvas/runes"
)

// series is one line of a chart: n points read through at.
type series struct {
	n     int
	at    func(i int) (x, y float64)
	paint paint
}

// chartSpec is a rate-over-time chart: X in seconds from xMin to xMax, Y
// in bit/s from 0 to a nice ceiling of yMax.
type chartSpec struct {
	w, h       int // whole chart including labels
	xMin, xMax float64
	yMax       float64
	lines      []series
	// marks are times to flag on the X axis (where findings started),
	// each drawn as markGlyph in its paint; of two in one cell the later
	// in marks wins, so callers pass the worst last.
	marks []chartMark
}

// chartMark is one flagged time on a chart's X axis.
type chartMark struct {
	x     float64
	paint paint
}

// markGlyph flags a time on the X axis.
const markGlyph = '▲'

// col is the plot column of time x, or -1 outside the plot.
func (l *chartLayout) col(x float64) int {
	span := l.xMax - l.xMin
	if x < l.xMin || x > l.xMax || !(span > 0) {
		return -1
	}
	c := int(math.Round((x-l.xMin)/span*float64(l.plotW*2-1))) / 2
	return min(max(c, 0), l.plotW-1)
}

// chartLayout is the geometry of a chart: where the plot area starts and
// how big it is, and the axis ticks.
type chartLayout struct {
	labelW         int // Y label column width; the axis is at column labelW
	plotW, plotH   int // braille cells
	yTop, yStep    float64
	yDiv           float64
	yUnit          string
	xStep          float64
	xMin, xMax     float64
	yLabels        []string
	yLabelRows     []int
	xLabelCols     []int
	xTicks         []int
	xLabels        []string
	tooSmallToDraw bool
}

// layoutChart works out a chart's axes. It is pure: tests drive it with
// sizes and ranges.
func layoutChart(w, h int, xMin, xMax, yMax float64) chartLayout {
	l := chartLayout{xMin: xMin, xMax: xMax}
	if xMax <= xMin {
		l.xMax = xMin + 1
	}
	l.plotH = h - 2 // X axis line and X labels
	if l.plotH < 2 || w < 20 {
		l.tooSmallToDraw = true
		return l
	}
	top := yMax * 1.05
	if !(top > 0) {
		top = 1e9 // an empty chart still shows a plausible scale
	}
	l.yStep, l.yTop = yTicks(top, max(2, min(5, l.plotH/2+1)))
	l.yDiv, l.yUnit = rateUnit(l.yTop)
	dots := l.plotH*4 - 1
	for v := 0.0; v <= l.yTop*(1+1e-9); v += l.yStep {
		row := l.plotH - 1 - int(math.Round(v/l.yTop*float64(dots)))/4
		if n := len(l.yLabelRows); n > 0 && l.yLabelRows[n-1] == row {
			continue
		}
		s := fmtAxisRate(v, l.yDiv, l.yUnit)
		l.yLabels = append(l.yLabels, s)
		l.yLabelRows = append(l.yLabelRows, row)
		l.labelW = max(l.labelW, len([]rune(s)))
	}
	l.plotW = w - l.labelW - 1
	if l.plotW < 4 {
		l.tooSmallToDraw = true
		return l
	}
	span := l.xMax - l.xMin
	l.xStep = timeStep(span, max(1, l.plotW/9))
	xdots := l.plotW*2 - 1
	next := 0
	for v := math.Ceil(l.xMin/l.xStep-1e-9) * l.xStep; v <= l.xMax+1e-9; v += l.xStep {
		col := int(math.Round((v-l.xMin)/span*float64(xdots))) / 2
		tick := col
		s := fmtAxisSeconds(math.Round(v*1000) / 1000)
		if col+len(s) > l.plotW {
			col = l.plotW - len(s) // the last label ends at the edge
		}
		if col < next {
			continue
		}
		l.xTicks = append(l.xTicks, tick)
		l.xLabelCols = append(l.xLabelCols, col)
		l.xLabels = append(l.xLabels, s)
		next = col + len(s) + 1
	}
	return l
}

// drawChart renders the chart as h lines of exactly w cells. Lines are
// rasterised with ntcharts' braille grid; the text is assembled here with
// one escape sequence per run of equally coloured cells, because
// ntcharts' canvas renders every cell through lipgloss (see
// ../shared/style.md for the measured cost).
func drawChart(st *styles, c chartSpec) []string {
	l := layoutChart(c.w, c.h, c.xMin, c.xMax, c.yMax)
	out := make([]string, 0, c.h)
	if l.tooSmallToDraw {
		for i := 0; i < c.h; i++ {
			out = append(out, strings.Repeat(" ", max(0, c.w)))
		}
		return out
	}
	// Rasterise each series on its own grid, at most a few points per
	// braille dot column: a long test's history is averaged down first.
	pats := make([][][]rune, len(c.lines))
	for si, s := range c.lines {
		s = thin(s, l.plotW*4)
		g := graph.NewBrailleGrid(l.plotW, l.plotH, l.xMin, l.xMax, 0, l.yTop)
		var prev canvas.Point
		for i := 0; i < s.n; i++ {
			x, y := s.at(i)
			p := g.GridPoint(canvas.Float64Point{X: x, Y: math.Min(math.Max(y, 0), l.yTop)})
			if i == 0 {
				g.Set(p)
			} else {
				for _, q := range graph.GetLinePoints(prev, p) {
					g.Set(q)
				}
			}
			prev = p
		}
		pats[si] = g.BraillePatterns()
	}
	var b strings.Builder
	label := 0
	for row := 0; row < l.plotH; row++ {
		b.Reset()
		var lab string
		if label < len(l.yLabelRows) && l.yLabelRows[len(l.yLabelRows)-1-label] == row {
			lab = l.yLabels[len(l.yLabels)-1-label]
			label++
		}
		st.dim.to(&b, strings.Repeat(" ", l.labelW-len([]rune(lab)))+lab)
		if lab != "" {
			st.dim.to(&b, "┤")
		} else {
			st.dim.to(&b, "│")
		}
		cur := -2 // index of the paint of the open run; -1 = none
		for col := 0; col < l.plotW; col++ {
			r, who := rune(0), -1
			for si := range pats {
				if row >= len(pats[si]) || col >= len(pats[si][row]) {
					continue
				}
				p := pats[si][row][col]
				if p == runes.BrailleBlockOffset || p == 0 {
					continue
				}
				if r == 0 {
					r, who = p, si
				} else {
					r = runes.CombineBraillePatterns(r, p)
				}
			}
			if who != cur {
				if cur >= 0 {
					b.WriteString(c.lines[cur].paint.post)
				}
				if who >= 0 {
					b.WriteString(c.lines[who].paint.pre)
				}
				cur = who
			}
			if r == 0 {
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
		if cur >= 0 {
			b.WriteString(c.lines[cur].paint.post)
		}
		out = append(out, b.String())
	}
	// X axis with ticks, then the labels.
	b.Reset()
	axis := []rune(strings.Repeat("─", l.plotW))
	for _, t := range l.xTicks {
		axis[t] = '┬'
	}
	marked := make([]int, l.plotW) // 1 + index into c.marks
	for i, m := range c.marks {
		if col := l.col(m.x); col >= 0 {
			marked[col] = i + 1
			axis[col] = markGlyph
		}
	}
	st.dim.to(&b, strings.Repeat(" ", l.labelW)+"└")
	for i := 0; i < l.plotW; {
		j := i + 1
		for j < l.plotW && marked[j] == marked[i] {
			j++
		}
		if marked[i] > 0 {
			c.marks[marked[i]-1].paint.to(&b, string(axis[i:j]))
		} else {
			st.dim.to(&b, string(axis[i:j]))
		}
		i = j
	}
	out = append(out, b.String())
	lab := []byte(strings.Repeat(" ", l.plotW))
	for i, col := range l.xLabelCols {
		copy(lab[col:], l.xLabels[i])
	}
	b.Reset()
	st.dim.to(&b, strings.Repeat(" ", l.labelW+1)+string(lab))
	out = append(out, b.String())
	return out
}

// thin returns s averaged down to at most max points: each point is the
// mean of k consecutive ones, at the last one's x.
func thin(s series, max int) series {
	if max < 1 || s.n <= max {
		return s
	}
	k := (s.n + max - 1) / max
	at := s.at
	n := s.n
	return series{n: (n + k - 1) / k, paint: s.paint, at: func(i int) (float64, float64) {
		var x, sum float64
		cnt := 0
		for j := i * k; j < min(n, (i+1)*k); j++ {
			var y float64
			x, y = at(j)
			sum += y
			cnt++
		}
		return x, sum / float64(cnt)
	}}
}
