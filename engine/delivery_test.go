package engine

import (
	"context"
	"testing"
	"time"
)

// TestDeliveryOrderAndPanic: events reach the front end in the order they
// were pushed, a panic is reported once and later events still arrive,
// and flush returns only when everything pushed before it was handed over.
func TestDeliveryOrderAndPanic(t *testing.T) {
	var got []int
	var fails []error
	d := newDelivery(func(ev Event) {
		s := ev.(*Sample)
		got = append(got, s.Seq)
		if s.Seq == 3 || s.Seq == 5 {
			panic("front end bug")
		}
	}, func(err error) { fails = append(fails, err) })
	for i := range 200 { // more than maxPendingEvents: push waits, never drops
		d.push(&Sample{Seq: i})
	}
	d.flush()
	if len(got) != 200 {
		t.Fatalf("after flush the front end had %d events, want 200", len(got))
	}
	for i, seq := range got {
		if seq != i {
			t.Fatalf("event %d was Seq %d: out of order", i, seq)
		}
	}
	if len(fails) != 1 || CauseOf(fails[0]) != CauseFrontEnd {
		t.Errorf("fail heard %v, want one CauseFrontEnd error", fails)
	}
	d.close()
	d.push(&Sample{Seq: 999}) // after close: dropped, no panic
	d.flush()
	if len(got) != 200 {
		t.Errorf("an event pushed after close was delivered")
	}
}

// TestSlowFrontEndDoesNotHoldTheTest: a client's front end that stops on
// its first interval does not stop the test: the client still ends it and
// the server finishes (its End arrives) while the front end is stuck; once
// the front end goes on, it gets every event and the End.
func TestSlowFrontEndDoesNotHoldTheTest(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	release := make(chan struct{})
	rec := &recorder{}
	first := true
	c := NewClient(clientConfig(ts, 2, 600*time.Millisecond), func(ev Event) {
		if _, ok := ev.(*Sample); ok && first {
			first = false
			<-release
		}
		rec.emit(ev)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		end *End
		err error
	}
	done := make(chan result, 1)
	go func() {
		end, err := c.Run(ctx)
		done <- result{end, err}
	}()
	select {
	case e := <-ts.ends:
		if e.Err != nil {
			t.Errorf("server: %v", e.Err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the server's test did not end within 30 s while the client's front end was stuck on its first interval")
	}
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatalf("client: %v", r.err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.end != r.end {
		t.Errorf("the front end did not get the End Run returned")
	}
	if len(rec.samples) < 2 {
		t.Errorf("the front end got %d samples, want the intervals and the final one", len(rec.samples))
	}
	for i, s := range rec.samples {
		if s.Seq != i {
			t.Fatalf("sample %d has Seq %d: out of order", i, s.Seq)
		}
	}
}
