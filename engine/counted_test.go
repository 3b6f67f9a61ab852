package engine

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCountedReverse: in a -n or -k test where the server sends, iperf3's
// server stops its TCP senders at the count, and the client ends once it
// received that much, over TCP and over UDP (where the server sends until
// TEST_END, so that losses cannot leave the client waiting).
func TestCountedReverse(t *testing.T) {
	const block = 64 << 10
	cases := []struct {
		udp           bool
		bytes, blocks int64
	}{
		{bytes: 5 << 20},
		{blocks: 40},
		{udp: true, bytes: 1 << 20},
		{udp: true, blocks: 100},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("udp=%v-n%d-k%d", c.udp, c.bytes, c.blocks), func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, 1, 0)
			cfg.Reverse, cfg.Bytes, cfg.Blocks = true, c.bytes, c.blocks
			cfg.BlockSize = block
			if c.udp {
				cfg.Protocol, cfg.BlockSize, cfg.Rate = ProtoUDP, 1400, 50_000_000
			}
			want := c.bytes
			if want == 0 {
				want = c.blocks * int64(cfg.BlockSize)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			end, err := NewClient(cfg, nil).Run(ctx)
			if err != nil {
				t.Fatalf("the client did not finish: %v", err)
			}
			var got uint64
			for _, s := range end.Streams {
				got += s.Bytes
			}
			if got < uint64(want) {
				t.Errorf("the client received %d bytes, want at least %d", got, want)
			}
			srv := <-ts.ends
			if srv.Err != nil {
				t.Fatalf("server: %v", srv.Err)
			}
			var sent uint64
			for _, s := range srv.Streams {
				sent += s.Bytes
			}
			if !c.udp && (sent < uint64(want) || sent > uint64(want)+block) {
				t.Errorf("the server sent %d bytes for %d, want that and at most one block more", sent, want)
			}
		})
	}
}

// TestCountedEndIsOrderly: when the senders reached -n before the client
// began waiting, the limit and "every stream ended" are ready together;
// that is the test's orderly end whichever select picks, never "all
// streams ended before the test did" (seen against a stock 3.21 server
// on a loaded machine). Many rounds, as select picks at random.
func TestCountedEndIsOrderly(t *testing.T) {
	for round := range 50 {
		f := &flow{id: 1, done: make(chan struct{})}
		close(f.done)
		limit := newByteLimit(10)
		limit.add(10)
		c := &Client{}
		c.s = newSession(SideClient, nil, nil)
		c.s.flows, c.s.t0 = flowSet{f}, time.Now()
		start := time.Now()
		if err := c.wait(context.Background(), limit, make(chan stateResult)); err != nil {
			t.Fatalf("round %d: wait = %v, want an orderly end", round, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("round %d: wait took %v for a test already over", round, d)
		}
	}
}

// TestCountedParallelStopsWithinABlock: with -P 4 -n the senders together
// send the count and at most one block more, forward and reverse, owned
// sockets and -Z (5,636,096 bytes for -n 5M were seen: each sender
// finished the block it had begun after the count was reached).
func TestCountedParallelStopsWithinABlock(t *testing.T) {
	const block, want = 128 << 10, 5 << 20
	for _, c := range []struct {
		name              string
		reverse, zeroCopy bool
	}{
		{"forward", false, false},
		{"reverse", true, false},
		{"forward -Z", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.zeroCopy && !accelerated {
				t.Skip("a portable build has no -Z")
			}
			for round := range 5 {
				ts := startServer(t, ServerConfig{})
				cfg := clientConfig(ts, 4, 0)
				cfg.Bytes, cfg.BlockSize, cfg.Reverse, cfg.ZeroCopy = want, block, c.reverse, c.zeroCopy
				_, end, err := runClient(t, cfg)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				srv := <-ts.ends
				senders := end
				if c.reverse {
					senders = srv
				}
				var sent uint64
				for _, s := range senders.Streams {
					sent += s.Bytes
				}
				if sent < want || sent > want+block {
					t.Fatalf("round %d: the senders sent %d bytes for -n %d; want that and at most one %d-byte block more", round, sent, want, block)
				}
			}
		})
	}
}
