package engine

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// findingLog keeps a test's findings as a timeline (diagnose.Timeline):
// this side's conditions start, change and end; instant findings (setup
// facts) are noted once and updated, not repeated; the peer's entries are
// kept as the peer reported them. Every entry that started, changed or
// ended goes out once with the next event; the End carries the whole
// timeline. Findings without an origin are this side's.
type findingLog struct {
	origin  diagnose.Origin
	mu      sync.Mutex
	now     time.Duration // the test's clock, as the sampler last read it
	local   diagnose.Timeline
	peer    []Finding
	pending []Finding
}

func newFindingLog(origin diagnose.Origin) *findingLog {
	return &findingLog{origin: origin}
}

// advance sets the test's clock: later findings start (or end) then.
func (l *findingLog) advance(now time.Duration) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// add records instant findings of this side, and the peer's findings as
// they came; nil entries are skipped.
func (l *findingLog) add(fs ...*Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range fs {
		if f == nil {
			continue
		}
		if f.Origin == "" {
			f.Origin = l.origin
		}
		if f.Origin != l.origin {
			l.peer = diagnose.Merge(l.peer, *f)
			l.pending = append(l.pending, *f)
			continue
		}
		l.pending = append(l.pending, l.local.Note(l.now, f))
	}
}

// hold records that this side's condition of kind in direction dir is f
// now (nil: it no longer holds).
func (l *findingLog) hold(kind string, dir diagnose.Direction, f *Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f != nil && f.Origin == "" {
		f.Origin = l.origin
	}
	if e, changed := l.local.Hold(l.now, kind, dir, f); changed {
		l.pending = append(l.pending, e)
	}
}

// take returns the entries that started, changed or ended since the last
// call.
func (l *findingLog) take() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	l.pending = nil
	return p
}

// all returns the whole timeline, this side's and the peer's, in order of
// start. Conditions still holding have no end.
func (l *findingLog) all() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append(l.local.Entries(), l.peer...)
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(a.Span.Start, b.Span.Start) })
	return out
}

func toWire(fs []Finding) []wire.Finding {
	out := make([]wire.Finding, len(fs))
	for i, f := range fs {
		w := wire.Finding{Severity: f.Severity.String(), Kind: f.Kind, What: f.What, Evidence: f.Evidence, Fix: f.Fix,
			Direction: f.Direction.String(), Streams: f.Streams, Start: f.Span.Start.Seconds()}
		if f.Span.Ended {
			end := f.Span.End.Seconds()
			w.End = &end
		}
		out[i] = w
	}
	return out
}

// fromWire converts a peer's findings, marking them with the peer's side.
func fromWire(fs []wire.Finding, origin diagnose.Origin) []*Finding {
	out := make([]*Finding, 0, len(fs))
	for _, w := range fs {
		sev := diagnose.Info
		switch w.Severity {
		case "warning":
			sev = diagnose.Warning
		case "critical":
			sev = diagnose.Critical
		}
		f := &Finding{Severity: sev, Kind: w.Kind, What: w.What, Origin: origin, Evidence: w.Evidence, Fix: w.Fix,
			Direction: diagnose.ParseDirection(w.Direction), Streams: w.Streams, Span: diagnose.Span{Start: seconds(w.Start)}}
		if w.End != nil {
			f.Span.End, f.Span.Ended = max(seconds(*w.End), f.Span.Start), true
		}
		out = append(out, f)
	}
	return out
}

// seconds converts a count of seconds from the wire, where a peer may
// send anything, to a duration that cannot overflow.
func seconds(s float64) time.Duration {
	const most = 1e9 // about 31 years
	if !(s >= 0) {   // also NaN
		return 0
	}
	return time.Duration(min(s, most) * float64(time.Second))
}
