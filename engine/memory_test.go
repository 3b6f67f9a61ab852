package engine

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestServerBoundsTestMemory: a test whose buffers would exceed the
// server's bound is refused with the reason and the option that raises
// it; raised, the same test runs. By default ten thousand UDP streams
// (128 KiB each) are above the 1 GiB bound.
func TestServerBoundsTestMemory(t *testing.T) {
	// The 128 KiB a UDP stream claims are its GRO buffer: a portable build
	// (no GRO) claims far less, and runs those streams.
	if accelerated {
		ts := startServer(t, ServerConfig{})
		cfg := clientConfig(ts, 10000, time.Second)
		cfg.Protocol, cfg.BlockSize = ProtoUDP, 1400
		_, _, err := runClient(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "--max-test-memory") || CauseOf(err) != CauseRejected {
			t.Errorf("10,000 UDP streams against the default bound: %v (cause %v); want refused by --max-test-memory", err, CauseOf(err))
		}
		<-ts.ends
	}

	// Ten TCP streams of 16 MiB blocks claim 26 MiB (1 MiB read buffers
	// and one 16 MiB payload): refused at 20 MiB, run at 64 MiB.
	small := startServer(t, ServerConfig{MaxTestMemory: 20 << 20})
	cfg := clientConfig(small, 10, 300*time.Millisecond)
	cfg.BlockSize = 16 << 20
	if _, _, err := runClient(t, cfg); err == nil || !strings.Contains(err.Error(), "--max-test-memory") {
		t.Errorf("26 MiB against a 20 MiB bound: %v; want refused", err)
	}
	<-small.ends
	raised := startServer(t, ServerConfig{MaxTestMemory: 64 << 20})
	cfg = clientConfig(raised, 10, 300*time.Millisecond)
	cfg.BlockSize = 16 << 20
	if _, end, err := runClient(t, cfg); err != nil {
		t.Errorf("26 MiB against a 64 MiB bound: %v", err)
	} else if len(end.Streams) != 10 {
		t.Errorf("%d streams, want 10", len(end.Streams))
	}
	<-raised.ends
}

// TestBigBlocksDoNotMultiplyMemory: -P 120 -l 16M (which drove a server
// to 1.33 GB and the OOM killer) allocates read buffers of 64 KiB, not a
// block per stream: the whole test, both sides in this process, allocates
// far less than 120 blocks.
func TestBigBlocksDoNotMultiplyMemory(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 120, 300*time.Millisecond)
	cfg.BlockSize = 16 << 20
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	_, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(end.Streams) != 120 {
		t.Errorf("%d streams, want 120", len(end.Streams))
	}
	<-ts.ends
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// The client's 16 MiB payload, the server's, 240 flows' buffers of
	// 64 KiB, and everything else the test allocates.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(256<<20); got > limit {
		t.Errorf("the test allocated %d MiB; expected under %d MiB (120 × 16 MiB would be 1920)", got>>20, limit>>20)
	}
}
