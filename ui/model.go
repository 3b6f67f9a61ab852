// Package ui is flowscope's live terminal front end: a bubbletea program
// that consumes the engine's events (and nothing else) and shows the test
// as it runs: a header with the test's state, a SUM chart, a stream list
// with sparklines, a detail view of one stream, a map of every stream, the
// engine's findings, and, on a server, a short history of finished tests.
//
// main.go forwards every engine.Event to the program with Program.Send,
// one message per event; a multi-server run (ModeFleet) wraps each in a
// TargetMsg naming the server whose test it belongs to. Data messages only update the model; the screen
// is rebuilt at most once per Options.FrameInterval for them, and at once
// for keys. Rendering is bounded by the visible rows, not the flow count.
package ui

import (
	"slices"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

// Mode says which screen the UI shows.
type Mode int

const (
	// ModeClient shows one test run by this process (-c or --loopback).
	ModeClient Mode = iota
	// ModeServer shows a server: its listener, the test in progress and
	// the tests it finished.
	ModeServer
	// ModeFleet shows one client test per server, run at once (-c A,B,C):
	// every server's streams grouped under its name with its SUM, the SUM
	// over all of them, and each server on its own on tab. Its events
	// arrive as TargetMsg.
	ModeFleet
)

// Options configure a Model.
type Options struct {
	Mode Mode
	// Stop is called once, on the first q, Ctrl-C or StopMsg: a client
	// cancels its test's context (the engine then ends the test early and
	// still exchanges results), a server stops serving. The UI quits when
	// the End event (client) or DoneMsg arrives. May be nil.
	Stop func()
	// Listen is the server's listening address, Backlog its listen
	// backlog (0 when unknown). Server mode only.
	Listen  string
	Backlog int
	// Targets are the servers of a multi-server run (ModeFleet), as
	// TargetMsg names them, in the order the screen lists them.
	Targets []string
	// FrameInterval is the shortest time between two screens rebuilt for
	// data (keys always redraw at once). Zero redraws on every event,
	// which tests and benchmarks use.
	FrameInterval time.Duration
}

// StopMsg asks the UI to stop the test as if q had been pressed (main sends
// it on SIGTERM).
type StopMsg struct{}

// DoneMsg tells the UI that the engine call returned (Client.Run or
// Server.Serve), with its error.
type DoneMsg struct{ Err error }

// LogMsg is one line of the server's log (refused connections, protocol
// errors); the UI shows the latest few.
type LogMsg string

// frameMsg asks for a redraw of data that arrived since the last frame.
type frameMsg struct{}

type viewKind int

const (
	viewList viewKind = iota
	viewDetail
	viewMap
	viewFindings
)

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

// maxQueued bounds the samples held while the display is paused.
const maxQueued = 4096

// heldSample is a sample that arrived while the display was paused, and
// the server it came from in a multi-server run.
type heldSample struct {
	t *fleetTarget
	s *engine.Sample
}

// finished is one test in the server's history.
type finished struct {
	at         time.Time
	host       string
	port       int
	flows      int
	dir        string
	secs       float64
	send, recv float64 // bit/s over the test
	retr       int64
	err        string
}

// Model is the UI's state. Use it through a pointer: Update mutates it and
// returns the same pointer.
type Model struct {
	opts Options
	st   *styles
	keys KeyMap
	help help.Model

	width, height int
	view          viewKind
	showHelp      bool

	run     *testRun            // the run on screen
	runs    map[uint64]*testRun // server: tests in progress by id
	active  []uint64            // server: their ids, oldest first
	history []finished
	logs    []string

	engineDone bool
	engineErr  error
	stopping   bool
	quitting   bool

	paused bool
	queued []heldSample
	// listener is the server's accept queue as last sampled.
	listener *engine.ListenerStats

	sort    sortKey
	reverse bool
	filter  bool
	cursor  int // index into the current order (list and map)
	offset  int // first visible row (list) or map row (map)
	detail  int // stream index shown in the detail view
	findOff int // first line of the findings view

	scratch []float32

	// fl is the multi-server state (ModeFleet), nil otherwise.
	fl *fleetState

	// Layout and caches.
	lst       listLayout
	headerH   int
	rowsH     int
	rowKey    uint32 // bumped when the row layout or sparkline scale changes
	rowTop    float64
	chart     []string
	chartKey  [4]int
	frame     string
	dirty     bool
	ticking   bool
	lastFrame time.Time
}

// New returns a Model ready for tea.NewProgram. Styles are built here, so
// set the colour profile (lipgloss.SetColorProfile) before calling it.
func New(opts Options) *Model {
	m := &Model{
		opts: opts,
		st:   newStyles(),
		keys: DefaultKeyMap(),
		help: help.New(),
		runs: map[uint64]*testRun{},
	}
	m.help.Styles.ShortKey = m.st.help.Bold(true)
	m.help.Styles.FullKey = m.st.help.Bold(true)
	m.help.Styles.ShortDesc = m.st.help
	m.help.Styles.FullDesc = m.st.help
	switch opts.Mode {
	case ModeClient:
		m.run = newRun(engine.SideClient)
	case ModeFleet:
		m.fl = newFleet(opts.Targets)
	}
	return m
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// Ended reports whether the engine finished: the client's End event
// arrived, or the engine call returned.
func (m *Model) Ended() bool {
	if m.fl != nil {
		return m.engineDone || m.fl.allEnded()
	}
	return m.engineDone || m.opts.Mode == ModeClient && m.run != nil && m.run.end != nil
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.render()
		return m, nil
	case tea.KeyMsg:
		cmd := m.onKey(msg)
		if !m.quitting {
			m.render()
		}
		return m, cmd
	case frameMsg:
		m.ticking = false
		if m.dirty {
			m.render()
		}
		return m, nil
	case StopMsg:
		cmd := m.stop()
		m.render()
		return m, cmd
	case DoneMsg:
		return m, m.onDone(msg)
	case LogMsg:
		m.logs = append(m.logs, string(msg))
		if len(m.logs) > 20 {
			m.logs = slices.Delete(m.logs, 0, len(m.logs)-20)
		}
		return m, m.frameLater()
	case TargetMsg:
		if m.fl == nil {
			return m, nil
		}
		t := m.fl.target(msg.Target)
		if s, ok := msg.Event.(*engine.Sample); ok {
			if m.paused && len(m.queued) < maxQueued {
				m.queued = append(m.queued, heldSample{t, s})
				return m, m.frameLater()
			}
			m.onTargetSample(t, s)
			return m, m.frameLater()
		}
		m.flushQueued()
		return m, m.onTargetEvent(t, msg.Event)
	case *engine.Sample:
		if m.fl != nil {
			return m, nil // a multi-server run's events name their server
		}
		if m.paused && len(m.queued) < maxQueued {
			// The screen keeps the data it shows; only the header counts
			// what is held.
			m.queued = append(m.queued, heldSample{s: msg})
			return m, m.frameLater()
		}
		m.onSample(msg)
		return m, m.frameLater()
	case engine.Event:
		if m.fl != nil {
			return m, nil
		}
		m.flushQueued()
		return m, m.onEvent(msg)
	}
	return m, nil
}

// View implements tea.Model. It returns the last frame built; it never
// draws.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	return m.frame
}

// frameLater marks the screen stale and arranges one redraw no sooner
// than FrameInterval after the previous one.
func (m *Model) frameLater() tea.Cmd {
	m.dirty = true
	if m.opts.FrameInterval <= 0 {
		m.render()
		return nil
	}
	if m.ticking {
		return nil
	}
	wait := m.opts.FrameInterval - time.Since(m.lastFrame)
	if wait <= 0 {
		m.render()
		return nil
	}
	m.ticking = true
	return tea.Tick(wait, func(time.Time) tea.Msg { return frameMsg{} })
}

func (m *Model) flushQueued() {
	for _, h := range m.queued {
		if h.t != nil {
			m.onTargetSample(h.t, h.s)
		} else {
			m.onSample(h.s)
		}
	}
	clear(m.queued)
	m.queued = m.queued[:0]
}

// runFor is the run an event of test id belongs to. A client has one; a
// server one per test in progress (they may run at once), and the screen
// follows one of them.
func (m *Model) runFor(id uint64, side engine.Side) *testRun {
	if m.opts.Mode == ModeClient {
		if m.run == nil {
			m.run = newRun(side)
		}
		return m.run
	}
	r := m.runs[id]
	if r == nil {
		r = newRun(side)
		r.id = id
		m.runs[id] = r
		m.active = append(m.active, id)
		if m.run == nil || m.run.end != nil {
			m.focus(r)
		}
	}
	return r
}

// focus shows run r.
func (m *Model) focus(r *testRun) {
	if m.run != r {
		m.run = r
		m.resetNav()
	}
}

// nextTest moves the screen to the next test in progress (server).
func (m *Model) nextTest() {
	if len(m.active) == 0 {
		return
	}
	i := 0
	if m.run != nil {
		if k := slices.Index(m.active, m.run.id); k >= 0 && m.run.end == nil {
			i = (k + 1) % len(m.active)
		}
	}
	m.focus(m.runs[m.active[i]])
}

func (m *Model) onSample(s *engine.Sample) {
	m.runFor(s.Test, s.Side).apply(s)
	if s.Listener != nil {
		m.listener = s.Listener
	}
}

func (m *Model) onEvent(ev engine.Event) tea.Cmd {
	switch e := ev.(type) {
	case *engine.Connecting:
		if m.run == nil || m.run.end != nil {
			m.run = newRun(engine.SideClient)
		}
		m.run.host, m.run.port, m.run.connTotal = e.Host, e.Port, e.Streams
		m.run.phase = phaseConnecting
	case *engine.Progress:
		r := m.runFor(e.Test, e.Side)
		r.connected, r.connTotal = e.Connected, e.Total
		r.phase = phaseConnecting
	case *engine.Start:
		r := m.runFor(e.Test, e.Side)
		if r == m.run {
			m.resetNav()
		}
		r.onStart(e)
		if m.stopping {
			r.phase = phaseFinishing
		}
	case *engine.End:
		return m.onEnd(e)
	default:
		return nil
	}
	return m.frameLater()
}

func (m *Model) resetNav() {
	m.cursor, m.offset, m.findOff = 0, 0, 0
	if m.view == viewDetail {
		m.view = viewList
	}
	m.chart = nil
}

func (m *Model) onEnd(e *engine.End) tea.Cmd {
	r := m.runFor(e.Test, e.Side)
	r.end = e
	r.addFindings(e.Findings)
	if e.Err != nil {
		r.phase, r.failReason = phaseFailed, e.Err.Error()
	} else {
		r.phase = phaseDone
	}
	if m.stopping {
		r.stopped = true
	}
	if m.opts.Mode == ModeServer {
		m.history = append(m.history, summarize(r, e))
		if len(m.history) > 50 {
			m.history = slices.Delete(m.history, 0, len(m.history)-50)
		}
		delete(m.runs, r.id)
		if k := slices.Index(m.active, r.id); k >= 0 {
			m.active = slices.Delete(m.active, k, k+1)
		}
		if r == m.run && len(m.active) > 0 {
			// Another test is still running: show it.
			m.focus(m.runs[m.active[0]])
		}
	}
	if m.opts.Mode == ModeClient && (m.stopping || e.Err != nil && !r.hasParams) {
		// Stopped by the user, or failed before any data moved: nothing to
		// look at, main prints the summary or the error.
		m.quitting = true
		return tea.Quit
	}
	m.dirty = true
	m.render()
	return nil
}

func (m *Model) onDone(d DoneMsg) tea.Cmd {
	m.engineDone, m.engineErr = true, d.Err
	if m.fl != nil && !m.fl.allEnded() {
		// Every client returned, some without an End (a panic).
		m.quitting = true
		return tea.Quit
	}
	if m.stopping || m.opts.Mode == ModeClient && m.run != nil && m.run.end == nil {
		// The client ended without an End (a panic), or the server
		// stopped as asked.
		m.quitting = true
		return tea.Quit
	}
	m.render()
	return nil
}

// stop is q: ask the engine to end, or quit when there is nothing to wait
// for or it is the second time.
func (m *Model) stop() tea.Cmd {
	if m.stopping || m.Ended() {
		m.quitting = true
		return tea.Quit
	}
	m.stopping = true
	m.paused = false
	m.flushQueued()
	finishing := func(r *testRun) {
		if r != nil && (r.phase == phaseRunning || r.phase == phaseConnecting) {
			r.phase = phaseFinishing
		}
	}
	if m.fl != nil {
		for _, t := range m.fl.targets {
			finishing(t.run)
		}
	} else {
		finishing(m.run)
	}
	if m.opts.Stop != nil {
		m.opts.Stop()
	}
	return nil
}

// count is the number of streams in the current order.
func (m *Model) count() int {
	if m.run == nil {
		return 0
	}
	return m.run.ord.count(m.run)
}

// at maps a position in the current order to a stream index.
func (m *Model) at(i int) int { return m.run.ord.at(i) }

// medianRate is the median rate of the run on screen's streams that are
// running or stalled.
func (m *Model) medianRate() float64 {
	if m.run == nil {
		return 0
	}
	return m.run.medianRate()
}

// updateOrder re-sorts and re-filters the streams of the run on screen
// when the data or the sort settings changed since the last time.
func (m *Model) updateOrder() {
	if m.run != nil {
		m.run.updateOrder(m.sort, m.reverse, m.filter)
	}
}

// streamOrder is a run's streams in the list's order, cached until the
// data or the sort settings change.
type streamOrder struct {
	idx        []int32 // the order when not identity
	identity   bool
	key        [5]int
	median     float64
	medianSeq  int
	medScratch []float64
}

func newOrder() streamOrder { return streamOrder{identity: true, key: [5]int{-1}, medianSeq: -1} }

func (o *streamOrder) count(r *testRun) int {
	if o.identity {
		return len(r.streams)
	}
	return len(o.idx)
}

func (o *streamOrder) at(i int) int {
	if o.identity {
		return i
	}
	return int(o.idx[i])
}

// medianRate is the median rate of the streams that are running or
// stalled, computed once per sample.
func (r *testRun) medianRate() float64 {
	o := &r.ord
	if o.medianSeq == r.seq {
		return o.median
	}
	o.medianSeq = r.seq
	v := o.medScratch[:0]
	for i := range r.streams {
		if s := &r.streams[i]; s.state == engine.StateRunning || s.state == engine.StateStalled {
			v = append(v, s.rate)
		}
	}
	o.medScratch = v
	o.median = 0
	if len(v) > 0 {
		slices.Sort(v)
		o.median = v[len(v)/2]
		if len(v)%2 == 0 {
			o.median = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
	}
	return o.median
}

// updateOrder re-sorts and re-filters the run's streams when the data or
// the sort settings changed since the last time.
func (r *testRun) updateOrder(sort sortKey, reverse, filter bool) {
	o := &r.ord
	key := [5]int{r.seq, int(sort), b2i(reverse), b2i(filter), len(r.streams)}
	if key == o.key {
		return
	}
	o.key = key
	if sort == sortID && !reverse && !filter {
		o.identity = true
		return
	}
	o.identity = false
	o.idx = o.idx[:0]
	med := 0.0
	if filter {
		med = r.medianRate()
	}
	for i := range r.streams {
		if !filter || r.streams[i].problem(med) {
			o.idx = append(o.idx, int32(i))
		}
	}
	ss := r.streams
	rev := reverse
	var cmp func(a, b int32) int
	switch sort {
	case sortRate:
		cmp = func(a, b int32) int {
			x, y := ss[a].rate, ss[b].rate
			if rev {
				x, y = y, x
			}
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return ss[a].id - ss[b].id
		}
	case sortRetr:
		cmp = func(a, b int32) int {
			x, y := ss[a].retr, ss[b].retr
			if rev {
				x, y = y, x
			}
			switch {
			case x > y:
				return -1
			case x < y:
				return 1
			}
			return ss[a].id - ss[b].id
		}
	case sortState:
		cmp = func(a, b int32) int {
			x, y := ss[a].severity(), ss[b].severity()
			if rev {
				x, y = y, x
			}
			if x != y {
				return y - x
			}
			if d := ss[b].stalledFor - ss[a].stalledFor; d != 0 && !rev {
				if d > 0 {
					return 1
				}
				return -1
			}
			return ss[a].id - ss[b].id
		}
	default:
		cmp = func(a, b int32) int {
			if rev {
				return ss[b].id - ss[a].id
			}
			return ss[a].id - ss[b].id
		}
	}
	slices.SortFunc(o.idx, cmp)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// onKey handles one key press. Keys typed faster than the terminal is
// read arrive as one message with several runes ("jjj"); each counts.
func (m *Model) onKey(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 && !k.Paste {
		var cmds []tea.Cmd
		for _, r := range k.Runes {
			if cmd := m.onKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}); cmd != nil {
				cmds = append(cmds, cmd)
			}
			if m.quitting {
				break
			}
		}
		return tea.Batch(cmds...)
	}
	km := &m.keys
	switch {
	case key.Matches(k, km.Quit):
		return m.stop()
	case key.Matches(k, km.Help):
		m.showHelp = !m.showHelp
		m.help.ShowAll = m.showHelp
		return nil
	case key.Matches(k, km.Pause):
		m.paused = !m.paused
		if !m.paused {
			m.flushQueued()
		}
		return nil
	}
	if key.Matches(k, km.NextTest) && m.opts.Mode == ModeServer {
		m.nextTest()
		return nil
	}
	if m.fl != nil {
		switch {
		case key.Matches(k, km.NextTest):
			m.fleetStep(1)
			return nil
		case key.Matches(k, km.PrevTest):
			m.fleetStep(-1)
			return nil
		}
		if m.fleetAll() && m.view != viewFindings {
			return m.fleetListKey(k)
		}
	}
	switch m.view {
	case viewDetail:
		return m.detailKey(k)
	case viewFindings:
		return m.findingsKey(k)
	case viewMap:
		return m.mapKey(k)
	}
	return m.listKey(k)
}

// orderKeys handles the keys that change the list's order or filter
// (and so start it from the top); it reports whether k was one.
func (m *Model) orderKeys(k tea.KeyMsg) bool {
	km := &m.keys
	switch {
	case key.Matches(k, km.Sort):
		m.sort = (m.sort + 1) % numSortKeys
	case key.Matches(k, km.Reverse):
		m.reverse = !m.reverse
	case key.Matches(k, km.Filter):
		m.filter = !m.filter
	default:
		return false
	}
	m.cursor, m.offset = 0, 0
	return true
}

// common keys of the list and the map: sorting, filtering, views.
func (m *Model) viewKeys(k tea.KeyMsg) bool {
	km := &m.keys
	switch {
	case m.orderKeys(k):
	case key.Matches(k, km.Detail):
		m.updateOrder()
		if m.count() > 0 {
			m.detail = m.at(min(m.cursor, m.count()-1))
			m.view = viewDetail
		}
	case key.Matches(k, km.Map):
		if m.view == viewMap {
			m.view = viewList
		} else {
			m.view = viewMap
		}
		m.offset = 0
	case key.Matches(k, km.Findings):
		m.view, m.findOff = viewFindings, 0
	default:
		return false
	}
	return true
}

func (m *Model) listKey(k tea.KeyMsg) tea.Cmd {
	if m.viewKeys(k) {
		return nil
	}
	m.updateOrder()
	km := &m.keys
	page := max(1, m.rowsH)
	switch {
	case key.Matches(k, km.Up):
		m.cursor--
	case key.Matches(k, km.Down):
		m.cursor++
	case key.Matches(k, km.PageUp):
		m.cursor -= page
		m.offset -= page
	case key.Matches(k, km.PageDown):
		m.cursor += page
		m.offset += page
	case key.Matches(k, km.Top):
		m.cursor = 0
	case key.Matches(k, km.Bottom):
		m.cursor = m.count() - 1
	case key.Matches(k, km.Back):
		if m.fl != nil && !m.filter {
			m.fleetFocus(-1) // back to every server
			return nil
		}
		m.filter = false
	}
	m.clampList()
	return nil
}

// clampList keeps the cursor inside the list and the visible window
// around the cursor.
func (m *Model) clampList() { m.clampRows(m.count()) }

// clampRows is clampList for a list of n rows.
func (m *Model) clampRows(n int) {
	h := max(1, m.rowsH)
	m.cursor = min(max(m.cursor, 0), max(n-1, 0))
	m.offset = min(max(m.offset, 0), max(n-h, 0))
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
}

func (m *Model) detailKey(k tea.KeyMsg) tea.Cmd {
	km := &m.keys
	n := 0
	if m.run != nil {
		n = len(m.run.streams)
	}
	switch {
	case key.Matches(k, km.Back), key.Matches(k, km.Detail):
		m.view = viewList
	case key.Matches(k, km.Left), key.Matches(k, km.Up):
		m.stepDetail(-1)
	case key.Matches(k, km.Right), key.Matches(k, km.Down):
		m.stepDetail(1)
	case key.Matches(k, km.Map):
		m.view = viewMap
	case key.Matches(k, km.Findings):
		m.view, m.findOff = viewFindings, 0
	}
	if m.detail >= n {
		m.view = viewList
	}
	return nil
}

// stepDetail moves the detail view to the previous or next stream in the
// list's order, keeping the list cursor on it.
func (m *Model) stepDetail(d int) {
	m.updateOrder()
	n := m.count()
	if n == 0 {
		return
	}
	pos := -1
	for i := 0; i < n; i++ {
		if m.at(i) == m.detail {
			pos = i
			break
		}
	}
	if pos < 0 {
		pos = m.cursor
	}
	pos = min(max(pos+d, 0), n-1)
	m.cursor = pos
	m.detail = m.at(pos)
	m.clampList()
}

func (m *Model) findingsKey(k tea.KeyMsg) tea.Cmd {
	km := &m.keys
	switch {
	case key.Matches(k, km.Back), key.Matches(k, km.Findings):
		m.view = viewList
	case key.Matches(k, km.Up):
		m.findOff--
	case key.Matches(k, km.Down):
		m.findOff++
	case key.Matches(k, km.PageUp):
		m.findOff -= max(1, m.height-4)
	case key.Matches(k, km.PageDown):
		m.findOff += max(1, m.height-4)
	case key.Matches(k, km.Top):
		m.findOff = 0
	case key.Matches(k, km.Bottom):
		m.findOff = 1 << 30
	case key.Matches(k, km.Map) && m.run != nil:
		m.view = viewMap
	}
	m.findOff = max(m.findOff, 0) // the upper bound is applied when drawing
	return nil
}

// sortLabel describes the current order for the header.
func (m *Model) sortLabel() string {
	if m.reverse {
		return sortNamesRev[m.sort]
	}
	return sortNames[m.sort]
}

var _ tea.Model = (*Model)(nil)
