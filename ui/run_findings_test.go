package ui

import (
	"testing"

	"github.com/flowscope/flowscope/engine"
)

func TestFindingsKeepLatestPerKind(t *testing.T) {
	r := newRun(engine.SideClient)
	r.addFindings([]engine.Finding{{Kind: "stalled", What: "1 of 8 streams stalled"}})
	r.addFindings([]engine.Finding{{Kind: "backlog-small", What: "b"}, {Kind: "stalled", What: "8 of 8 streams stalled"}})
	r.addFindings([]engine.Finding{{Kind: "stalled", What: "server: 2 of 8 streams stalled"}})
	if len(r.findings) != 3 {
		t.Fatalf("%d findings, want 3: %+v", len(r.findings), r.findings)
	}
	if r.findings[0].What != "8 of 8 streams stalled" || r.findings[1].Kind != "backlog-small" || r.findings[2].What != "server: 2 of 8 streams stalled" {
		t.Errorf("%+v", r.findings)
	}
}
