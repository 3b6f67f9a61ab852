package report

import (
	"bytes"

	"github.com/flowscope/flowscope/engine"
)

// ServerOutputs keeps, for each test a server runs, a second report written
// into memory, so the server can hand its own report to a client that asks
// for it (--get-server-output; see engine.ServerConfig.ServerOutput).
type ServerOutputs struct {
	json  bool
	tests *PerTest
}

// captured is one test's report in memory. The report ends with the local
// results handed to Output, so the End event itself is not reported.
type captured struct {
	buf bytes.Buffer
	rep Reporter
}

func (c *captured) Handle(ev engine.Event) {
	if _, ok := ev.(*engine.End); !ok {
		c.rep.Handle(ev)
	}
}

// NewServerOutputs returns the reports of a server whose clients' tests
// may ask for them, in JSON (json) or text.
func NewServerOutputs(json bool, opts Options) *ServerOutputs {
	opts.ServerOutput = true // iperf3's embedded server report has no title or extra data
	s := &ServerOutputs{json: json}
	s.tests = NewPerTest(func(uint64) Reporter {
		c := &captured{}
		if json {
			c.rep = NewJSON(&c.buf, opts)
		} else {
			c.rep = NewText(&c.buf, opts)
		}
		return c
	})
	return s
}

// Handle feeds an event to its test's report.
func (s *ServerOutputs) Handle(ev engine.Event) { s.tests.Handle(ev) }

// Output renders the test's report, ending with its local results: text,
// or a JSON document.
func (s *ServerOutputs) Output(test uint64, local *engine.End) (text string, doc []byte) {
	s.tests.With(test, func(r Reporter) {
		c := r.(*captured)
		c.rep.Handle(local)
		if s.json {
			doc = bytes.TrimSpace(c.buf.Bytes())
		} else {
			text = c.buf.String()
		}
	})
	return text, doc
}
