package engine

import (
	"math"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

func stalledFinding(n int, dir diagnose.Direction) *Finding {
	ss := make([]diagnose.StalledStream, n)
	for i := range ss {
		ss[i] = diagnose.StalledStream{ID: i + 1, Reason: "peer window 0: x"}
	}
	return diagnose.Stalled(ss, 8, dir)
}

// A condition goes out when it starts, changes and ends — each time as the
// same entry (one start) — and the End's list has it once, with its span.
func TestFindingLogTimeline(t *testing.T) {
	l := newFindingLog(diagnose.OriginClient)
	l.add(&Finding{Kind: diagnose.KindBacklogSmall, Severity: diagnose.Warning, What: "setup"})
	l.advance(5100 * time.Millisecond)
	l.hold(diagnose.KindStalled, diagnose.DirUp, stalledFinding(8, diagnose.DirUp))
	l.advance(6 * time.Second)
	l.hold(diagnose.KindStalled, diagnose.DirUp, stalledFinding(8, diagnose.DirUp)) // unchanged
	l.hold(diagnose.KindStalled, diagnose.DirUp, stalledFinding(4, diagnose.DirUp))
	l.advance(8300 * time.Millisecond)
	l.hold(diagnose.KindStalled, diagnose.DirUp, nil)
	out := l.take()
	if len(out) != 4 {
		t.Fatalf("%d updates, want 4 (setup, start, change, end): %+v", len(out), out)
	}
	for _, f := range out {
		if f.Origin != diagnose.OriginClient {
			t.Errorf("origin %q, want client: %+v", f.Origin, f)
		}
	}
	if e := out[3]; !e.Span.Ended || e.Span.String() != "5.1–8.3 s" {
		t.Errorf("end update %+v, want 5.1–8.3 s", e.Span)
	}
	all := l.all()
	if len(all) != 2 || all[1].Span.String() != "5.1–8.3 s" || all[1].What != "4 of 8 ↑ streams stalled" {
		t.Errorf("timeline %+v", all)
	}
	if len(l.take()) != 0 {
		t.Error("take hands updates out twice")
	}
}

// The peer's entries cross the wire with their span, direction and
// streams, and its updates of one entry stay one entry.
func TestFindingsOverTheWire(t *testing.T) {
	srv := newFindingLog(diagnose.OriginServer)
	srv.advance(2 * time.Second)
	srv.hold(diagnose.KindStalled, diagnose.DirDown, stalledFinding(3, diagnose.DirDown))
	srv.advance(3 * time.Second)
	srv.hold(diagnose.KindStalled, diagnose.DirDown, stalledFinding(2, diagnose.DirDown))
	srv.advance(4 * time.Second)
	srv.hold(diagnose.KindStalled, diagnose.DirDown, nil)

	cli := newFindingLog(diagnose.OriginClient)
	for _, u := range srv.take() {
		cli.add(fromWire(toWire([]Finding{u}), diagnose.OriginServer)...)
	}
	all := cli.all()
	if len(all) != 1 {
		t.Fatalf("%d entries from three updates of one, want 1: %+v", len(all), all)
	}
	f := all[0]
	if f.Origin != diagnose.OriginServer || f.Direction != diagnose.DirDown || len(f.Streams) != 2 || f.Span.String() != "2.0–4.0 s" {
		t.Errorf("received %+v", f)
	}
}

// Times from the wire cannot overflow or go negative.
func TestSecondsFromWire(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want time.Duration
	}{{1.5, 1500 * time.Millisecond}, {-3, 0}, {math.NaN(), 0}, {math.Inf(1), time.Duration(1e9) * time.Second}, {1e300, time.Duration(1e9) * time.Second}} {
		if got := seconds(c.in); got != c.want {
			t.Errorf("seconds(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
