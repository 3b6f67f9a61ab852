package engine

import (
	"context"
	"io"
	"testing"
	"time"
)

// stopBound is how long past its end a test with senders far below any
// useful rate may take, on a loaded machine: a sender must notice the
// stop, not finish its sleep until the next datagram or block is due
// (at -b 100 a 1400-byte datagram is due every 112 s).
const stopBound = 15 * time.Second

// TestLowRateSendersStop: UDP and TCP senders at 100 bit/s, on the client
// (forward) and on the server (reverse), end with a 500 ms test, and the
// server is free for the next test at once.
func TestLowRateSendersStop(t *testing.T) {
	for _, tc := range []struct {
		name         string
		udp, reverse bool
	}{
		{"UDP client sends", true, false},
		{"UDP server sends", true, true},
		{"TCP client sends", false, false},
		{"TCP server sends", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, 1, 500*time.Millisecond)
			cfg.Reverse, cfg.Rate = tc.reverse, 100
			if tc.udp {
				cfg.Protocol = ProtoUDP
			}
			if tc.udp {
				cfg.BlockSize = 1400
			}
			began := time.Now()
			_, end, err := runClient(t, cfg)
			took := time.Since(began)
			if err != nil {
				t.Fatalf("after %v: %v", took, err)
			}
			if took > stopBound {
				t.Errorf("a 500 ms test at 100 bit/s took %v; expected at most %v", took.Round(time.Millisecond), stopBound)
			}
			if len(end.Streams) != 1 || end.Streams[0].Bytes == 0 {
				t.Errorf("streams %+v: expected one that moved its first datagram or block", end.Streams)
			}
			select {
			case e := <-ts.ends:
				if e.Err != nil {
					t.Errorf("server: %v", e.Err)
				}
			case <-time.After(stopBound):
				t.Fatalf("the server's side of the test still running %v after the client's end", stopBound)
			}
		})
	}
}

// TestLowRateSenderCancelled: a client whose context is cancelled (SIGINT,
// SIGTERM) while its UDP sender sleeps until the next datagram returns at
// once, as does the server's test.
func TestLowRateSenderCancelled(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		name := "client sends"
		if reverse {
			name = "server sends"
		}
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, 1, time.Minute)
			cfg.Protocol, cfg.Reverse, cfg.Rate, cfg.BlockSize = ProtoUDP, reverse, 100, 1400
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{})
			var once bool
			c := NewClient(cfg, func(ev Event) {
				if _, ok := ev.(*Start); ok && !once {
					once = true
					close(started)
				}
			})
			done := make(chan error, 1)
			go func() {
				_, err := c.Run(ctx)
				done <- err
			}()
			select {
			case <-started:
			case err := <-done:
				t.Fatalf("client ended before its test started: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("no Start within 30 s")
			}
			cancel()
			select {
			case <-done:
			case <-time.After(stopBound):
				t.Fatalf("client still running %v after its context was cancelled", stopBound)
			}
			select {
			case <-ts.ends:
			case <-time.After(stopBound):
				t.Fatalf("the server's side of the test still running %v after the client left", stopBound)
			}
		})
	}
}

// TestSendersStopAtTheirTime: a timed test's TCP senders, owned or not,
// send nothing after the test's end even when nothing stops them (the
// goroutine that would is starved of CPU): their counters hold from the
// end on, and they wait for the stop rather than ending on their own.
func TestSendersStopAtTheirTime(t *testing.T) {
	for _, owned := range []bool{false, true} {
		name := map[bool]string{false: "poller", true: "owned"}[owned]
		t.Run(name, func(t *testing.T) {
			client, server := tcpPair(t)
			go func() { _, _ = io.Copy(io.Discard, server) }()
			f := loopFlow(t, Send, client, owned)
			end := time.Now().Add(200 * time.Millisecond)
			flowSet{f}.sendUntil(end)
			f.started = true
			const block = 16 << 10
			go f.run(newPayload(block, false), nil)
			defer func() { f.stop(); <-f.done }()
			time.Sleep(time.Until(end))
			// Read at the end or later: at most the block being written
			// then can still complete.
			at := f.bytes.Load()
			if at == 0 {
				t.Fatal("the sender sent nothing before its end")
			}
			select {
			case <-f.done:
				t.Fatalf("the sender ended on its own (err %v); it must wait for the stop", f.err)
			case <-time.After(300 * time.Millisecond):
			}
			if now := f.bytes.Load(); now > at+block {
				t.Errorf("the sender sent %d bytes after its end (a block is %d)", now-at, block)
			}
			f.stop()
			select {
			case <-f.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the sender did not end within 5 s of its stop")
			}
			if f.err != nil {
				t.Errorf("sender: %v", f.err)
			}
		})
	}
}
