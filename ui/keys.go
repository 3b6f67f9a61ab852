package ui

import (
	"slices"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// KeyMap is every key binding of the UI, in one place. Views pick the
// bindings they use for the help line.
type KeyMap struct {
	Up, Down, Left, Right key.Binding
	PageUp, PageDown      key.Binding
	Top, Bottom           key.Binding
	Sort, Reverse, Filter key.Binding
	Detail, Back          key.Binding
	Map, Findings, Pause  key.Binding
	NextTest, PrevTest    key.Binding
	Help, Quit            key.Binding
}

// DefaultKeyMap returns the standard bindings.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		Left:     b([]string{"left", "h"}, "←/h", "previous"),
		Right:    b([]string{"right", "l"}, "→/l", "next"),
		PageUp:   b([]string{"pgup", "ctrl+b", "b"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+f", " "}, "pgdn", "page down"),
		Top:      b([]string{"g", "home"}, "g", "top"),
		Bottom:   b([]string{"G", "end"}, "G", "bottom"),
		Sort:     b([]string{"s"}, "s", "sort"),
		Reverse:  b([]string{"r"}, "r", "reverse sort"),
		Filter:   b([]string{"f"}, "f", "problems only"),
		Detail:   b([]string{"enter"}, "enter", "detail"),
		Back:     b([]string{"esc", "backspace"}, "esc", "back"),
		Map:      b([]string{"m"}, "m", "map"),
		Findings: b([]string{"w"}, "w", "findings"),
		Pause:    b([]string{"p"}, "p", "pause"),
		NextTest: b([]string{"tab"}, "tab", "next test"),
		PrevTest: b([]string{"shift+tab"}, "S-tab", "prev server"),
		Help:     b([]string{"?"}, "?", "help"),
		Quit:     b([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// moveCursor applies a cursor key to a list or map of n entries with
// step entries per line (1 in a list, a row of cells in the map) and page
// entries per page. It returns the new cursor, not yet clamped, and how far
// the window scrolls with it (a page key moves both); ok is false when k
// moves nothing.
func (km *KeyMap) moveCursor(k tea.KeyMsg, cursor, n, step, page int) (c, scroll int, ok bool) {
	switch {
	case key.Matches(k, km.Up):
		if cursor >= step {
			cursor -= step
		}
	case key.Matches(k, km.Down):
		if cursor+step < n {
			cursor += step
		}
	case key.Matches(k, km.PageUp):
		return cursor - page, -page, true
	case key.Matches(k, km.PageDown):
		return cursor + page, page, true
	case key.Matches(k, km.Top):
		cursor = 0
	case key.Matches(k, km.Bottom):
		cursor = n - 1
	default:
		return cursor, 0, false
	}
	return cursor, 0, true
}

// viewHelp adapts the KeyMap to bubbles' help.KeyMap for one view. drop
// leaves out that many of the least important bindings from the short
// help, for narrow terminals.
type viewHelp struct {
	k      *KeyMap
	view   viewKind
	drop   int
	server bool // tab moves between a server's tests
	fleet  bool // tab moves between the servers of a multi-server run
}

// nextKey is tab as this screen names it.
func (h viewHelp) nextKey() key.Binding {
	b := h.k.NextTest
	if h.fleet {
		b.SetHelp("tab", "next server")
	}
	return b
}

// ShortHelp is the one-line help of the current view.
func (h viewHelp) ShortHelp() []key.Binding {
	k := h.k
	var bs, least []key.Binding // least: dropped first, in order
	switch h.view {
	case viewDetail:
		bs = []key.Binding{k.Left, k.Right, k.Back, k.Pause, k.Help, k.Quit}
		least = []key.Binding{k.Pause, k.Left}
	case viewMap:
		bs = []key.Binding{k.Sort, k.Filter, k.Detail, k.Back, k.Pause, k.Help, k.Quit}
		least = []key.Binding{k.Pause, k.Back, k.Sort}
	case viewFindings:
		bs = []key.Binding{k.Up, k.Down, k.Back, k.Help, k.Quit}
		least = []key.Binding{k.Up, k.Down}
	default:
		bs = []key.Binding{k.Sort, k.Filter, k.Detail, k.Map, k.Findings, k.Pause, k.Help, k.Quit}
		// w (findings) is the last to go: it is where the diagnosis is.
		least = []key.Binding{k.Pause, k.Map, k.Findings}
		if h.fleet {
			bs = slices.Insert(bs, 5, h.nextKey())
		}
	}
	for _, d := range least[:min(h.drop, len(least))] {
		for i := range bs {
			if bs[i].Help() == d.Help() {
				bs = append(bs[:i], bs[i+1:]...)
				break
			}
		}
	}
	return bs
}

// FullHelp is every binding of the current view, in columns.
func (h viewHelp) FullHelp() [][]key.Binding {
	k := h.k
	nav := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
	switch h.view {
	case viewDetail:
		return [][]key.Binding{{k.Left, k.Right}, {k.Back, k.Map, k.Findings}, {k.Pause, k.Help, k.Quit}}
	case viewMap:
		return [][]key.Binding{append(nav, k.Left, k.Right), {k.Filter, k.Detail, k.Back}, {k.Findings, k.Pause, k.Help, k.Quit}}
	case viewFindings:
		return [][]key.Binding{nav, {k.Back, k.Pause}, {k.Help, k.Quit}}
	}
	last := []key.Binding{k.Pause, k.Help, k.Quit}
	switch {
	case h.server:
		last = []key.Binding{k.Pause, k.NextTest, k.Help, k.Quit}
	case h.fleet:
		last = []key.Binding{k.Pause, h.nextKey(), k.PrevTest, k.Help, k.Quit}
	}
	return [][]key.Binding{nav, {k.Sort, k.Reverse, k.Filter}, {k.Detail, k.Map, k.Findings}, last}
}
