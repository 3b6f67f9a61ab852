package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestModes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		parallel       int
		reverse, bidir bool
		d              time.Duration
	}{
		{1, true, false, time.Second},
		{1, false, true, time.Second},
		{8, false, false, time.Second},
		{100, true, false, time.Second},
		{100, false, true, time.Second},
		{1000, false, false, 2 * time.Second},
	}
	for _, c := range cases {
		name := fmt.Sprintf("P%d", c.parallel)
		if c.reverse {
			name += "-R"
		}
		if c.bidir {
			name += "-bidir"
		}
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, c.parallel, c.d)
			cfg.Reverse, cfg.Bidir = c.reverse, c.bidir
			rec, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if want := cfg.NumStreams(); len(end.Streams) != want {
				t.Fatalf("%d streams in results, want %d", len(end.Streams), want)
			}
			checkConservation(t, end)
			checkSums(t, rec)
			checkDirections(t, end, cfg)
			srvEnd := <-ts.ends
			if srvEnd.Err != nil {
				t.Errorf("server: %v", srvEnd.Err)
			}
			checkConservation(t, srvEnd)
		})
	}
}

// checkDirections asserts each stream moved data in its configured
// direction.
func checkDirections(t *testing.T, end *End, cfg Config) {
	t.Helper()
	for i, s := range end.Streams {
		want := streamDir(SideClient, i, cfg.Parallel, cfg.Reverse, cfg.Bidir)
		if s.Dir != want {
			t.Errorf("stream %d: dir %v, want %v", s.ID, s.Dir, want)
		}
	}
}

// TestBidirAcceptOrder is the regression test for iperf3's bidir deadlock:
// the client holds back its sending streams until every receiving stream
// is connected, so the server accepts them in the reverse of iperf3's
// order. Roles come from the stream header, so data must still flow in
// both directions on every stream.
func TestBidirAcceptOrder(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 4, time.Second)
	cfg.Bidir = true
	c := NewClient(cfg, nil)
	var mu sync.Mutex
	recvDialed := 0
	allRecv := make(chan struct{})
	var order []int
	c.hooks.beforeDial = func(idx int) {
		if idx < cfg.Parallel { // a sending stream: wait for the receivers
			<-allRecv
		}
	}
	c.hooks.afterDial = func(idx int) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, idx)
		if idx >= cfg.Parallel {
			recvDialed++
			if recvDialed == cfg.Parallel {
				close(allRecv)
			}
		}
	}
	end, err := c.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < cfg.Parallel; i++ {
		if order[i] < cfg.Parallel {
			t.Fatalf("connect order %v: a sending stream connected before all receivers", order)
		}
	}
	checkConservation(t, end)
	checkDirections(t, end, cfg)
	<-ts.ends
}
