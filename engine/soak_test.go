package engine

import (
	"fmt"
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
	g0, fd0, rss0 := runtime.NumGoroutine(), openFDs(t), residentMiB(t)
	for range 200 {
		run()
	}
	// Memory: loosely, a leak of even 100 KiB per test would show.
	runtime.GC()
	if rss := residentMiB(t); rss > rss0+20 {
		t.Errorf("after 200 tests RSS grew from %d MiB to %d MiB", rss0, rss)
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

// residentMiB is this process's resident memory in MiB (from /proc).
func residentMiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	var size, resident int
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		t.Fatal(err)
	}
	return resident * os.Getpagesize() >> 20
}
