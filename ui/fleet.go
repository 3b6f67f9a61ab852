package ui

import (
	"sort"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

// maxServerLines is how many servers get a line of their own in the
// overview's SUM chart; more would be a tangle.
const maxServerLines = 8

// Overview rows that are not streams (row's second result).
const (
	rowHeading = -2 // the server's name and test
	rowSum     = -1 // the server's SUM
)

// fleetView is a multi-server run: one client test per server, each with
// its own test screen. The overview, this type's own screen, lists every
// server's streams under a heading and a SUM row; tab puts one server's
// test screen on the screen instead, which then looks like a one-server
// run under the fleet's header line.
type fleetView struct {
	*env
	targets []*fleetTarget
	byLabel map[string]*fleetTarget
	focus   int // index of the server on screen; -1: the overview

	// The overview's own screen: its view (the list or the findings),
	// cursor and scroll, row cache and chart.
	nav
	rc       rowCache
	rowsH    int
	chartBox []string
	chartKey [4]int
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
	test  *testScreen
}

// fleetPoint is one point of the overall SUM chart: the servers' rates
// added up, and summed over the n intervals merged into it.
type fleetPoint struct {
	t          float64
	send, recv float64
	n          int
}

func newFleetView(e *env, labels []string) *fleetView {
	f := &fleetView{env: e, byLabel: map[string]*fleetTarget{}, focus: -1}
	f.cursor = 1 // the first server's SUM row
	for _, l := range labels {
		f.target(l)
	}
	return f
}

// target returns the server called label, adding it if it is new.
func (f *fleetView) target(label string) *fleetTarget {
	if t := f.byLabel[label]; t != nil {
		return t
	}
	t := &fleetTarget{label: label, idx: len(f.targets), test: newTestScreen(f.env, engine.SideClient)}
	f.targets = append(f.targets, t)
	f.byLabel[label] = t
	return t
}

func (f *fleetView) event(target string, ev engine.Event) bool {
	t := f.target(target)
	t.test.handle(ev)
	switch ev.(type) {
	case *engine.Sample:
		f.addChart(t.test.run)
	case *engine.End:
		f.ver++
		if f.allEnded() {
			anyData := false
			for _, t := range f.targets {
				anyData = anyData || t.test.run.hasParams
			}
			// Stopped by the user, or every test failed before any data
			// moved: main prints the summaries or the errors.
			return f.stopping || !anyData
		}
	}
	return false
}

// allEnded reports whether every server's test sent its End.
func (f *fleetView) allEnded() bool {
	for _, t := range f.targets {
		if t.test.run.end == nil {
			return false
		}
	}
	return true
}

func (f *fleetView) ended() bool { return f.allEnded() }

func (f *fleetView) missingEnd() bool { return !f.allEnded() }

func (f *fleetView) stop() {
	for _, t := range f.targets {
		t.test.finishing()
	}
}

// addChart adds a server's newest sample (its k-th) to the overall chart.
func (f *fleetView) addChart(r *testRun) {
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
func (f *fleetView) chartLen() int {
	done, seq := -1, 0
	for _, t := range f.targets {
		r := t.test.run
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

// onScreen is the test screen on show, nil for the overview.
func (f *fleetView) onScreen() *testScreen {
	if f.focus < 0 {
		return nil
	}
	return f.targets[f.focus].test
}

// setFocus puts server i on the screen, or the overview for -1. A server
// keeps the view the last one was in (not its detail or findings); the
// overview its cursor.
func (f *fleetView) setFocus(i int) {
	if i == f.focus || i >= len(f.targets) {
		return
	}
	prev := f.view
	if t := f.onScreen(); t != nil {
		prev = t.view
	}
	f.focus = i
	if i < 0 {
		f.view = viewList
		if prev == viewFindings {
			f.view = viewFindings
		}
		f.findOff = 0
		f.chartBox = nil
		return
	}
	t := f.targets[i].test
	t.view = prev
	t.resetNav()
	if t.view == viewFindings {
		t.view = viewList
	}
}

// step is tab (d=1) and shift+tab (d=-1): the overview, then each server
// in turn.
func (f *fleetView) step(d int) {
	n := len(f.targets) + 1
	f.setFocus((f.focus+1+d+n)%n - 1)
}

func (f *fleetView) key(k tea.KeyMsg) {
	km := &f.keys
	switch {
	case key.Matches(k, km.NextTest):
		f.step(1)
	case key.Matches(k, km.PrevTest):
		f.step(-1)
	case f.focus >= 0:
		if !f.onScreen().key(k) {
			f.setFocus(-1) // esc on a server's list: back to every server
		}
	case f.view == viewFindings:
		if f.scrollFindings(k, &f.findOff) {
			f.view = viewList
		}
	default:
		f.listKey(k)
	}
}

// layout works out the overview's sections (a heading, the SUM row and
// the streams in the list's order per server) and returns the rows.
func (f *fleetView) layout() int {
	f.offs = f.offs[:0]
	n := 0
	for _, t := range f.targets {
		f.offs = append(f.offs, n)
		t.test.updateOrder()
		n += 2 + t.test.count()
	}
	f.offs = append(f.offs, n)
	return n
}

// row maps an overview row to its server and what it shows: the heading,
// the SUM row, or a stream's index.
func (f *fleetView) row(pos int) (*fleetTarget, int) {
	i := sort.Search(len(f.targets), func(i int) bool { return f.offs[i+1] > pos })
	t := f.targets[i]
	switch k := pos - f.offs[i]; k {
	case 0:
		return t, rowHeading
	case 1:
		return t, rowSum
	default:
		return t, t.test.at(k - 2)
	}
}

// clamp keeps the overview's cursor on a row it can select (not a
// heading) and the window around it, with the heading above a SUM row in
// view. d is the direction of the last move.
func (f *fleetView) clamp(d int) {
	n := f.offs[len(f.offs)-1]
	if n == 0 {
		f.cursor, f.offset = 0, 0
		return
	}
	f.cursor = min(max(f.cursor, 0), n-1)
	if _, row := f.row(f.cursor); row == rowHeading {
		if d < 0 && f.cursor > 0 {
			f.cursor--
		} else {
			f.cursor++
		}
	}
	f.cursor, f.offset = clampWindow(f.cursor, f.offset, n, f.rowsH)
	if _, row := f.row(f.cursor); row == rowSum && f.offset == f.cursor {
		f.offset--
	}
}

// listKey is the overview's list keys.
func (f *fleetView) listKey(k tea.KeyMsg) {
	km := &f.keys
	n := f.layout()
	d := 1
	switch {
	case f.orderKey(k):
		f.cursor, f.offset = 0, 0
	case key.Matches(k, km.Back):
		f.order.filter = false
	case key.Matches(k, km.Findings):
		f.view, f.findOff = viewFindings, 0
		return
	case key.Matches(k, km.Detail), key.Matches(k, km.Map):
		if n == 0 {
			return
		}
		t, row := f.row(min(f.cursor, n-1))
		f.setFocus(t.idx)
		switch {
		case key.Matches(k, km.Map):
			t.test.view = viewMap
		case row >= 0:
			t.test.showStream(row)
		}
		return
	default:
		c, scroll, ok := km.moveCursor(k, f.cursor, n, 1, max(1, f.rowsH))
		if !ok {
			break
		}
		if c < f.cursor {
			d = -1
		}
		f.cursor, f.offset = c, f.offset+scroll
	}
	f.layout()
	f.clamp(d)
}
