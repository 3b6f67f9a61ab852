package replay

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
	"github.com/flowscope/flowscope/ui"
)

// recording is a client test of n one-second intervals of one stream.
func recording(n int) *record.Recording {
	rec := &record.Recording{Format: record.Flowscope}
	rec.Events = append(rec.Events, &engine.Connecting{Host: "127.0.0.1", Port: 5201, Streams: 1},
		&engine.Start{Side: engine.SideClient, Host: "127.0.0.1", Port: 5201,
			Params:  engine.TestParams{Protocol: "TCP", Parallel: 1, Duration: time.Duration(n) * time.Second, Interval: time.Second},
			Streams: []engine.StreamInfo{{ID: 1, Dir: engine.Send}}})
	for i := 0; i < n; i++ {
		b := uint64(i+1) << 20
		rec.Events = append(rec.Events, &engine.Sample{Side: engine.SideClient, Seq: i,
			Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Streams: []engine.StreamSample{{ID: 1, Dir: engine.Send, Bytes: b, Total: b, State: engine.StateRunning}},
			Sent:    engine.Sum{Streams: 1, Bytes: b}})
	}
	rec.Events = append(rec.Events, &engine.End{Side: engine.SideClient, Seconds: float64(n),
		Streams: []engine.StreamResult{{ID: 1, Dir: engine.Send, Bytes: 1 << 30, Seconds: float64(n)}}})
	return rec
}

func TestPlayer(t *testing.T) {
	p := NewPlayer(recording(5))
	// Setup, 5 intervals, the End.
	if p.Positions() != 7 || p.Pos() != 0 || p.Shown() != 2 {
		t.Fatalf("positions %d, pos %d, shown %d", p.Positions(), p.Pos(), p.Shown())
	}
	if from, to, reset := p.Step(2); from != 2 || to != 4 || reset {
		t.Errorf("Step(2) = %d, %d, %v", from, to, reset)
	}
	if p.Time() != 2*time.Second || p.Length() != 5*time.Second {
		t.Errorf("time %v of %v", p.Time(), p.Length())
	}
	if from, to, reset := p.Step(-1); from != 0 || to != 3 || !reset {
		t.Errorf("Step(-1) = %d, %d, %v: moving back starts over", from, to, reset)
	}
	if _, to, _ := p.Seek(99); to != 8 || !p.AtEnd() {
		t.Errorf("Seek past the end: to %d, at end %v", to, p.AtEnd())
	}
	if p.Wait() != endPause {
		t.Errorf("wait at the end %v", p.Wait())
	}
	p.Seek(0)
	if p.Wait() != time.Second {
		t.Errorf("wait before a 1 s interval at normal speed: %v", p.Wait())
	}
	p.Faster()
	p.Faster()
	if p.Speed() != 4 || p.Wait() != 250*time.Millisecond {
		t.Errorf("speed %v, wait %v", p.Speed(), p.Wait())
	}
	for range Speeds {
		p.Slower()
	}
	if p.Speed() != Speeds[0] {
		t.Errorf("slowest speed %v", p.Speed())
	}
}

// logScreen is a test screen that keeps what it was sent.
type logScreen struct {
	events []engine.Event
	sizes  []tea.WindowSizeMsg
	keys   []string
}

func (s *logScreen) Init() tea.Cmd { return nil }
func (s *logScreen) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch m := msg.(type) {
	case engine.Event:
		s.events = append(s.events, m)
		if _, ok := m.(*engine.End); ok {
			return s, tea.Quit // as the live view does at a test's end
		}
	case tea.WindowSizeMsg:
		s.sizes = append(s.sizes, m)
	case tea.KeyMsg:
		s.keys = append(s.keys, m.String())
	}
	return s, nil
}
func (s *logScreen) View() string { return "screen with " + strings.Repeat("*", len(s.events)) }

func key(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// run executes a command the way the program would, a level deep, and
// returns the messages it produced (ticks excluded: they wait).
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	switch msg := cmd().(type) {
	case tea.QuitMsg:
		return true
	case tea.BatchMsg:
		for _, c := range msg {
			if quits(c) {
				return true
			}
		}
	}
	return false
}

func TestModelFeedsTheScreen(t *testing.T) {
	rec := recording(5)
	var screens []*logScreen
	m := New(rec, Options{Screen: func() tea.Model {
		s := &logScreen{}
		screens = append(screens, s)
		return s
	}})
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	cur := func() *logScreen { return screens[len(screens)-1] }
	if len(cur().events) != 3 || cur().sizes[0].Height != 29 {
		t.Fatalf("opened with %d events, size %v; want setup and the first interval, one line less", len(cur().events), cur().sizes)
	}
	m.Update(key(".>")) // two keys read at once
	// Past the End: the screen's quit at a test's end does not end the replay.
	_, cmd := m.Update(key("$"))
	if quits(cmd) {
		t.Errorf("the screen's quit at the End ended the replay")
	}
	if len(screens) != 1 || len(cur().events) != len(rec.Events) {
		t.Fatalf("%d screens, %d events after seeking to the end", len(screens), len(cur().events))
	}
	m.Update(key(","))
	if len(screens) != 2 || len(cur().events) != len(rec.Events)-1 || len(cur().sizes) != 1 {
		t.Fatalf("one step back: %d screens, %d events, sizes %v", len(screens), len(cur().events), cur().sizes)
	}
	for i, ev := range cur().events {
		if ev != rec.Events[i] {
			t.Fatalf("event %d replayed out of order", i)
		}
	}
	m.Update(key("s"))
	if len(cur().keys) != 1 || cur().keys[0] != "s" {
		t.Errorf("keys passed to the screen: %v", cur().keys)
	}
	if v := m.View(); !strings.Contains(v, "replay 5/6 · 5.0 of 5.0 s · paused ×1") || strings.Count(v, "\n") != 29 {
		t.Errorf("view:\n%s", v)
	}
	if _, cmd := m.Update(key("q")); !quits(cmd) {
		t.Errorf("q does not quit")
	}
}

// Playing steps one interval per tick of the current generation; a pause
// makes pending ticks stale.
func TestModelPlays(t *testing.T) {
	rec := recording(3)
	var s *logScreen
	m := New(rec, Options{Play: true, Screen: func() tea.Model { s = &logScreen{}; return s }})
	m.Init()
	gen := m.gen
	m.Update(tickMsg{gen})
	if len(s.events) != 4 {
		t.Fatalf("%d events after one tick", len(s.events))
	}
	m.Update(tickMsg{gen}) // stale: the tick above scheduled a new one
	if len(s.events) != 4 {
		t.Fatalf("a stale tick moved playback")
	}
	m.Update(key("p"))
	m.Update(tickMsg{m.gen})
	if len(s.events) != 4 || m.player.Playing() {
		t.Fatalf("paused playback moved")
	}
	m.Update(key("p"))
	for i := 0; i < 5 && m.player.Playing(); i++ {
		m.Update(tickMsg{m.gen})
	}
	if !m.player.AtEnd() || m.player.Playing() || len(s.events) != len(rec.Events) {
		t.Errorf("playback did not reach the end and stop: pos %d, playing %v", m.player.Pos(), m.player.Playing())
	}
}

// The live view's test screen shows a replayed test: its rows, then the
// end; stepping back shows the interval again.
func TestLiveViewReplay(t *testing.T) {
	rec := recording(4)
	m := New(rec, Options{Screen: func() tea.Model { return ui.New(ui.Options{Mode: ui.ModeClient}) }})
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	first := m.View()
	if !strings.Contains(first, "replay 1/5") || !strings.Contains(first, "8.39 Mbit/s") {
		t.Fatalf("first interval (1 MiB in 1 s = 8.39 Mbit/s) not shown:\n%s", first)
	}
	m.Update(key("$"))
	end := m.View()
	if !strings.Contains(end, "replay 5/5") || end == first {
		t.Fatalf("end not shown:\n%s", end)
	}
	m.Update(key("0"))
	if again := m.View(); again != first {
		t.Errorf("back at the first interval the screen differs:\n%s\nwant\n%s", again, first)
	}
}

// The servers of a multi-server recording move together: one position per
// interval number.
func TestPlayerFleet(t *testing.T) {
	one := recording(3)
	rec := &record.Recording{Format: record.Flowscope}
	for _, ev := range one.Events {
		rec.Events = append(rec.Events, ev, ev)
		rec.Targets = append(rec.Targets, "a", "b")
	}
	p := NewPlayer(rec)
	if p.Positions() != 5 {
		t.Fatalf("%d positions, want setup, 3 intervals, end", p.Positions())
	}
	if _, to, _ := p.Step(1); to != 6 {
		t.Errorf("the first interval shows %d events, want both servers' setup and first sample", to)
	}
}

// iperf3's own files replay in the live view: a 3.21 --json-stream capture
// of a --bidir test and a 3.12 -J document, each stepped to its end.
func TestIperf3FilesReplay(t *testing.T) {
	for _, tc := range []struct {
		file string
		rows []string
	}{
		{"../record/testdata/iperf3_321_stream_bidir_P2.jsonl", []string{"4 ↑", "6 ↑", "8 ↓", "11 ↓"}},
		{"../record/testdata/iperf3_312_J_P2.json", []string{"5 ↑", "7 ↑"}},
	} {
		rec, err := record.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		m := New(rec, Options{Screen: func() tea.Model { return ui.New(ui.Options{Mode: ui.ModeClient}) }})
		m.Init()
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
		for _, r := range tc.rows {
			if v := m.View(); !strings.Contains(v, r) {
				t.Errorf("%s: no row %q on the first interval:\n%s", tc.file, r, v)
			}
		}
		m.Update(key("$"))
		if v := m.View(); !strings.Contains(v, "done") || !strings.Contains(v, "replay") {
			t.Errorf("%s: the end is not shown:\n%s", tc.file, v)
		}
	}
}
