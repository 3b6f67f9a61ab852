package ui

import (
	tea "github.com/charmbracelet/bubbletea"

	"github.com/flowscope/flowscope/engine"
)

// clientView is the client's screen (-c, --loopback): the one test this
// process runs.
type clientView struct {
	*env
	test *testScreen
}

func newClientView(e *env) *clientView {
	return &clientView{env: e, test: newTestScreen(e, engine.SideClient)}
}

func (c *clientView) event(_ string, ev engine.Event) bool {
	if _, ok := ev.(*engine.Connecting); ok && c.test.run.end != nil {
		c.test = newTestScreen(c.env, engine.SideClient) // a new test
	}
	c.test.handle(ev)
	e, ok := ev.(*engine.End)
	// Stopped by the user, or failed before any data moved: nothing to
	// look at, main prints the summary or the error.
	return ok && (c.stopping || e.Err != nil && !c.test.run.hasParams)
}

func (c *clientView) key(k tea.KeyMsg) { c.test.key(k) }

func (c *clientView) header() []string {
	r := c.test.run
	head := " " + c.st.title.wrap("flowscope")
	if r.host != "" {
		head += " → " + hostPort(r.host, r.port)
	}
	return []string{c.test.titleLine(head), c.test.stateLine(" · q to exit")}
}

func (c *clientView) body(h int) []string { return c.test.body(h, pane{}) }

func (c *clientView) help() viewHelp { return viewHelp{view: c.test.view} }

func (c *clientView) ended() bool { return c.test.run.end != nil }

func (c *clientView) missingEnd() bool { return c.test.run.end == nil }

func (c *clientView) stop() { c.test.finishing() }
