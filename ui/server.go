package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

// serverView is a server's screen: its listener, one test screen per test
// in progress (tests may run at once; events carry their test's id), the
// one on screen, and the tests it finished.
type serverView struct {
	*env
	listen  string
	backlog int
	// listener is the server's accept queue as last sampled.
	listener *engine.ListenerStats

	tests  map[uint64]*testScreen // in progress, by test id
	active []uint64               // their ids, oldest first
	cur    *testScreen            // on screen: nil until the first test
	idle   *testScreen            // shown until then

	history []finished
	logs    []string
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

func newServerView(e *env, listen string, backlog int) *serverView {
	idle := newTestScreen(e, engine.SideServer)
	idle.run.phase = phaseIdle
	return &serverView{env: e, listen: listen, backlog: backlog, tests: map[uint64]*testScreen{}, idle: idle}
}

// screen is the test screen on show.
func (sv *serverView) screen() *testScreen {
	if sv.cur == nil {
		return sv.idle
	}
	return sv.cur
}

func (sv *serverView) event(_ string, ev engine.Event) bool {
	var id uint64
	var side engine.Side
	switch e := ev.(type) {
	case *engine.Progress:
		id, side = e.Test, e.Side
	case *engine.Start:
		id, side = e.Test, e.Side
	case *engine.Sample:
		id, side = e.Test, e.Side
		if e.Listener != nil {
			sv.listener = e.Listener
		}
	case *engine.End:
		id, side = e.Test, e.Side
	default:
		return false
	}
	t := sv.testFor(id, side)
	t.handle(ev)
	if e, ok := ev.(*engine.End); ok {
		sv.finish(t, e)
	}
	return false
}

// testFor is test id's screen, new for a test not seen before; it goes on
// screen when no other test in progress is.
func (sv *serverView) testFor(id uint64, side engine.Side) *testScreen {
	t := sv.tests[id]
	if t == nil {
		t = newTestScreen(sv.env, side)
		t.run.id = id
		sv.tests[id] = t
		sv.active = append(sv.active, id)
		if sv.cur == nil || sv.cur.run.end != nil {
			sv.focus(t)
		}
	}
	return t
}

// focus shows test t, in the view the last one was in.
func (sv *serverView) focus(t *testScreen) {
	if sv.cur == t {
		return
	}
	t.view = sv.screen().view
	t.resetNav()
	sv.cur = t
}

// finish moves an ended test to the history; another test still running
// takes the screen.
func (sv *serverView) finish(t *testScreen, e *engine.End) {
	sv.history = append(sv.history, summarize(t.run, e))
	if len(sv.history) > 50 {
		sv.history = slices.Delete(sv.history, 0, len(sv.history)-50)
	}
	delete(sv.tests, t.run.id)
	if k := slices.Index(sv.active, t.run.id); k >= 0 {
		sv.active = slices.Delete(sv.active, k, k+1)
	}
	if t == sv.cur && len(sv.active) > 0 {
		sv.focus(sv.tests[sv.active[0]])
	}
}

// nextTest moves the screen to the next test in progress.
func (sv *serverView) nextTest() {
	if len(sv.active) == 0 {
		return
	}
	i := 0
	if r := sv.cur; r != nil {
		if k := slices.Index(sv.active, r.run.id); k >= 0 && r.run.end == nil {
			i = (k + 1) % len(sv.active)
		}
	}
	sv.focus(sv.tests[sv.active[i]])
}

func (sv *serverView) log(l string) {
	sv.logs = append(sv.logs, l)
	if len(sv.logs) > 20 {
		sv.logs = slices.Delete(sv.logs, 0, len(sv.logs)-20)
	}
}

func (sv *serverView) key(k tea.KeyMsg) {
	if key.Matches(k, sv.keys.NextTest) {
		sv.nextTest()
		return
	}
	sv.screen().key(k)
}

// header is the listener's line above the test's two.
func (sv *serverView) header() []string {
	st := sv.st
	var l strings.Builder
	l.WriteByte(' ')
	st.title.to(&l, "flowscope server")
	l.WriteString(" · listening on " + sv.listen)
	if sv.backlog > 0 {
		l.WriteString(" · backlog " + strconv.Itoa(sv.backlog))
	}
	if q := sv.listener; q != nil {
		l.WriteString(fmt.Sprintf(" · accept queue %d/%d", q.AcceptQueue, q.Backlog))
	} else {
		st.dim.to(&l, " · accept queue n/a")
	}
	var a strings.Builder
	t := sv.cur
	switch {
	case t == nil:
		st.dim.to(&a, " no test yet")
	case t.run.end != nil:
		a.WriteString(" last test from " + hostPort(t.run.host, t.run.port))
	case t.run.host != "":
		a.WriteString(" test from " + hostPort(t.run.host, t.run.port))
	default:
		a.WriteString(" test starting")
	}
	if n := len(sv.active); n > 1 || n == 1 && (t == nil || t.run.end != nil) {
		k := 0
		if t != nil && t.run.end == nil {
			k = slices.Index(sv.active, t.run.id) + 1
		}
		st.warn.to(&a, " ["+strconv.Itoa(k)+"/"+strconv.Itoa(n)+" running, tab: next]")
	}
	if t == nil {
		state := " " + st.dim.wrap("▸ waiting for a client")
		if sv.engineDone {
			state = " " + st.dim.wrap("▸ server stopped")
		}
		var b strings.Builder
		b.WriteString(state)
		sv.pausedTo(&b)
		return []string{l.String(), a.String(), b.String()}
	}
	note := " · waiting for the next client"
	if sv.engineDone {
		note = " · server stopped"
	}
	return []string{l.String(), t.titleLine(a.String()), t.stateLine(note)}
}

func (sv *serverView) body(h int) []string {
	n := len(sv.history) + min(len(sv.logs), 2)
	if n > 0 {
		n++ // its heading
	}
	return sv.screen().body(h, pane{want: n, draw: sv.historyPane})
}

func (sv *serverView) help() viewHelp { return viewHelp{view: sv.screen().view, server: true} }

func (sv *serverView) ended() bool { return false }

func (sv *serverView) missingEnd() bool { return false }

func (sv *serverView) stop() {
	if sv.cur != nil {
		sv.cur.finishing()
	}
}

// historyPane is the server's list of finished tests and its log.
func (sv *serverView) historyPane(h int) []string {
	out := []string{sv.st.heading.wrap(" recent tests")}
	logs := sv.logs[max(0, len(sv.logs)-2):]
	room := h - 1
	nl := min(len(logs), max(0, room-len(sv.history)))
	if len(sv.history) > 0 && nl >= room {
		nl = max(0, room-1)
	}
	nt := room - nl
	hist := sv.history[max(0, len(sv.history)-nt):]
	for i := len(hist) - 1; i >= 0; i-- {
		out = append(out, sv.truncate(sv.historyLine(hist[i])))
	}
	for _, l := range logs[len(logs)-nl:] {
		out = append(out, sv.truncate(sv.st.dim.wrap("   log: "+l)))
	}
	if len(sv.history) == 0 && nl == 0 {
		out = append(out, sv.st.dim.wrap("   none yet"))
	}
	return out[:min(len(out), h)]
}

func (sv *serverView) historyLine(f finished) string {
	var b strings.Builder
	b.WriteString("   ")
	if !f.at.IsZero() {
		b.WriteString(f.at.Local().Format("15:04:05") + "  ")
	}
	b.WriteString(hostPort(f.host, f.port))
	b.WriteString("  " + strconv.Itoa(f.flows) + " flows " + f.dir)
	b.WriteString("  " + fmtSeconds(f.secs) + " s")
	if f.recv > 0 {
		b.WriteString("  recv " + fmtRate(f.recv))
	}
	if f.send > 0 {
		b.WriteString("  sent " + fmtRate(f.send))
	}
	if f.retr >= 0 {
		b.WriteString("  retr " + strconv.FormatInt(f.retr, 10))
	}
	if f.err != "" {
		return sv.st.bad.wrap(b.String() + "  failed: " + f.err)
	}
	return b.String() + sv.st.ok.wrap("  ok")
}

// summarize turns a finished server test into a history line.
func summarize(r *testRun, e *engine.End) finished {
	f := finished{at: r.began, host: r.host, port: r.port, secs: e.Seconds, retr: -1, flows: len(r.streams)}
	if r.hasParams {
		switch {
		case r.params.Bidir:
			f.dir = "↑↓ bidir"
		case r.params.Reverse:
			f.dir = "↑ send"
		default:
			f.dir = "↓ receive"
		}
	}
	for _, s := range e.Streams {
		if s.Dir == engine.Send && s.Retransmits >= 0 {
			f.retr = max(f.retr, 0) + s.Retransmits
		}
	}
	f.send, f.recv = endRates(e)
	if e.Err != nil {
		f.err = e.Err.Error()
	}
	return f
}
