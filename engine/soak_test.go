package engine

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestIdleConnectionsDuringTest: 200 connections that never say a word
// are held open while a real test runs and completes.
func TestIdleConnectionsDuringTest(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("tcp", ts.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	_, end, err := runClient(t, clientConfig(ts, 4, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, end)
	<-ts.ends
}

// TestSoak: 200 short tests in a row against one server leave no growth
// in goroutines or file descriptors.
func TestSoak(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	run := func() {
		cfg := clientConfig(ts, 2, 20*time.Millisecond)
		cfg.Interval = 0
		if _, _, err := runClient(t, cfg); err != nil {
			t.Fatal(err)
		}
		<-ts.ends
	}
	for range 10 { // warm up pools and lazily started runtime goroutines
		run()
	}
	g0, fd0, heap0 := runtime.NumGoroutine(), openFDs(t), liveHeapMiB()
	for range 200 {
		run()
	}
	// Memory: a leak of even 50 KiB per test would show. The live heap,
	// not RSS: after the package's 10,000-flow tests (and with the race
	// detector's shadow memory) RSS wanders by tens of MiB on its own.
	if heap := liveHeapMiB(); heap > heap0+10 {
		t.Errorf("after 200 tests the live heap grew from %.1f MiB to %.1f MiB", heap0, heap)
	}
	// Closed sockets and finished goroutines may take a moment to go.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), openFDs(t)
		if g <= g0+5 && fd <= fd0+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 200 tests: goroutines %d → %d, fds %d → %d", g0, g, fd0, fd)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveHeapMiB is the heap still in use after a full collection, in MiB.
func liveHeapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}
