// Package ui is flowscope's live terminal front end: a bubbletea program
// that consumes the engine's events (and nothing else) and shows the test
// as it runs: a header with the test's state, a SUM chart, a stream list
// with sparklines, a detail view of one stream, a map of every stream, the
// engine's findings, and, on a server, a short history of finished tests.
//
// The screen of one test (testScreen, files test_*.go) is the building
// block: the client shows one (client.go), a server one per test it serves
// (server.go), a multi-server run one per server under an overview of
// them all (fleet*.go). Model (this file) is the bubbletea model around
// them: it routes messages, holds samples while paused, stops and quits,
// and builds the frame.
//
// A front end sends every engine.Event to the program with Program.Send,
// one message per event; a multi-server run (ModeFleet) wraps each in a
// TargetMsg naming the server whose test it belongs to. Anything that has
// the events can drive the screen the same way (a recording, a test).
// Data messages only update the model; the screen is rebuilt at most once
// per Options.FrameInterval for them, and at once for keys. Rendering is
// bounded by the visible rows, not the flow count.
package ui

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

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

// TargetMsg is one engine event of a multi-server run (ModeFleet), tagged
// with the server whose test produced it: the engine's events do not say.
// Target is one of Options.Targets; an unknown one gets a section of its
// own after them.
type TargetMsg struct {
	Target string
	Event  engine.Event
}

// frameMsg asks for a redraw of data that arrived since the last frame.
type frameMsg struct{}

// maxQueued bounds the samples held while the display is paused.
const maxQueued = 4096

// front is what a Mode puts on the screen: one test (clientView), a
// server's tests (serverView) or a fleet's (fleetView). The Model feeds it
// events and the keys it does not handle itself, and asks it for the
// header and the body of each frame.
type front interface {
	// event folds one engine event (of server target in a fleet) into
	// the screen and reports whether the UI should quit now.
	event(target string, ev engine.Event) (quit bool)
	key(k tea.KeyMsg)
	header() []string
	body(h int) []string
	// help is the footer's help for what is on screen (viewHelp.k unset).
	help() viewHelp
	// ended reports whether every test the front waits for ended;
	// missingEnd whether one never will (the engine returned without
	// its End: a panic).
	ended() bool
	missingEnd() bool
	// stop marks the tests in progress as finishing (q was pressed).
	stop()
}

// heldSample is a sample that arrived while the display was paused, and
// the server it came from in a multi-server run.
type heldSample struct {
	target string
	s      *engine.Sample
}

// Model is the UI's state. Use it through a pointer: Update mutates it and
// returns the same pointer.
type Model struct {
	env
	opts     Options
	help     help.Model
	showHelp bool
	front    front
	targeted bool // events arrive as TargetMsg (ModeFleet)

	queued    []heldSample
	quitting  bool
	engineErr error
	panicked  error

	frame          string
	dirty, ticking bool
	lastFrame      time.Time
}

// New returns a Model ready for tea.NewProgram. Styles are built here, so
// set the colour profile (lipgloss.SetColorProfile) before calling it.
func New(opts Options) *Model {
	m := &Model{opts: opts, help: help.New()}
	m.st = newStyles()
	m.keys = DefaultKeyMap()
	m.help.Styles.ShortKey = m.st.help.Bold(true)
	m.help.Styles.FullKey = m.st.help.Bold(true)
	m.help.Styles.ShortDesc = m.st.help
	m.help.Styles.FullDesc = m.st.help
	switch opts.Mode {
	case ModeServer:
		m.front = newServerView(&m.env, opts.Listen, opts.Backlog)
	case ModeFleet:
		m.front = newFleetView(&m.env, opts.Targets)
		m.targeted = true
	default:
		m.front = newClientView(&m.env)
	}
	return m
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd { return nil }

// Ended reports whether the engine finished: every test's End arrived
// (client, fleet), or the engine call returned.
func (m *Model) Ended() bool { return m.engineDone || m.front.ended() }

// Err is the panic the UI recovered from, if any: the UI then quit (so
// bubbletea restored the terminal) and the caller should report it.
func (m *Model) Err() error { return m.panicked }

// Update implements tea.Model. A panic while handling msg is recovered:
// the program quits cleanly, restoring the terminal, and Err reports it.
func (m *Model) Update(msg tea.Msg) (model tea.Model, cmd tea.Cmd) {
	defer func() {
		if r := recover(); r != nil {
			m.panicked = fmt.Errorf("ui: internal error: %v\n%s", r, debug.Stack())
			m.quitting = true
			model, cmd = m, tea.Quit
		}
	}()
	return m, m.update(msg)
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	if m.quitting && m.panicked != nil {
		return tea.Quit
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.render()
		return nil
	case tea.KeyMsg:
		cmd := m.onKey(msg)
		if !m.quitting {
			m.render()
		}
		return cmd
	case frameMsg:
		m.ticking = false
		if m.dirty {
			m.render()
		}
		return nil
	case StopMsg:
		cmd := m.stop()
		m.render()
		return cmd
	case DoneMsg:
		return m.onDone(msg)
	case LogMsg:
		if sv, ok := m.front.(*serverView); ok {
			sv.log(string(msg))
		}
		return m.frameLater()
	case TargetMsg:
		if !m.targeted {
			return nil
		}
		return m.onEvent(msg.Target, msg.Event)
	case engine.Event:
		if m.targeted {
			return nil // a multi-server run's events name their server
		}
		return m.onEvent("", msg)
	}
	return nil
}

// View implements tea.Model. It returns the last frame built; it never
// draws.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	return m.frame
}

// onEvent hands one engine event to the front; samples are held while
// paused (the screen keeps the data it shows; only the header counts what
// is held) and redraw at the frame rate.
func (m *Model) onEvent(target string, ev engine.Event) tea.Cmd {
	if s, ok := ev.(*engine.Sample); ok {
		if m.paused && len(m.queued) < maxQueued {
			m.queued = append(m.queued, heldSample{target, s})
			m.held = len(m.queued)
		} else {
			m.front.event(target, s)
		}
		return m.frameLater()
	}
	m.flushQueued()
	if m.front.event(target, ev) {
		m.quitting = true
		return tea.Quit
	}
	switch ev.(type) {
	case *engine.End:
		m.dirty = true
		m.render()
	case *engine.Connecting, *engine.Progress, *engine.Start:
		return m.frameLater()
	}
	return nil
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
		m.front.event(h.target, h.s)
	}
	clear(m.queued)
	m.queued = m.queued[:0]
	m.held = 0
}

func (m *Model) onDone(d DoneMsg) tea.Cmd {
	m.engineDone, m.engineErr = true, d.Err
	if m.stopping || m.front.missingEnd() {
		// Stopped as asked, or a client returned without its End (a
		// panic): nothing more will come.
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
	m.front.stop()
	if m.opts.Stop != nil {
		m.opts.Stop()
	}
	return nil
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
	case key.Matches(k, km.Pause):
		m.paused = !m.paused
		if !m.paused {
			m.flushQueued()
		}
	default:
		m.front.key(k)
	}
	return nil
}

// Minimum useful sizes: smaller terminals get a one-line notice.
const (
	minWidth  = 40
	minHeight = 12
)

// render rebuilds the frame. It runs after keys and at most once per
// FrameInterval for data.
func (m *Model) render() {
	m.dirty = false
	m.lastFrame = time.Now()
	if m.width <= 0 || m.height <= 0 {
		m.frame = ""
		return
	}
	if m.width < minWidth || m.height < minHeight {
		m.frame = cut(fmt.Sprintf("flowscope: terminal too small (%dx%d), need 80x24", m.width, m.height), m.width)
		return
	}
	lines := slices.Clip(m.front.header())
	for i := range lines {
		lines[i] = m.truncate(lines[i])
	}
	footer := m.footer()
	m.headerH, m.footerH = len(lines), len(footer)
	lines = append(lines, m.front.body(m.height-len(lines)-len(footer))...)
	for len(lines) < m.height-len(footer) {
		lines = append(lines, "")
	}
	lines = append(lines[:m.height-len(footer)], footer...)
	m.frame = strings.Join(lines, "\n")
}

// footer is the help line (or the full help with ?).
func (m *Model) footer() []string {
	vh := m.front.help()
	vh.k = &m.keys
	if !m.showHelp {
		for {
			h := " " + m.help.ShortHelpView(vh.ShortHelp())
			if ansi.StringWidth(h) <= m.width || vh.drop >= 3 {
				return []string{m.truncate(h)}
			}
			vh.drop++
		}
	}
	out := strings.Split(m.help.FullHelpView(vh.FullHelp()), "\n")
	for i := range out {
		out[i] = m.truncate(" " + out[i])
	}
	return out
}

var _ tea.Model = (*Model)(nil)
