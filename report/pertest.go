package report

import (
	"sync"

	"github.com/flowscope/flowscope/engine"
)

// PerTest is the one demultiplexer of a server's tests: it hands each
// test's events to a Reporter of its own, made at the test's first event
// and dropped after its End, so tests that run at once (--max-tests) are
// reported apart. A client's events all belong to test 0.
type PerTest struct {
	mu          sync.Mutex
	newReporter func(test uint64) Reporter
	tests       map[uint64]Reporter
}

// NewPerTest returns a PerTest that makes each test's Reporter with
// newReporter.
func NewPerTest(newReporter func(test uint64) Reporter) *PerTest {
	return &PerTest{newReporter: newReporter, tests: map[uint64]Reporter{}}
}

// TestOf is the server's number of the test an event belongs to (see
// engine.Start.Test); 0 for a client's events.
func TestOf(ev engine.Event) uint64 {
	switch e := ev.(type) {
	case *engine.Start:
		return e.Test
	case *engine.Sample:
		return e.Test
	case *engine.Progress:
		return e.Test
	case *engine.End:
		return e.Test
	}
	return 0
}

// Handle passes the event to its test's Reporter, one event at a time.
func (p *PerTest) Handle(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := TestOf(ev)
	rep := p.tests[id]
	if rep == nil {
		rep = p.newReporter(id)
		p.tests[id] = rep
	}
	rep.Handle(ev)
	if _, ok := ev.(*engine.End); ok {
		delete(p.tests, id)
	}
}

// With calls f with the Reporter of a test that is running, and reports
// whether there was one.
func (p *PerTest) With(test uint64, f func(Reporter)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	rep := p.tests[test]
	if rep == nil {
		return false
	}
	f(rep)
	return true
}
