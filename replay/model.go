package replay

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
)

// Screen makes the test screen a replay drives: a fresh one at the start
// and whenever playback moves back. It receives the recording's events as
// messages (wrapped by Wrap for a multi-server recording), window sizes
// one line shorter than the terminal, and every key the replay does not
// take.
type Screen func() tea.Model

// Model is the replay: the test screen and, on the terminal's last line,
// where playback is and its keys. It implements tea.Model.
type Model struct {
	rec     *record.Recording
	player  *Player
	screen  tea.Model
	make    Screen
	wrap    func(target string, ev engine.Event) tea.Msg
	problem string
	exit    bool
	size    tea.WindowSizeMsg
	gen     int // tick generation: a tick of an older one is stale
}

// Options configure a replay Model.
type Options struct {
	// Screen makes the test screen.
	Screen Screen
	// Wrap turns an event of a multi-server recording's target into the
	// screen's message; nil sends the bare event.
	Wrap func(target string, ev engine.Event) tea.Msg
	// Problem is why the file stopped being readable, shown on the status
	// line; empty for a whole file.
	Problem string
	// Play starts playback at once, else the replay opens paused on the
	// first interval.
	Play bool
	// ExitAtEnd quits once playback reaches the end.
	ExitAtEnd bool
}

// New returns a replay of rec.
func New(rec *record.Recording, opts Options) *Model {
	m := &Model{rec: rec, player: NewPlayer(rec), make: opts.Screen, wrap: opts.Wrap, problem: opts.Problem, exit: opts.ExitAtEnd}
	m.player.SetPlaying(opts.Play)
	return m
}

// Player is the replay's position.
func (m *Model) Player() *Player { return m.player }

type tickMsg struct{ gen int }

// Init shows the setup and the first interval and starts playback if asked.
func (m *Model) Init() tea.Cmd {
	m.screen = m.make()
	cmds := []tea.Cmd{noQuit(m.screen.Init())}
	_, to, _ := m.player.Seek(1)
	cmds = append(cmds, m.apply(0, to, false))
	return tea.Batch(append(cmds, m.schedule())...)
}

// apply sends the events from…to to the screen, after a fresh screen when
// reset.
func (m *Model) apply(from, to int, reset bool) tea.Cmd {
	var cmds []tea.Cmd
	if reset {
		m.screen = m.make()
		cmds = append(cmds, noQuit(m.screen.Init()))
		if m.size.Width > 0 {
			cmds = append(cmds, m.send(m.innerSize()))
		}
	}
	for i := from; i < to; i++ {
		ev := m.rec.Events[i]
		var msg tea.Msg = ev
		if m.rec.Targets != nil && m.wrap != nil {
			msg = m.wrap(m.rec.Targets[i], ev)
		}
		cmds = append(cmds, m.send(msg))
	}
	return tea.Batch(cmds...)
}

func (m *Model) send(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	m.screen, cmd = m.screen.Update(msg)
	return noQuit(cmd)
}

func (m *Model) innerSize() tea.WindowSizeMsg {
	return tea.WindowSizeMsg{Width: m.size.Width, Height: max(m.size.Height-1, 1)}
}

// schedule arranges the next playback step, when playing.
func (m *Model) schedule() tea.Cmd {
	m.gen++
	if !m.player.Playing() || m.player.AtEnd() {
		m.player.SetPlaying(false)
		return nil
	}
	gen := m.gen
	return tea.Tick(m.player.Wait(), func(time.Time) tea.Msg { return tickMsg{gen} })
}

// noQuit keeps the screen from ending the program: the test screen quits
// at a test's end, the replay stays until q.
func noQuit(cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg {
		switch msg := cmd().(type) {
		case tea.QuitMsg:
			return nil
		case tea.BatchMsg:
			out := make(tea.BatchMsg, len(msg))
			for i, c := range msg {
				out[i] = noQuit(c)
			}
			return out
		default:
			return msg
		}
	}
}

// Keys the replay takes; every other key goes to the screen.
const keyHelp = "p play/pause · -/+ speed · ,/. step · </> 10 steps · 0/$ start/end · q quit"

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.size = msg
		return m, m.send(m.innerSize())
	case tickMsg:
		if msg.gen != m.gen || !m.player.Playing() {
			return m, nil
		}
		cmd := m.apply(m.player.Step(1))
		if m.exit && m.player.AtEnd() {
			return m, tea.Batch(cmd, tea.Quit)
		}
		return m, tea.Batch(cmd, m.schedule())
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, m.send(msg)
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 && !k.Paste {
		// Keys typed faster than they are read arrive together.
		var cmds []tea.Cmd
		for _, r := range k.Runes {
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}))
		}
		return tea.Batch(cmds...)
	}
	seek := func(from, to int, reset bool) tea.Cmd {
		return tea.Batch(m.apply(from, to, reset), m.schedule())
	}
	switch k.String() {
	case "q", "ctrl+c":
		return tea.Quit
	case "p":
		if !m.player.Playing() && m.player.AtEnd() {
			m.player.SetPlaying(true)
			return seek(m.player.Seek(1))
		}
		m.player.SetPlaying(!m.player.Playing())
		return m.schedule()
	case "+", "=":
		m.player.Faster()
		return m.schedule()
	case "-", "_":
		m.player.Slower()
		return m.schedule()
	case ".":
		return seek(m.player.Step(1))
	case ",":
		return seek(m.player.Step(-1))
	case ">":
		return seek(m.player.Step(10))
	case "<":
		return seek(m.player.Step(-10))
	case "0":
		return seek(m.player.Seek(1))
	case "$":
		return seek(m.player.Seek(m.player.Positions() - 1))
	}
	return m.send(k)
}

// View is the screen above the status line.
func (m *Model) View() string {
	screen := ""
	if m.screen != nil {
		screen = m.screen.View()
	}
	if m.size.Height > 0 {
		lines := strings.Split(screen, "\n")
		if len(lines) > m.size.Height-1 {
			lines = lines[:m.size.Height-1]
		}
		for len(lines) < m.size.Height-1 {
			lines = append(lines, "")
		}
		screen = strings.Join(lines, "\n")
	}
	return screen + "\n" + m.status()
}

// status is the replay's line: position, recorded time, state and keys.
func (m *Model) status() string {
	p := m.player
	state := "paused"
	switch {
	case p.Playing():
		state = "playing"
	case p.AtEnd():
		state = "end"
	}
	speed := strconv.FormatFloat(p.Speed(), 'g', -1, 64)
	line := fmt.Sprintf("replay %d/%d · %.1f of %.1f s · %s ×%s", p.Pos(), p.Positions()-1,
		p.Time().Seconds(), p.Length().Seconds(), state, speed)
	if m.problem != "" && p.AtEnd() {
		line += " · file stops: " + m.problem
	}
	line += " · " + keyHelp
	if m.size.Width > 0 {
		line = ansi.Truncate(line, m.size.Width, "…")
	}
	return line
}
