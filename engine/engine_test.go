package engine

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer runs a Server on 127.0.0.1:0 until the test ends.
type testServer struct {
	addr   *net.TCPAddr
	mu     sync.Mutex
	events []Event
	ends   chan *End
}

func startServer(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	ln, err := Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().(*net.TCPAddr), ends: make(chan *End, 16)}
	srv := NewServer(cfg, func(ev Event) {
		ts.mu.Lock()
		ts.events = append(ts.events, ev)
		ts.mu.Unlock()
		if e, ok := ev.(*End); ok {
			ts.ends <- e
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// eventsOf returns the server's events of one test.
func (ts *testServer) eventsOf(test uint64) []Event {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []Event
	for _, ev := range ts.events {
		var id uint64
		switch e := ev.(type) {
		case *Start:
			id = e.Test
		case *Sample:
			id = e.Test
		case *End:
			id = e.Test
		default:
			continue
		}
		if id == test {
			out = append(out, ev)
		}
	}
	return out
}

// recorder collects a client's events.
type recorder struct {
	mu      sync.Mutex
	start   *Start
	samples []*Sample
	end     *End
}

func (r *recorder) emit(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *Start:
		r.start = e
	case *Sample:
		r.samples = append(r.samples, e)
	case *End:
		r.end = e
	}
}

func runClient(t *testing.T, cfg Config) (*recorder, *End, error) {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	end, err := NewClient(cfg, rec.emit).Run(ctx)
	return rec, end, err
}

func clientConfig(ts *testServer, parallel int, d time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Host = "127.0.0.1"
	cfg.Port = ts.addr.Port
	cfg.Parallel = parallel
	cfg.Duration = d
	cfg.Interval = 200 * time.Millisecond
	cfg.Congestion = "cubic"
	return cfg
}

func TestForwardSingle(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	rec, end, err := runClient(t, clientConfig(ts, 1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, end)
	checkSums(t, rec)
	<-ts.ends
	// The server's samples carry its listener's accept queue.
	ts.mu.Lock()
	defer ts.mu.Unlock()
	found := false
	for _, ev := range ts.events {
		if s, ok := ev.(*Sample); ok && s.Listener != nil && s.Listener.Backlog > 0 {
			found = true
		}
	}
	if !found {
		t.Error("no server sample reported the listener's backlog")
	}
}

// checkConservation asserts every stream's receiver got exactly what its
// sender wrote.
func checkConservation(t *testing.T, end *End) {
	t.Helper()
	for _, s := range end.Streams {
		if !s.HasPeer {
			t.Errorf("stream %d: no peer results", s.ID)
			continue
		}
		if s.Bytes == 0 && len(end.Streams) <= 16 {
			// With hundreds of flows on two cores (and -race) a flow may
			// legitimately get no CPU time in a short test.
			t.Errorf("stream %d: no bytes moved", s.ID)
		}
		if s.Bytes != s.PeerBytes {
			t.Errorf("stream %d (%v): local %d bytes, peer %d", s.ID, s.Dir, s.Bytes, s.PeerBytes)
		}
	}
}

// checkSums asserts each interval's sums are the exact sums of its streams
// and that intervals tile the test without gaps.
func checkSums(t *testing.T, rec *recorder) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.samples) == 0 {
		t.Fatal("no samples")
	}
	var prevEnd time.Duration
	for i, s := range rec.samples {
		var sent, recv uint64
		for _, st := range s.Streams {
			if st.Dir == Send {
				sent += st.Bytes
			} else {
				recv += st.Bytes
			}
		}
		if sent != s.Sent.Bytes || recv != s.Received.Bytes {
			t.Errorf("sample %d: sums %d/%d, streams add up to %d/%d", i, s.Sent.Bytes, s.Received.Bytes, sent, recv)
		}
		if s.Start != prevEnd && !(s.Start == 0 && i > 0 && rec.samples[i-1].Omitted) {
			t.Errorf("sample %d starts at %v, previous ended at %v", i, s.Start, prevEnd)
		}
		// A short last interval is one that carries the bytes a sender
		// finished after a tick that fell just before the end.
		last := i == len(rec.samples)-1 && s.Sent.Bytes+s.Received.Bytes > 0
		if s.End-s.Start < time.Millisecond && !last {
			t.Errorf("sample %d is a sliver: %v-%v", i, s.Start, s.End)
		}
		prevEnd = s.End
	}
}

// TestTCPRateLimit: -b holds a TCP sender to its rate in the program: it
// never writes ahead of its schedule (so the counters match what the
// receiver gets, and nothing is left in the buffers to drain at the end).
// A loaded machine may make it fall behind; that is not judged here (see
// bench/ for the achieved rate).
func TestTCPRateLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 2, 2*time.Second)
	cfg.Rate = 50_000_000
	rec, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range end.Streams {
		// By the time the sender stopped (at most the measured time since
		// its start) its schedule allowed rate × time, plus the block it
		// was allowed to start.
		allowed := uint64(float64(cfg.Rate)/8*end.Seconds) + uint64(cfg.BlockSize)
		if s.Bytes == 0 || s.Bytes > allowed {
			t.Errorf("stream %d: wrote %d bytes in %.3f s, the schedule of -b 50M allows %d", s.ID, s.Bytes, end.Seconds, allowed)
		}
	}
	checkConservation(t, end)
	checkSums(t, rec)
	<-ts.ends
}
