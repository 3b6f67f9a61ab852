package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// Summaries keeps each test's text summary (the part Options.SummaryOnly
// prints) and its findings timeline while a live view owns the screen, to
// print them afterwards: the summaries as the text output would have, the
// findings one line per span with its time. A server's summaries are
// each headed by the client the test came from, and only the last few are
// kept.
type Summaries struct {
	mu       sync.Mutex
	keep     int
	done     []string
	running  []*testSummary // tests without an End yet, oldest first
	findings bytes.Buffer
	handle   func(engine.Event)
}

// testSummary is one test's summary-only text report and its findings
// timeline.
type testSummary struct {
	s        *Summaries
	server   bool
	rep      Reporter
	buf      bytes.Buffer
	findings []engine.Finding
}

// NewSummaries keeps the summaries of a client's test, or (server) of the
// last keep tests of a server, each after its per-interval SUM table (see
// Options.SumIntervals).
func NewSummaries(opts Options, server bool, keep int) *Summaries {
	s := &Summaries{keep: keep}
	opts.SummaryOnly, opts.SumIntervals = true, true
	tests := NewPerTest(func(uint64) Reporter {
		t := &testSummary{s: s, server: server}
		t.rep = NewText(lockedWriter{&s.mu, &t.buf}, opts)
		s.mu.Lock()
		s.running = append(s.running, t)
		s.mu.Unlock()
		return t
	})
	s.handle = tests.Handle
	return s
}

// fold adds findings to the test's timeline: an entry that started,
// changed or ended replaces the one of the same span (diagnose.Merge), so
// each finding is one line however often it changed.
func (t *testSummary) fold(fs []engine.Finding) {
	for _, f := range fs {
		if f.Origin == "" && strings.HasPrefix(f.What, "server: ") {
			f.Origin = diagnose.OriginServer // an engine that does not place findings yet
		}
		t.findings = diagnose.Merge(t.findings, f)
	}
}

// printTimeline writes the test's findings in order of start, each with
// its span ("5.1–8.3 s"), as "flowscope: warning: 5.1–8.3 s: what
// (evidence). Fix: fix". An engine that gave a finding no span leaves the
// time out rather than claim one.
func printTimeline(w io.Writer, fs []engine.Finding) {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b engine.Finding) int { return cmp.Compare(a.Span.Start, b.Span.Start) })
	for _, f := range fs {
		line := f.String()
		if f.Span != (diagnose.Span{}) {
			sev, rest, _ := strings.Cut(line, ": ")
			line = sev + ": " + f.Span.String() + ": " + rest
		}
		fmt.Fprintf(w, "flowscope: %s\n", line)
	}
}

// Handle records one event; it runs on the engine's goroutines.
func (s *Summaries) Handle(ev engine.Event) { s.handle(ev) }

func (t *testSummary) Handle(ev engine.Event) {
	if e, ok := ev.(*engine.Start); ok && t.server {
		t.s.mu.Lock()
		fmt.Fprintf(&t.buf, "Accepted connection from %s, port %d\n", e.Host, e.Port)
		t.s.mu.Unlock()
	}
	t.rep.Handle(ev)
	var e *engine.End
	t.s.mu.Lock()
	switch ev := ev.(type) {
	case *engine.Start:
		t.fold(ev.Findings)
	case *engine.Sample:
		t.fold(ev.Findings)
	case *engine.End:
		t.fold(ev.Findings)
		e = ev
	}
	t.s.mu.Unlock()
	if e == nil {
		return
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	printTimeline(&t.s.findings, t.findings)
	if i := slices.Index(t.s.running, t); i >= 0 {
		t.s.running = slices.Delete(t.s.running, i, i+1)
	}
	if t.server && e.Err != nil {
		fmt.Fprintf(&t.buf, "test failed: %v\n", e.Err)
	}
	if t.buf.Len() == 0 {
		return
	}
	t.s.done = append(t.s.done, t.buf.String())
	if t.s.keep > 0 && len(t.s.done) > t.s.keep {
		t.s.done = t.s.done[len(t.s.done)-t.s.keep:]
	}
}

// Print writes the summaries to stdout, in the order the tests ended, and
// the findings to stderr.
func (s *Summaries) Print(stdout, stderr io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.done {
		_, _ = io.WriteString(stdout, d)
	}
	// Tests the view left before their End: what they measured until then.
	for _, t := range s.running {
		if t.buf.Len() > 0 {
			_, _ = io.WriteString(stdout, t.buf.String())
			_, _ = io.WriteString(stdout, "(the test did not end: the intervals above are what it measured until then)\n")
		}
		printTimeline(&s.findings, t.findings)
	}
	_, _ = stderr.Write(s.findings.Bytes())
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
