//go:build linux && !flowscope_portable

package engine

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestSkipRxCopyDropsData: a receiver with skipCopy counts every byte the
// peer sent and reaches EOF, while its buffer never sees the data — with a
// socket of its own (few flows) and through Go's poller (many flows).
func TestSkipRxCopyDropsData(t *testing.T) {
	for _, owned := range []bool{true, false} {
		name := "poller"
		if owned {
			name = "owned socket"
		}
		t.Run(name, func(t *testing.T) {
			snd, rcv := tcpPair(t)
			f := loopFlow(t, Recv, rcv, owned)
			f.skipCopy = true
			buf := bytes.Repeat([]byte{0xaa}, 64<<10)
			fs := flowSet{f}
			f.started = true
			go f.run(buf, nil)

			payload := bytes.Repeat([]byte{0x55}, 1<<20)
			const rounds = 8
			for range rounds {
				if _, err := snd.Write(payload); err != nil {
					t.Fatal(err)
				}
			}
			snd.CloseWrite()
			select {
			case <-f.done:
			case <-time.After(30 * time.Second):
				t.Fatal("receiver did not reach EOF")
			}
			fs.closeAll()
			if f.err != nil {
				t.Fatal(f.err)
			}
			if got, want := f.bytes.Load(), uint64(rounds*len(payload)); got != want {
				t.Errorf("counted %d bytes, sent %d", got, want)
			}
			if !f.eof {
				t.Error("the peer's end was not seen as EOF")
			}
			for i, b := range buf {
				if b != 0xaa {
					t.Errorf("the receive buffer was written at offset %d (%#x): the data was copied", i, b)
					break
				}
			}
		})
	}
}

// TestSkipRxCopyNegotiated: --skip-rx-copy reaches a flowscope server,
// whose receivers then drop the data; counts still match exactly, one flow
// and a hundred (owned sockets and the poller), forward and reverse.
func TestSkipRxCopyNegotiated(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		reverse  bool
	}{{"one flow", 1, false}, {"one flow reverse", 1, true}, {"two flows (raw calls)", 2, false}, {"100 flows", 100, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, tc.parallel, 300*time.Millisecond)
			cfg.SkipRxCopy = true
			cfg.Reverse = tc.reverse
			rec, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkConservation(t, end)
			if rec.start == nil || !rec.start.Params.SkipRxCopy {
				t.Error("the client's Start does not say receivers skip the copy")
			}
			<-ts.ends
			ts.mu.Lock()
			defer ts.mu.Unlock()
			for _, ev := range ts.events {
				if s, ok := ev.(*Start); ok && !s.Params.SkipRxCopy {
					t.Error("the server's Start does not say receivers skip the copy")
				}
			}
		})
	}
}

// TestProcsLentToOwnedFlows: with several flows on owned sockets (raw
// system calls, so each keeps its P while in the kernel) every flow raises
// GOMAXPROCS by one while the test runs, and the test gives them all back
// when it ends; a single flow (ordinary calls) borrows none.
func TestProcsLentToOwnedFlows(t *testing.T) {
	for _, tc := range []struct{ parallel, lent int }{{3, 6}, {1, 0}} {
		t.Run(fmt.Sprintf("P=%d", tc.parallel), func(t *testing.T) { testProcsLent(t, tc.parallel, tc.lent) })
	}
}

func testProcsLent(t *testing.T, parallel, lent int) {
	base := runtime.GOMAXPROCS(0)
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, parallel, 400*time.Millisecond)
	var mu sync.Mutex
	var during []int
	c := NewClient(cfg, func(ev Event) {
		if _, ok := ev.(*Sample); ok {
			mu.Lock()
			during = append(during, runtime.GOMAXPROCS(0))
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-ts.ends
	mu.Lock()
	defer mu.Unlock()
	if len(during) == 0 {
		t.Fatal("no samples")
	}
	// The client's senders and the server's receivers, all in this process.
	if want := base + lent; during[0] != want {
		t.Errorf("GOMAXPROCS during the test = %d, want %d (base %d)", during[0], want, base)
	}
	if got := runtime.GOMAXPROCS(0); got != base {
		t.Errorf("GOMAXPROCS after the test = %d, want %d", got, base)
	}
}

// TestZeroCopySend: -Z senders (sendfile(2) from the payload file, on an
// owned socket or through the poller) deliver exactly what they count, and
// the payload file is gone afterwards.
func TestZeroCopySend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		reverse  bool
	}{{"one flow", 1, false}, {"one flow reverse", 1, true}, {"100 flows", 100, false}} {
		t.Run(tc.name, func(t *testing.T) {
			fds := openFDs(t)
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, tc.parallel, 300*time.Millisecond)
			cfg.ZeroCopy, cfg.Reverse = true, tc.reverse
			_, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkConservation(t, end)
			<-ts.ends
			if n := openFDs(t); n > fds+2 { // the listener, and slack for the runtime
				t.Errorf("%d descriptors open after the test, %d before", n, fds)
			}
		})
	}
}

// TestReserveProcsBounded: Ps are lent up to maxLentProcs in all, and
// given back to the last.
func TestReserveProcsBounded(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	got := reserveProcs(maxLentProcs + 50)
	if got != maxLentProcs || runtime.GOMAXPROCS(0) != base+maxLentProcs {
		t.Errorf("asked for %d: lent %d, GOMAXPROCS %d (base %d)", maxLentProcs+50, got, runtime.GOMAXPROCS(0), base)
	}
	if more := reserveProcs(5); more != 0 {
		t.Errorf("beyond the bound: lent %d more", more)
	}
	reserveProcs(-got)
	if p := runtime.GOMAXPROCS(0); p != base {
		t.Errorf("GOMAXPROCS %d after giving all back, want %d", p, base)
	}
}
