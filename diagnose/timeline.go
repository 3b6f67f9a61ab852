package diagnose

import (
	"fmt"
	"sort"
	"time"
)

// Direction is the way the data a finding concerns flows, from the client's
// point of view, so that a client's and a server's findings about the same
// streams agree.
type Direction uint8

const (
	// DirAny: the finding concerns the test as a whole, or both directions.
	DirAny Direction = iota
	// DirUp: client to server (the client sends).
	DirUp
	// DirDown: server to client (the server sends; -R, and --bidir's
	// reverse streams).
	DirDown
)

// String is the direction's JSON value: "", "client-to-server" or
// "server-to-client".
func (d Direction) String() string {
	switch d {
	case DirUp:
		return "client-to-server"
	case DirDown:
		return "server-to-client"
	}
	return ""
}

// Arrow is the direction as the live view draws it: "↑", "↓" or "".
func (d Direction) Arrow() string {
	switch d {
	case DirUp:
		return "↑"
	case DirDown:
		return "↓"
	}
	return ""
}

// ParseDirection reads a Direction from its String form; anything else is
// DirAny.
func ParseDirection(s string) Direction {
	switch s {
	case "client-to-server":
		return DirUp
	case "server-to-client":
		return DirDown
	}
	return DirAny
}

// Span is when a finding held, in time since the test started. A finding
// that still holds has no end yet (Ended false); an instant one (a setup
// fact, a test that was ended) has End equal to Start.
type Span struct {
	Start time.Duration
	End   time.Duration
	Ended bool
}

// Ongoing reports whether the finding still holds.
func (s Span) Ongoing() bool { return !s.Ended }

// String renders the span as "5.1–8.3 s", "since 5.1 s" or "at 5.1 s".
func (s Span) String() string {
	switch {
	case !s.Ended:
		return fmt.Sprintf("since %.1f s", s.Start.Seconds())
	case s.End == s.Start:
		return fmt.Sprintf("at %.1f s", s.Start.Seconds())
	}
	return fmt.Sprintf("%.1f–%.1f s", s.Start.Seconds(), s.End.Seconds())
}

// Timeline keeps a test's findings as spans: a condition that holds over
// several evaluations is one entry, updated while it lasts and ended when it
// no longer holds; when it comes back it is a new entry. Instant findings
// (setup facts) are entries that start and end at once. A Timeline is not
// safe for concurrent use.
type Timeline struct {
	entries []Finding
	// open maps a condition's slot to its entry while it holds.
	open map[slot]int
}

// slot names one condition: a kind of finding in one direction. Two
// findings of the same slot are the same condition, whatever their numbers.
type slot struct {
	kind string
	dir  Direction
}

// Hold records that the condition of kind in direction dir is now f (nil:
// it no longer holds) at now. It returns the entry that started, changed or
// ended, and false when nothing changed (the condition goes on with the
// same words, or was not holding and still is not). f's Kind and Direction
// must be kind and dir.
func (t *Timeline) Hold(now time.Duration, kind string, dir Direction, f *Finding) (Finding, bool) {
	if t.open == nil {
		t.open = map[slot]int{}
	}
	k := slot{kind, dir}
	i, holding := t.open[k]
	switch {
	case f == nil && !holding:
		return Finding{}, false
	case f == nil:
		delete(t.open, k)
		e := &t.entries[i]
		e.Span.End, e.Span.Ended = max(now, e.Span.Start), true
		return *e, true
	case holding:
		e := &t.entries[i]
		if sameWords(e, f) {
			return Finding{}, false
		}
		start := e.Span.Start
		*e = *f
		e.Span = Span{Start: start}
		return *e, true
	}
	e := *f
	e.Span = Span{Start: now}
	t.open[k] = len(t.entries)
	t.entries = append(t.entries, e)
	return e, true
}

// Note records an instant finding at now (a setup fact, a test that was
// ended) and returns the entry. A later note of the same kind and
// direction updates that entry with its words and keeps its time: the same
// finding is updated, not repeated.
func (t *Timeline) Note(now time.Duration, f *Finding) Finding {
	for i := range t.entries {
		e := &t.entries[i]
		if e.Kind == f.Kind && e.Direction == f.Direction && e.Span.Ended && e.Span.End == e.Span.Start {
			span := e.Span
			*e = *f
			e.Span = span
			return *e
		}
	}
	e := *f
	e.Span = Span{Start: now, End: now, Ended: true}
	t.entries = append(t.entries, e)
	return e
}

// Entries returns the timeline in order of start.
func (t *Timeline) Entries() []Finding {
	out := make([]Finding, len(t.entries))
	copy(out, t.entries)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Span.Start < out[b].Span.Start })
	return out
}

// Merge keeps the newest version of each entry: entries are the same when
// they have the same kind, direction, origin and start. It is how a front
// end folds a stream of started, changed and ended findings into the list
// it shows.
func Merge(list []Finding, update Finding) []Finding {
	for i := range list {
		if list[i].Kind == update.Kind && list[i].Direction == update.Direction &&
			list[i].Origin == update.Origin && list[i].Span.Start == update.Span.Start {
			list[i] = update
			return list
		}
	}
	return append(list, update)
}

// CurrentFirst orders findings for display: those that still hold first
// (the most severe first, then the earliest), then the past ones, the most
// recent first.
func CurrentFirst(fs []Finding) {
	sort.SliceStable(fs, func(a, b int) bool {
		x, y := fs[a], fs[b]
		if x.Span.Ongoing() != y.Span.Ongoing() {
			return x.Span.Ongoing()
		}
		if x.Span.Ongoing() {
			if x.Severity != y.Severity {
				return x.Severity > y.Severity
			}
			return x.Span.Start < y.Span.Start
		}
		return x.Span.Start > y.Span.Start
	})
}

func sameWords(a, b *Finding) bool {
	if a.Severity != b.Severity || a.What != b.What || a.Evidence != b.Evidence || a.Fix != b.Fix || len(a.Streams) != len(b.Streams) {
		return false
	}
	for i := range a.Streams {
		if a.Streams[i] != b.Streams[i] {
			return false
		}
	}
	return true
}
