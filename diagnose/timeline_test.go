package diagnose

import (
	"testing"
	"time"
)

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func stalledUp(n int) *Finding {
	ids := make([]StalledStream, n)
	for i := range ids {
		ids[i] = StalledStream{ID: i + 1, Reason: "peer window 0: x"}
	}
	return Stalled(ids, 8, DirUp)
}

// A condition that holds over several evaluations is one entry with one
// start; words that change update it; when it stops holding it ends; when
// it comes back it is a new entry.
func TestTimelineSpans(t *testing.T) {
	var tl Timeline
	if e, ok := tl.Hold(sec(5.1), KindStalled, DirUp, stalledUp(8)); !ok || e.Span.Start != sec(5.1) || !e.Span.Ongoing() {
		t.Fatalf("start: %v %+v", ok, e.Span)
	}
	if _, ok := tl.Hold(sec(6), KindStalled, DirUp, stalledUp(8)); ok {
		t.Error("the same words again count as a change")
	}
	e, ok := tl.Hold(sec(7), KindStalled, DirUp, stalledUp(6))
	if !ok || e.Span.Start != sec(5.1) || e.What != "6 of 8 ↑ streams stalled" {
		t.Errorf("update: %v %q %+v", ok, e.What, e.Span)
	}
	e, ok = tl.Hold(sec(8.3), KindStalled, DirUp, nil)
	if !ok || !e.Span.Ended || e.Span.End != sec(8.3) || e.Span.String() != "5.1–8.3 s" {
		t.Errorf("end: %v %+v %q", ok, e.Span, e.Span.String())
	}
	if _, ok := tl.Hold(sec(9), KindStalled, DirUp, nil); ok {
		t.Error("ending what does not hold counts as a change")
	}
	if e, ok := tl.Hold(sec(10), KindStalled, DirUp, stalledUp(1)); !ok || e.Span.Start != sec(10) {
		t.Errorf("comes back: %v %+v", ok, e.Span)
	}
	if n := len(tl.Entries()); n != 2 {
		t.Errorf("%d entries, want 2 (one per span)", n)
	}
}

// The two directions are separate conditions.
func TestTimelineDirectionsApart(t *testing.T) {
	var tl Timeline
	tl.Hold(sec(1), KindStalled, DirUp, stalledUp(2))
	down := Stalled([]StalledStream{{ID: 5, Reason: "no data arriving: x"}}, 4, DirDown)
	tl.Hold(sec(2), KindStalled, DirDown, down)
	e, ok := tl.Hold(sec(3), KindStalled, DirUp, nil)
	if !ok || e.Direction != DirUp {
		t.Fatalf("ending ↑: %v %+v", ok, e)
	}
	es := tl.Entries()
	if len(es) != 2 || !es[0].Span.Ended || es[1].Span.Ended {
		t.Errorf("entries %+v: want ↑ ended, ↓ ongoing", es)
	}
}

func TestTimelineNote(t *testing.T) {
	var tl Timeline
	n := tl.Note(0, &Finding{Kind: KindBacklogSmall, Severity: Warning, What: "x"})
	if !n.Span.Ended || n.Span.String() != "at 0.0 s" {
		t.Errorf("instant: %+v %q", n.Span, n.Span.String())
	}
	// The same kind again updates the entry and keeps its time.
	u := tl.Note(sec(3), &Finding{Kind: KindBacklogSmall, Severity: Warning, What: "y"})
	if u.What != "y" || u.Span.Start != 0 || len(tl.Entries()) != 1 {
		t.Errorf("second note: %+v, %d entries", u, len(tl.Entries()))
	}
	tl.Note(sec(4), &Finding{Kind: KindRoleMismatch, Severity: Critical, What: "z"})
	if es := tl.Entries(); len(es) != 2 || es[1].Span.Start != sec(4) {
		t.Errorf("another kind: %+v", es)
	}
}

// Merge folds a stream of updates into one entry per span; CurrentFirst
// puts what still holds before what is past.
func TestMergeAndCurrentFirst(t *testing.T) {
	var tl Timeline
	var shown []Finding
	for _, u := range []struct {
		at time.Duration
		f  *Finding
	}{{sec(1), stalledUp(8)}, {sec(2), stalledUp(4)}, {sec(3), nil}} {
		if e, ok := tl.Hold(u.at, KindStalled, DirUp, u.f); ok {
			shown = Merge(shown, e)
		}
	}
	rw := Finding{Kind: KindRwndLimited, Severity: Warning, Span: Span{Start: sec(4)}}
	shown = Merge(shown, rw)
	if len(shown) != 2 {
		t.Fatalf("%d shown, want 2: %+v", len(shown), shown)
	}
	CurrentFirst(shown)
	if shown[0].Kind != KindRwndLimited || shown[1].Span.String() != "1.0–3.0 s" {
		t.Errorf("order: %+v", shown)
	}
}

func TestDirectionStrings(t *testing.T) {
	for _, d := range []Direction{DirAny, DirUp, DirDown} {
		if ParseDirection(d.String()) != d {
			t.Errorf("%v does not round-trip", d)
		}
	}
}
