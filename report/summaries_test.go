package report

import (
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// The summaries printed after the UI keep a server's concurrent tests
// apart: each test's summary is whole and headed by its client.
func TestSummariesPerTest(t *testing.T) {
	s := NewSummaries(Options{Format: 'a'}, true, 10)
	start := func(id uint64, port int) *engine.Start {
		return &engine.Start{Side: engine.SideServer, Test: id, Host: "127.0.0.1", Port: port,
			Params:  engine.TestParams{Protocol: "TCP", Parallel: 1, Duration: time.Second},
			Streams: []engine.StreamInfo{{ID: 1, Dir: engine.Recv}}}
	}
	sample := func(id uint64) *engine.Sample {
		return &engine.Sample{Side: engine.SideServer, Test: id, End: time.Second,
			Streams: []engine.StreamSample{{ID: 1, Dir: engine.Recv, Bytes: 1 << 20, Total: 1 << 20}}}
	}
	end := func(id uint64, bytes uint64) *engine.End {
		return &engine.End{Side: engine.SideServer, Test: id, Seconds: 1,
			Streams: []engine.StreamResult{{ID: 1, Dir: engine.Recv, Bytes: bytes, Seconds: 1, Retransmits: -1}}}
	}
	for _, ev := range []engine.Event{start(1, 40001), sample(1), start(2, 40002), sample(2), sample(1), end(2, 2<<20), end(1, 1<<20)} {
		s.Handle(ev)
	}
	var out, errb strings.Builder
	s.Print(&out, &errb)
	got := out.String()
	i2 := strings.Index(got, "port 40002")
	i1 := strings.Index(got, "port 40001")
	if i2 < 0 || i1 < 0 || i2 > i1 {
		t.Fatalf("summaries not in end order with their headers:\n%s", got)
	}
	first, second := got[:i1], got[i1:]
	// Each test: its per-interval table, then its own summary.
	intervals := func(part string) (n int) {
		for _, l := range strings.Split(part, "\n") {
			if strings.Contains(l, " sec ") && !strings.HasSuffix(l, "receiver") && !strings.HasSuffix(l, "sender") {
				n++
			}
		}
		return n
	}
	if intervals(first) != 1 || !strings.Contains(first, "2.00 MBytes  16.8 Mbits/sec                  receiver") ||
		intervals(second) != 2 || !strings.Contains(second, "1.00 MBytes  8.39 Mbits/sec                  receiver") {
		t.Errorf("tests' tables and summaries mixed up:\n%s", got)
	}
	if testing.Verbose() {
		t.Log(got)
	}
}

// A view left before the test's End keeps the intervals measured so far,
// and says the test did not end; with several streams only the SUM.
func TestSummariesEarlyQuit(t *testing.T) {
	s := NewSummaries(Options{Format: 'a'}, false, 1)
	s.Handle(&engine.Start{Side: engine.SideClient, Params: engine.TestParams{Protocol: "TCP", Parallel: 2, Duration: 10 * time.Second},
		Streams: []engine.StreamInfo{{ID: 1, Dir: engine.Send}, {ID: 3, Dir: engine.Send}}})
	for i := 0; i < 3; i++ {
		s.Handle(&engine.Sample{Side: engine.SideClient, Seq: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Streams: []engine.StreamSample{{ID: 1, Dir: engine.Send, Bytes: 1 << 20}, {ID: 3, Dir: engine.Send, Bytes: 1 << 20}}})
	}
	var out, errb strings.Builder
	s.Print(&out, &errb)
	got := out.String()
	if n := strings.Count(got, "[SUM]"); n != 3 || strings.Contains(got, "[  1]") || !strings.Contains(got, "2.00-3.00   sec  2.00 MBytes  16.8 Mbits/sec") {
		t.Errorf("want three SUM lines and no stream lines:\n%s", got)
	}
	if !strings.Contains(got, "the test did not end") {
		t.Errorf("no note that the test did not end:\n%s", got)
	}
}

// The findings left after the view are the timeline: one line per span
// with its time, however often a finding changed; a finding without a
// span (an engine that gives none) is one line per kind without a time.
func TestSummariesFindingsTimeline(t *testing.T) {
	s := NewSummaries(Options{Format: 'a'}, false, 1)
	st := &engine.Start{Params: engine.TestParams{Protocol: "TCP", Parallel: 1, Duration: 10 * time.Second},
		Streams:  []engine.StreamInfo{{ID: 1, Dir: engine.Send}},
		Findings: []engine.Finding{{Severity: engine.Warning, Kind: "window-clamped", What: "clamped", Fix: "sysctl"}}}
	stall := func(what string, sp diagnose.Span) engine.Finding {
		return engine.Finding{Severity: engine.Warning, Kind: diagnose.KindStalled, What: what, Direction: diagnose.DirUp, Span: sp}
	}
	open := diagnose.Span{Start: 5100 * time.Millisecond}
	ended := diagnose.Span{Start: 5100 * time.Millisecond, End: 8300 * time.Millisecond, Ended: true}
	smp := func(fs ...engine.Finding) *engine.Sample {
		return &engine.Sample{End: time.Second, Streams: []engine.StreamSample{{ID: 1, Bytes: 1, Total: 1}}, Findings: fs}
	}
	for _, ev := range []engine.Event{st,
		smp(stall("2 of 8 ↑ streams stalled", open)), smp(stall("8 of 8 ↑ streams stalled", open)),
		smp(stall("8 of 8 ↑ streams stalled", ended)),
		&engine.End{Seconds: 10, Findings: []engine.Finding{st.Findings[0], stall("8 of 8 ↑ streams stalled", ended)}},
	} {
		s.Handle(ev)
	}
	var out, errb strings.Builder
	s.Print(&out, &errb)
	want := "flowscope: warning: clamped. Fix: sysctl\n" +
		"flowscope: warning: 5.1–8.3 s: 8 of 8 ↑ streams stalled.\n"
	if errb.String() != want {
		t.Errorf("findings:\n%s\nwant:\n%s", errb.String(), want)
	}
}
