package ui

import (
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

// testScreen is one test's screen: the test's data (a testRun), where the
// user is on it (view, cursor, scroll) and its cached drawing. The client
// shows one, the server one per test it serves, a fleet one per server.
//
// It is driven by nothing but engine events (handle) and keys (key), so a
// live engine, a server's demultiplexed tests or a recording can feed it
// alike; titleLine, stateLine and body draw it.
type testScreen struct {
	*env
	run *testRun
	nav

	// Layout and caches.
	rc       rowCache
	rowsH    int // stream rows in the last list frame (a page)
	chart    []string
	chartKey [5]int
}

// nav is where the user is on one screen.
type nav struct {
	view    viewKind
	cursor  int // index into the current order (list and map)
	offset  int // first visible row (list) or map row (map)
	detail  int // stream index shown in the detail view
	findOff int // first line of the findings view
}

type viewKind int

const (
	viewList viewKind = iota
	viewDetail
	viewMap
	viewFindings
)

func newTestScreen(e *env, side engine.Side) *testScreen {
	return &testScreen{env: e, run: newRun(side)}
}

// handle folds one engine event of this test into the screen.
func (ts *testScreen) handle(ev engine.Event) {
	r := ts.run
	switch e := ev.(type) {
	case *engine.Connecting:
		r.host, r.port, r.connTotal = e.Host, e.Port, e.Streams
		r.phase = phaseConnecting
	case *engine.Progress:
		r.connected, r.connTotal = e.Connected, e.Total
		r.phase = phaseConnecting
	case *engine.Start:
		ts.resetNav()
		r.onStart(e)
		if ts.stopping {
			r.phase = phaseFinishing
		}
	case *engine.Sample:
		r.apply(e)
	case *engine.End:
		r.end = e
		r.addFindings(e.Findings, time.Duration(r.elapsed*float64(time.Second)), !r.hasParams)
		if e.Err != nil {
			r.phase, r.failReason = phaseFailed, e.Err.Error()
		} else {
			r.phase = phaseDone
		}
		if ts.stopping {
			r.stopped = true
		}
	}
}

// finishing marks a test in progress as stopping (q was pressed).
func (ts *testScreen) finishing() {
	if r := ts.run; r.phase == phaseRunning || r.phase == phaseConnecting {
		r.phase = phaseFinishing
	}
}

// resetNav starts the screen from the top of its list.
func (ts *testScreen) resetNav() {
	ts.cursor, ts.offset, ts.findOff = 0, 0, 0
	if ts.view == viewDetail {
		ts.view = viewList
	}
	ts.chart = nil
}

// count is the number of streams in the list's order.
func (ts *testScreen) count() int { return ts.run.ord.count(ts.run) }

// at maps a position in the list's order to a stream index.
func (ts *testScreen) at(i int) int { return ts.run.ord.at(i) }

// updateOrder brings the list's order up to date with the data and the
// order settings.
func (ts *testScreen) updateOrder() { ts.run.updateOrder(ts.order) }

// clampList keeps the cursor inside the list and the visible window
// around the cursor.
func (ts *testScreen) clampList() {
	ts.cursor, ts.offset = clampWindow(ts.cursor, ts.offset, ts.count(), ts.rowsH)
}

// key handles one key of this screen. It reports false for esc on the
// plain list, which leaves the screen to its owner (a fleet goes back to
// the overview).
func (ts *testScreen) key(k tea.KeyMsg) bool {
	switch ts.view {
	case viewDetail:
		ts.detailKey(k)
	case viewFindings:
		ts.findingsKey(k)
	case viewMap:
		ts.mapKey(k)
	default:
		return ts.listKey(k)
	}
	return true
}

// orderKey handles the keys that change the lists' order or filter; it
// reports whether k was one.
func (e *env) orderKey(k tea.KeyMsg) bool {
	km := &e.keys
	switch {
	case key.Matches(k, km.Sort):
		e.order.sort = (e.order.sort + 1) % numSortKeys
	case key.Matches(k, km.Reverse):
		e.order.reverse = !e.order.reverse
	case key.Matches(k, km.Filter):
		e.order.filter = !e.order.filter
	default:
		return false
	}
	return true
}

// viewKey is the keys the list and the map share: order, views.
func (ts *testScreen) viewKey(k tea.KeyMsg) bool {
	km := &ts.keys
	switch {
	case ts.orderKey(k):
		ts.cursor, ts.offset = 0, 0
	case key.Matches(k, km.Detail):
		ts.updateOrder()
		if ts.count() > 0 {
			ts.detail = ts.at(min(ts.cursor, ts.count()-1))
			ts.view = viewDetail
		}
	case key.Matches(k, km.Map):
		if ts.view == viewMap {
			ts.view = viewList
		} else {
			ts.view = viewMap
		}
		ts.offset = 0
	case key.Matches(k, km.Findings):
		ts.view, ts.findOff = viewFindings, 0
	default:
		return false
	}
	return true
}

func (ts *testScreen) listKey(k tea.KeyMsg) bool {
	if ts.viewKey(k) {
		return true
	}
	ts.updateOrder()
	if c, scroll, ok := ts.keys.moveCursor(k, ts.cursor, ts.count(), 1, max(1, ts.rowsH)); ok {
		ts.cursor, ts.offset = c, ts.offset+scroll
	} else if key.Matches(k, ts.keys.Back) {
		if !ts.order.filter {
			return false
		}
		ts.order.filter = false
	}
	ts.clampList()
	return true
}

func (ts *testScreen) detailKey(k tea.KeyMsg) {
	km := &ts.keys
	switch {
	case key.Matches(k, km.Back), key.Matches(k, km.Detail):
		ts.view = viewList
	case key.Matches(k, km.Left), key.Matches(k, km.Up):
		ts.stepDetail(-1)
	case key.Matches(k, km.Right), key.Matches(k, km.Down):
		ts.stepDetail(1)
	case key.Matches(k, km.Map):
		ts.view = viewMap
	case key.Matches(k, km.Findings):
		ts.view, ts.findOff = viewFindings, 0
	}
	if ts.detail >= len(ts.run.streams) {
		ts.view = viewList
	}
}

// stepDetail moves the detail view to the stream with the previous or
// next id (d -1 or 1), whatever the list's live order, and puts the
// list's cursor on it where the list shows it.
func (ts *testScreen) stepDetail(d int) {
	ss := ts.run.streams
	if ts.detail >= len(ss) {
		return
	}
	cur, best := ss[ts.detail].id, -1
	for i := range ss {
		id := ss[i].id
		if d*(id-cur) > 0 && (best < 0 || d*(id-ss[best].id) < 0) {
			best = i
		}
	}
	if best >= 0 {
		ts.showStream(best)
		ts.clampList()
	}
}

// showStream opens the detail view on stream idx, with the list's cursor
// on it.
func (ts *testScreen) showStream(idx int) {
	ts.updateOrder()
	ts.view, ts.detail = viewDetail, idx
	for pos := 0; pos < ts.count(); pos++ {
		if ts.at(pos) == idx {
			ts.cursor = pos
		}
	}
}

func (ts *testScreen) findingsKey(k tea.KeyMsg) {
	if key.Matches(k, ts.keys.Map) && ts.run.phase != phaseIdle {
		ts.view = viewMap
		return
	}
	if !ts.scrollFindings(k, &ts.findOff) {
		return
	}
	ts.view = viewList
}

// scrollFindings is the findings view's keys: it scrolls *off, and reports
// true for the keys that leave the view.
func (e *env) scrollFindings(k tea.KeyMsg, off *int) (leave bool) {
	km := &e.keys
	page := max(1, e.height-4)
	switch {
	case key.Matches(k, km.Back), key.Matches(k, km.Findings):
		return true
	case key.Matches(k, km.Up):
		*off--
	case key.Matches(k, km.Down):
		*off++
	case key.Matches(k, km.PageUp):
		*off -= page
	case key.Matches(k, km.PageDown):
		*off += page
	case key.Matches(k, km.Top):
		*off = 0
	case key.Matches(k, km.Bottom):
		*off = 1 << 30
	}
	*off = max(*off, 0) // the upper bound is applied when drawing
	return false
}

func (ts *testScreen) mapKey(k tea.KeyMsg) {
	if ts.viewKey(k) {
		return
	}
	ts.updateOrder()
	km := &ts.keys
	cols, rows, _ := ts.mapGeometry(ts.height - ts.headerH - ts.footerH)
	switch {
	case key.Matches(k, km.Left):
		ts.cursor--
	case key.Matches(k, km.Right):
		ts.cursor++
	case key.Matches(k, km.Back):
		ts.view = viewList
	default:
		ts.cursor, _, _ = km.moveCursor(k, ts.cursor, ts.count(), cols, cols*rows)
	}
	ts.cursor = min(max(ts.cursor, 0), max(ts.count()-1, 0))
	if ts.view == viewList {
		ts.offset = ts.cursor
		ts.clampList()
	}
}
