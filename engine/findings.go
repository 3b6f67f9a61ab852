package engine

import (
	"strings"
	"sync"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// findingLog collects a test's findings: every one goes out once with the
// next event, and the End carries the latest of each kind.
type findingLog struct {
	mu      sync.Mutex
	pending []Finding
	order   []string
	latest  map[string]Finding
}

func newFindingLog() *findingLog { return &findingLog{latest: map[string]Finding{}} }

// add records findings; nil entries are skipped.
func (l *findingLog) add(fs ...*Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range fs {
		if f == nil {
			continue
		}
		l.pending = append(l.pending, *f)
		key := f.Kind
		if strings.HasPrefix(f.What, serverPrefix) {
			key += "@server"
		}
		if _, ok := l.latest[key]; !ok {
			l.order = append(l.order, key)
		}
		l.latest[key] = *f
	}
}

// take returns the findings not yet handed out.
func (l *findingLog) take() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// all returns the latest finding of each kind, in order of first appearance.
func (l *findingLog) all() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Finding, 0, len(l.order))
	for _, k := range l.order {
		out = append(out, l.latest[k])
	}
	return out
}

func toWire(fs []Finding) []wire.Finding {
	out := make([]wire.Finding, len(fs))
	for i, f := range fs {
		out[i] = wire.Finding{Severity: f.Severity.String(), Kind: f.Kind, What: f.What, Evidence: f.Evidence, Fix: f.Fix}
	}
	return out
}

// serverPrefix marks findings the server made.
const serverPrefix = "server: "

// fromWire converts a peer's findings, marking them as the server's.
func fromWire(fs []wire.Finding) []*Finding {
	out := make([]*Finding, 0, len(fs))
	for _, w := range fs {
		sev := diagnose.Info
		switch w.Severity {
		case "warning":
			sev = diagnose.Warning
		case "critical":
			sev = diagnose.Critical
		}
		out = append(out, &Finding{Severity: sev, Kind: w.Kind, What: serverPrefix + w.What, Evidence: w.Evidence, Fix: w.Fix})
	}
	return out
}
