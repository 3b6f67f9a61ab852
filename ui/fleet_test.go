package ui

import (
	"errors"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// fleetTargets are the three servers of the synthetic multi-server run.
var fleetTargets = []string{"10.0.0.1:5201", "10.0.0.2:5201", "10.0.0.3:5300"}

// fleetStreams is how many streams each synthetic server has.
var fleetStreams = []int{4, 2, 3}

// fleetRate is stream i of server t's rate in interval k (Mbit/s).
func fleetRate(t, i, k int) float64 { return float64(100*(t+1)*(i+1) + 10*k) }

// fleetStalled reports whether stream i of server t is stalled in
// interval k: server 3's second stream from the third interval on.
func fleetStalled(t, i, k int) bool { return t == 2 && i == 1 && k >= 2 }

// fleetSum is server t's SUM in interval k (Mbit/s).
func fleetSum(t, k int) float64 {
	sum := 0.0
	for i := 0; i < fleetStreams[t]; i++ {
		if !fleetStalled(t, i, k) {
			sum += fleetRate(t, i, k)
		}
	}
	return sum
}

// fleetRun is the synthetic run's events: a 10 s test against each of
// fleetTargets, and their first samples intervals, interleaved as the
// clients' events arrive, each tagged with its server.
type fleetRun struct {
	starts []*engine.Start
	msgs   []tea.Msg
}

func newFleetRun(samples int) *fleetRun {
	f := &fleetRun{}
	for t, label := range fleetTargets {
		host, port, _ := strings.Cut(label, ":")
		p, _ := strconv.Atoi(port)
		st := testStart(engine.SideClient, fleetStreams[t], engine.TestParams{Duration: 10 * time.Second})
		st.Host, st.Port = host, p
		f.starts = append(f.starts, st)
		f.msgs = append(f.msgs,
			TargetMsg{label, &engine.Connecting{Host: host, Port: p, Streams: fleetStreams[t]}},
			TargetMsg{label, st})
	}
	for k := 0; k < samples; k++ {
		for t := range fleetTargets {
			f.msgs = append(f.msgs, f.sample(t, k))
		}
	}
	return f
}

// sample is server t's interval k.
func (f *fleetRun) sample(t, k int) TargetMsg {
	return TargetMsg{fleetTargets[t], testSample(f.starts[t], k, func(i int) streamSpec {
		if fleetStalled(t, i, k) {
			return streamSpec{state: engine.StateStalled, stalled: time.Duration(k-1) * time.Second,
				reason: "peer window 0: the receiver is not reading"}
		}
		return streamSpec{mbps: fleetRate(t, i, k), retr: uint64(i)}
	})}
}

// end is server t's End after intervals seconds.
func (f *fleetRun) end(t int, secs float64, err error) TargetMsg {
	e := &engine.End{Side: engine.SideClient, Seconds: secs, Err: err}
	for i := 0; i < fleetStreams[t]; i++ {
		e.Streams = append(e.Streams, engine.StreamResult{ID: engine.StreamID(i), Dir: engine.Send,
			Bytes: uint64(fleetRate(t, i, 0) * 1e6 / 8 * secs), Seconds: secs})
	}
	return TargetMsg{fleetTargets[t], e}
}

func newFleetModel(w, h int, stop func()) *Model {
	m := New(Options{Mode: ModeFleet, Targets: fleetTargets, Stop: stop})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// sumCells is a SUM row's first cells for rate bps, as drawn.
func sumCells(bps float64) string {
	r := fmtRate(bps)
	return "SUM ↑  " + strings.Repeat(" ", wRate-1-len(r)) + r
}

var shiftTab = tea.KeyMsg{Type: tea.KeyShiftTab}

// section is one server's part of the overview as drawn.
type section struct {
	heading string
	sum     string   // its SUM row
	streams []string // its stream rows
}

// sections parses the overview's list into the servers' sections.
func sections(t *testing.T, m *Model) []section {
	t.Helper()
	var out []section
	lines, fields := listLines(m)
	for i, l := range lines {
		f := fields[i]
		switch {
		case strings.HasPrefix(l, " ■ "):
			out = append(out, section{heading: l})
		case len(f) > 0 && f[0] == "SUM" && len(out) > 0:
			out[len(out)-1].sum = l
		case isStreamRow(f) && len(out) > 0:
			out[len(out)-1].streams = append(out[len(out)-1].streams, l)
		default:
			return out
		}
	}
	return out
}

var rateRe = regexp.MustCompile(`([0-9.]+) ([kMGT]?)bit/s`)

// rateOfRow is the first rate in a row, in bit/s.
func rateOfRow(t *testing.T, row string) float64 {
	t.Helper()
	m := rateRe.FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("no rate in %q", row)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v * map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m[2]]
}

// The overview groups the streams by server, in the targets' order: a
// heading with the server's name, its SUM row, then its streams; each SUM
// row is the sum of its streams and the header's SUM is the sum of them.
func TestFleetGroupsStreamsByServer(t *testing.T) {
	m := newFleetModel(120, 50, nil)
	run := newFleetRun(4)
	send(m, run.msgs...)
	secs := sections(t, m)
	if len(secs) != 3 {
		t.Fatalf("%d sections, want 3:\n%s", len(secs), ansi.Strip(m.View()))
	}
	total := 0.0
	for i, s := range secs {
		if !strings.Contains(s.heading, fleetTargets[i]) || !strings.Contains(s.heading, strconv.Itoa(fleetStreams[i])+" flows ↑ send") {
			t.Errorf("section %d heading %q, want %s", i, s.heading, fleetTargets[i])
		}
		if len(s.streams) != fleetStreams[i] {
			t.Errorf("section %d: %d stream rows, want %d", i, len(s.streams), fleetStreams[i])
		}
		want := fleetSum(i, 3) * 1e6
		if !strings.Contains(s.sum, sumCells(want)) {
			t.Errorf("section %d SUM row %q, want %s", i, s.sum, fmtRate(want))
		}
		// What is on screen adds up too (each rate has 3 digits).
		streams := 0.0
		for k, row := range s.streams {
			got := rateOfRow(t, row)
			exp := fleetRate(i, k, 3) * 1e6
			if fleetStalled(i, k, 3) {
				exp = 0
			}
			if math.Abs(got-exp) > exp*0.005 {
				t.Errorf("section %d stream %d rate %v, want %v: %q", i, k, got, exp, row)
			}
			streams += got
		}
		if sum := rateOfRow(t, s.sum); math.Abs(sum-streams) > sum*0.01 {
			t.Errorf("section %d: SUM row %v, its streams add up to %v", i, sum, streams)
		}
		total += want
	}
	if h := headerText(m); !strings.Contains(h, "→ 3 servers  TCP  9 flows ↑ send  SUM "+fmtRate(total)) ||
		!strings.Contains(h, "running 3/3 servers") || !strings.Contains(h, "4.0/10.0 s") || !strings.Contains(h, "1 STALLED") {
		t.Errorf("header %q, want the SUM over all servers %s", h, fmtRate(total))
	}
	if !strings.Contains(secs[2].sum, "1 STALLED") || !strings.Contains(secs[2].streams[1], "!! STALLED") {
		t.Errorf("the stalled stream's server does not say so: %q / %q", secs[2].sum, secs[2].streams[1])
	}
	// The chart's title and newest point are the same overall SUM.
	if v := ansi.Strip(m.View()); !strings.Contains(v, "╭─ SUM ─ ⣿ all servers "+fmtRate(total)) {
		t.Errorf("chart title lacks the overall SUM %s:\n%s", fmtRate(total), v)
	}
	// Retransmits add up per server and over all of them: stream i
	// retransmits i per interval while it is not stalled.
	retr := 0
	for i, s := range secs {
		n := 0
		for k := 0; k < 4; k++ {
			for j := 0; j < fleetStreams[i]; j++ {
				if !fleetStalled(i, j, k) {
					n += j
				}
			}
		}
		if !strings.Contains(s.sum, " "+strconv.Itoa(n)+" ") {
			t.Errorf("section %d SUM row %q lacks retr %d", i, s.sum, n)
		}
		retr += n
	}
	if !strings.Contains(headerText(m), "retr "+strconv.Itoa(retr)) {
		t.Errorf("header %q lacks retr %d", headerText(m), retr)
	}
}

// Events not tagged with a server are not a multi-server run's; events of
// a server not in Targets get a section of their own.
func TestFleetEventRouting(t *testing.T) {
	m := newFleetModel(120, 50, nil)
	run := newFleetRun(1)
	send(m, run.msgs...)
	before := m.View()
	st := testStart(engine.SideClient, 7, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(999)))
	if m.View() != before || strings.Contains(ansi.Strip(m.View()), "999") {
		t.Error("an untagged event changed the screen")
	}
	send(m, TargetMsg{"10.0.0.9:5201", st}, TargetMsg{"10.0.0.9:5201", testSample(st, 0, uniform(999))})
	secs := sections(t, m)
	if len(secs) != 4 || !strings.Contains(secs[3].heading, "10.0.0.9:5201") || len(secs[3].streams) != 7 {
		t.Errorf("the unknown server has no section of its own: %+v", secs)
	}
}

// The SUM chart over all servers adds up each server's k-th interval, and
// shows only the intervals every running server has reported.
func TestFleetChart(t *testing.T) {
	f := newFleetView(&env{}, []string{"a", "b"})
	a, b := f.targets[0].test.run, f.targets[1].test.run
	step := func(r *testRun, rate float64) {
		r.seq++
		r.elapsed = float64(r.seq)
		r.sumSend = rate
		f.addChart(r)
	}
	step(a, 100)
	step(a, 100)
	step(b, 50)
	if n := f.chartLen(); n != 1 {
		t.Errorf("chart has %d points while b reported one interval, want 1", n)
	}
	step(b, 50)
	if n := f.chartLen(); n != 2 || f.chart[0].send != 150 || f.chart[1].send != 150 {
		t.Errorf("chart %+v (len %d), want two points of 150", f.chart, n)
	}
	// A finished server no longer holds the chart back.
	step(a, 100)
	b.end = &engine.End{}
	if n := f.chartLen(); n != 3 {
		t.Errorf("chart has %d points after b ended, want 3", n)
	}
	// A long test: points are merged pairwise, the rate stays the average.
	for i := 3; i < 3*maxChartPoints; i++ {
		step(a, 100)
	}
	if len(f.chart) > maxChartPoints || f.shift == 0 {
		t.Fatalf("%d points, shift %d", len(f.chart), f.shift)
	}
	last := f.chart[len(f.chart)-1]
	if y := last.send / float64(last.n); y != 100 {
		t.Errorf("newest merged point %+v reads %v, want 100", last, y)
	}
	if y := f.chart[0].send / float64(f.chart[0].n); math.Abs(y-(150*2+100*float64(f.chart[0].n-2))/float64(f.chart[0].n)) > 1e-9 {
		t.Errorf("first merged point %+v reads %v", f.chart[0], y)
	}
}

// tab moves from the overview to each server and back; a server on its own
// looks like a one-server run under the overall SUM; esc goes back.
func TestFleetTabBetweenServers(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	run := newFleetRun(2)
	send(m, run.msgs...)
	overall := fmtRate((fleetSum(0, 1) + fleetSum(1, 1) + fleetSum(2, 1)) * 1e6)
	for i, label := range fleetTargets {
		send(m, keyMsg("tab"))
		h := headerText(m)
		if !strings.Contains(h, "[server "+strconv.Itoa(i+1)+"/3, tab: next]") || !strings.Contains(h, "SUM "+overall) ||
			!strings.Contains(h, "■ "+label+"  TCP  "+strconv.Itoa(fleetStreams[i])+" flows ↑ send  SUM "+fmtRate(fleetSum(i, 1)*1e6)) {
			t.Errorf("tab %d: header %q", i+1, h)
		}
		if ids := rowIDs(t, m); len(ids) != fleetStreams[i] {
			t.Errorf("tab %d: %d rows, want server %d's %d", i+1, len(ids), i+1, fleetStreams[i])
		}
		if v := ansi.Strip(m.View()); !strings.Contains(v, "╭─ SUM ─ "+fmtRate(fleetSum(i, 1)*1e6)) {
			t.Errorf("tab %d: the chart is not the server's", i+1)
		}
	}
	send(m, keyMsg("tab"))
	if len(sections(t, m)) != 3 || strings.Contains(headerText(m), "[server") {
		t.Errorf("tab after the last server: not the overview:\n%s", ansi.Strip(m.View()))
	}
	send(m, shiftTab)
	if !strings.Contains(headerText(m), "[server 3/3") {
		t.Errorf("shift+tab from the overview: %q", headerText(m))
	}
	send(m, keyMsg("esc"))
	if len(sections(t, m)) != 3 {
		t.Error("esc on a server does not go back to the overview")
	}
}

// In the overview the cursor moves over SUM and stream rows, never the
// headings; enter on a SUM row shows that server, on a stream its detail.
func TestFleetCursorAndEnter(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	send(m, newFleetRun(2).msgs...)
	cursorRow := func() string {
		for _, l := range screenLines(m) {
			if strings.HasPrefix(l, "▸ ") && !strings.HasPrefix(l, "▸ running") {
				return l
			}
		}
		return ""
	}
	if r := cursorRow(); !strings.Contains(r, "SUM ↑") || navOf(m).cursor != 1 {
		t.Fatalf("cursor starts on %q (%d), want server 1's SUM row", r, navOf(m).cursor)
	}
	send(m, keyMsg("k"))
	if navOf(m).cursor != 1 {
		t.Errorf("up from the first SUM row: cursor %d", navOf(m).cursor)
	}
	send(m, keyMsg("jjjjj")) // server 1's four streams, then server 2's SUM
	if r := cursorRow(); !strings.Contains(r, sumCells(fleetSum(1, 1)*1e6)) {
		t.Errorf("five down: cursor on %q, want server 2's SUM row", r)
	}
	send(m, keyMsg("k"))
	if r := cursorRow(); !strings.Contains(r, "     5 ↑") {
		t.Errorf("up from server 2's SUM row: cursor on %q, want server 1's last stream", r)
	}
	send(m, keyMsg("G"))
	if r := cursorRow(); !strings.Contains(r, "     4 ↑") || navOf(m).cursor != fleetOf(m).offs[3]-1 {
		t.Errorf("bottom: cursor on %q", r)
	}
	send(m, keyMsg("enter"))
	if navOf(m).view != viewDetail || fleetOf(m).focus != 2 || !strings.Contains(ansi.Strip(m.View()), "stream 4 ↑ send") {
		t.Errorf("enter on server 3's last stream: view %v focus %d:\n%s", navOf(m).view, fleetOf(m).focus, ansi.Strip(m.View()))
	}
	send(m, keyMsg("esc"))
	if navOf(m).view != viewList || fleetOf(m).focus != 2 || navOf(m).cursor != 2 {
		t.Errorf("esc from the detail: view %v focus %d cursor %d, want server 3's list on its stream", navOf(m).view, fleetOf(m).focus, navOf(m).cursor)
	}
	send(m, keyMsg("esc"))
	if !(fleetOf(m).focus < 0) || navOf(m).cursor != fleetOf(m).offs[3]-1 {
		t.Errorf("esc from a server's list: overview %v cursor %d, want the overview where it was", (fleetOf(m).focus < 0), navOf(m).cursor)
	}
	send(m, keyMsg("g"), keyMsg("enter"))
	if navOf(m).view != viewList || fleetOf(m).focus != 0 {
		t.Errorf("enter on a SUM row: view %v focus %d, want server 1's list", navOf(m).view, fleetOf(m).focus)
	}
}

// Sorting and the problems filter act within each server's section.
func TestFleetSortAndFilter(t *testing.T) {
	m := newFleetModel(150, 50, nil)
	send(m, newFleetRun(3).msgs...)
	send(m, keyMsg("s"), keyMsg("r")) // fastest first
	for i, s := range sections(t, m) {
		var rates []float64
		for _, row := range s.streams {
			rates = append(rates, rateOfRow(t, row))
		}
		if !slices.IsSortedFunc(rates, func(a, b float64) int { return int(b - a) }) || len(rates) != fleetStreams[i] {
			t.Errorf("server %d not sorted fastest first: %v", i+1, rates)
		}
	}
	// Problems are judged against each server's own median: server 1's
	// slowest stream is below half of its median, server 3's second one
	// stalled.
	send(m, keyMsg("f"))
	secs := sections(t, m)
	if len(secs) != 3 || len(secs[0].streams) != 1 || !strings.Contains(secs[0].streams[0], "     1 ↑") ||
		len(secs[1].streams) != 0 || !strings.Contains(secs[1].heading, "problems: 0 of 2") ||
		len(secs[2].streams) != 1 || !strings.Contains(secs[2].streams[0], "STALLED") || !strings.Contains(secs[2].heading, "problems: 1 of 3") {
		t.Errorf("filtered sections: %+v", secs)
	}
	if !strings.Contains(headerText(m), "filter: problems (2)") {
		t.Errorf("header %q", headerText(m))
	}
}

// q stops every test and the UI quits once every server's End arrived.
func TestFleetQuitWaitsForEveryEnd(t *testing.T) {
	stops := 0
	m := newFleetModel(120, 40, func() { stops++ })
	run := newFleetRun(2)
	send(m, run.msgs...)
	if cmd := send(m, keyMsg("q")); cmd != nil || stops != 1 {
		t.Fatalf("q: cmd %v, %d stops", cmd, stops)
	}
	if h := headerText(m); !strings.Contains(h, "finishing") {
		t.Errorf("header %q", h)
	}
	if cmd := send(m, run.sample(0, 2), run.end(0, 2.5, nil), run.end(2, 2.5, nil)); cmd != nil || m.Ended() {
		t.Fatal("quit before every End arrived")
	}
	secs := sections(t, m)
	if !strings.Contains(secs[0].sum, "done (stopped)") || !strings.Contains(secs[1].sum, "finishing") {
		t.Errorf("sections' states %q / %q", secs[0].sum, secs[1].sum)
	}
	if cmd := send(m, run.end(1, 2.5, nil)); cmd == nil || !isQuit(cmd) || stops != 1 {
		t.Errorf("the last End after q does not quit (%d stops)", stops)
	}

	// A second q quits at once.
	m2 := newFleetModel(120, 40, func() {})
	send(m2, run.msgs...)
	send(m2, keyMsg("q"))
	if cmd := send(m2, keyMsg("q")); cmd == nil || !isQuit(cmd) {
		t.Error("second q does not quit")
	}

	// Finished normally: the UI stays up until q, which quits.
	m3 := newFleetModel(120, 40, nil)
	send(m3, run.msgs...)
	for i := range fleetTargets {
		if cmd := send(m3, run.end(i, 10, nil)); cmd != nil {
			t.Fatal("a finished run quits by itself")
		}
	}
	want := fmtRate((fleetSum(0, 0) + fleetSum(1, 0) + fleetSum(2, 0)) * 1e6)
	if h := headerText(m3); !strings.Contains(h, "▸ done · q to exit") || !strings.Contains(h, "avg "+want) {
		t.Errorf("header %q, want done and the average %s", h, want)
	}
	if cmd := send(m3, keyMsg("q")); cmd == nil || !isQuit(cmd) {
		t.Error("q after the end does not quit")
	}

	// The clients returned without every End (a panic): quit.
	m4 := newFleetModel(120, 40, nil)
	send(m4, run.msgs...)
	if cmd := send(m4, run.end(0, 10, nil), DoneMsg{}); cmd == nil || !isQuit(cmd) {
		t.Error("DoneMsg with Ends missing does not quit")
	}
}

// A server that fails shows why in its section; the others run on. When
// every server failed before any data, the UI quits for main's errors.
func TestFleetFailures(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	run := newFleetRun(0)
	down := errors.New("unable to connect to server 10.0.0.2:5201: connection refused")
	msgs := slices.Concat(run.msgs[:2], run.msgs[4:])
	send(m, msgs...)
	if cmd := send(m, TargetMsg{fleetTargets[1], &engine.End{Side: engine.SideClient, Err: down}}); cmd != nil {
		t.Fatal("one failed server quits the UI")
	}
	send(m, run.sample(0, 0), run.sample(2, 0))
	secs := sections(t, m)
	if !strings.Contains(secs[1].heading, "failed: "+down.Error()) || !strings.Contains(secs[1].sum, "FAILED") {
		t.Errorf("failed server's section %+v", secs[1])
	}
	if h := headerText(m); !strings.Contains(h, "running 2/3 servers") || !strings.Contains(h, "1 failed") {
		t.Errorf("header %q", h)
	}
	m2 := newFleetModel(120, 40, nil)
	var cmd tea.Cmd
	for _, l := range fleetTargets {
		cmd = send(m2, TargetMsg{l, &engine.End{Side: engine.SideClient, Err: errors.New("refused")}})
	}
	if cmd == nil || !isQuit(cmd) {
		t.Error("every server failed before any data: no quit")
	}
}

// Paused, the servers' samples are held and applied on resume.
func TestFleetPause(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	run := newFleetRun(1)
	send(m, run.msgs...)
	send(m, keyMsg("p"), run.sample(0, 1), run.sample(1, 1))
	if h := headerText(m); !strings.Contains(h, "2 samples held") || !strings.Contains(h, "1.0/10.0 s") {
		t.Errorf("paused header %q", h)
	}
	send(m, keyMsg("p"))
	if h := headerText(m); strings.Contains(h, "PAUSED") || !strings.Contains(h, "2.0/10.0 s") || fleetOf(m).targets[1].test.run.seq != 2 {
		t.Errorf("resumed header %q", h)
	}
}

// Findings of every server show in the overview, each under its server.
func TestFleetFindings(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	run := newFleetRun(1)
	run.starts[1].Findings = []engine.Finding{{Severity: engine.Warning, Kind: "window-clamped", What: "the socket buffer is clamped", Fix: "sysctl -w net.core.wmem_max=16777216"}}
	send(m, run.msgs...)
	if v := ansi.Strip(m.View()); !strings.Contains(v, " ! 10.0.0.2:5201: at 0.0 s: the socket buffer is clamped") {
		t.Errorf("overview lacks the labelled finding:\n%s", v)
	}
	send(m, keyMsg("w"))
	if v := ansi.Strip(m.View()); !strings.Contains(v, "warning · 10.0.0.2:5201: at 0.0 s: the socket buffer is clamped") {
		t.Errorf("findings view:\n%s", v)
	}
}

// Every size gives exactly the screen's lines, none wider than it, in the
// overview and on a server.
func TestFleetResize(t *testing.T) {
	m := newFleetModel(120, 40, nil)
	send(m, newFleetRun(3).msgs...)
	for _, k := range []string{"", "tab", "m", "tab", "enter", "tab", "w"} {
		if k != "" {
			send(m, keyMsg(k))
		}
		for _, sz := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {200, 60}, {41, 12}} {
			send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			lines := strings.Split(m.View(), "\n")
			if len(lines) != sz[1] {
				t.Errorf("after %q at %dx%d: %d lines", k, sz[0], sz[1], len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > sz[0] {
					t.Errorf("after %q at %dx%d: line %d is %d wide: %q", k, sz[0], sz[1], i, w, ansi.Strip(l))
				}
			}
		}
	}
}
