package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

func span(start, end float64, ended bool) diagnose.Span {
	return diagnose.Span{Start: time.Duration(start * float64(time.Second)), End: time.Duration(end * float64(time.Second)), Ended: ended}
}

// flowscope.findings entries carry origin, direction, streams, start and
// end (null while the finding holds).
func TestFindingJSONKeys(t *testing.T) {
	f := engine.Finding{Severity: diagnose.Warning, Kind: "stalled", What: "2 of 4 ↓ streams stalled", Evidence: "e", Fix: "x",
		Origin: diagnose.OriginServer, Direction: diagnose.DirDown, Streams: []int{3, 5}, Span: span(5.1, 8.3, true)}
	b, err := json.Marshal(findingJSON(f, diagnose.OriginClient))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"severity":"warning","kind":"stalled","what":"2 of 4 ↓ streams stalled","evidence":"e","fix":"x","origin":"server","direction":"server-to-client","streams":[3,5],"start":5.1,"end":8.3}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	ongoing := engine.Finding{Severity: diagnose.Info, Kind: "backlog-small", What: "w", Span: span(2, 0, false)}
	b, _ = json.Marshal(findingJSON(ongoing, diagnose.OriginClient))
	if !strings.Contains(string(b), `"origin":"client","direction":"","streams":[],"start":2,"end":null`) {
		t.Errorf("an ongoing finding of this side: %s", b)
	}
}

// Text mode prints a finding when it starts and when it ends, not at every
// change of its numbers; setup facts carry no time.
func TestPrintFindingsStartAndEnd(t *testing.T) {
	var out bytes.Buffer
	events := 0
	h := PrintFindings(&out, func(engine.Event) { events++ })
	up := func(what string, s diagnose.Span) engine.Finding {
		return engine.Finding{Severity: diagnose.Warning, Kind: "stalled", What: what, Evidence: "peer window 0", Fix: "f",
			Direction: diagnose.DirUp, Origin: diagnose.OriginClient, Span: s}
	}
	setup := engine.Finding{Severity: diagnose.Warning, Kind: "backlog-small", What: "backlog", Evidence: "b", Fix: "f", Span: span(0, 0, true)}
	h(&engine.Start{Side: engine.SideClient, Findings: []engine.Finding{setup}})
	h(&engine.Sample{Side: engine.SideClient, Findings: []engine.Finding{up("8 of 8 ↑ streams stalled", span(5.1, 0, false))}})
	h(&engine.Sample{Side: engine.SideClient, Findings: []engine.Finding{up("4 of 8 ↑ streams stalled", span(5.1, 0, false))}})
	h(&engine.Sample{Side: engine.SideClient, Findings: []engine.Finding{up("4 of 8 ↑ streams stalled", span(5.1, 8.3, true))}})
	h(&engine.End{Side: engine.SideClient, Findings: []engine.Finding{setup, up("4 of 8 ↑ streams stalled", span(5.1, 8.3, true))}})
	want := "flowscope: warning: backlog (b). Fix: f\n" +
		"flowscope: warning: since 5.1 s: 8 of 8 ↑ streams stalled (peer window 0). Fix: f\n" +
		"flowscope: info: 5.1–8.3 s: recovered: 4 of 8 ↑ streams stalled\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if events != 5 {
		t.Errorf("%d events handed on, want 5", events)
	}
}
