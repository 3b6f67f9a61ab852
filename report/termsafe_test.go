package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// Text from the peer (a cookie with an OSC escape and a newline, its
// error messages, findings and report) is printed with its control
// characters escaped: it can neither retitle the terminal nor forge a line.
func TestNetworkTextEscaped(t *testing.T) {
	const hostile = "\x1b]0;owned\x07\nflowscope: forged line"
	sc := scenario{side: engine.SideServer, parallel: 1, intervals: 1}
	start := sc.start()
	start.Cookie = hostile
	end := sc.end()
	end.Streams[0].Err = hostile
	end.ServerOutputText = "line one\n\x1b[2Jline two\n" // multi-line by nature: only its newlines are kept
	var b bytes.Buffer
	feed(NewText(&b, Options{Verbose: true}), []engine.Event{start, sc.sample(1, 0, false), end})
	var f bytes.Buffer
	PrintFindings(&f, func(engine.Event) {})(&engine.End{Err: errors.New("x"), Findings: []engine.Finding{{Severity: diagnose.Critical, What: hostile}}})
	for name, out := range map[string]string{"text": b.String(), "findings": f.String()} {
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%s: a control character reached the output:\n%q", name, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "flowscope: forged") {
				t.Errorf("%s: the peer forged a line:\n%s", name, out)
			}
		}
	}
	if !strings.Contains(b.String(), `Cookie: \x1b]0;owned\a\nflowscope: forged line`) {
		t.Errorf("the cookie is not shown escaped:\n%s", b.String())
	}
}
