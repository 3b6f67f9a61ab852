package engine

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// TestConcurrentTests: with --max-tests 2 two clients run at once, each
// with its own streams and results, and a third is refused as busy.
func TestConcurrentTests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{MaxTests: 2})
	running := make(chan struct{}, 2)
	var wg sync.WaitGroup
	ends := make([]*End, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			cfg := clientConfig(ts, 2+i, 2*time.Second)
			ends[i], errs[i] = NewClient(cfg, func(ev Event) {
				if _, ok := ev.(*Sample); ok {
					once.Do(func() { running <- struct{}{} })
				}
			}).Run(context.Background())
		}()
	}
	<-running
	<-running
	_, _, err := runClient(t, clientConfig(ts, 1, time.Second))
	if !errors.Is(err, ErrServerBusy) || CauseOf(err) != CauseBusy {
		t.Errorf("third client: %v (cause %v), want busy", err, CauseOf(err))
	}
	wg.Wait()
	tests := map[uint64]bool{}
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("client %d: %v", i, errs[i])
		}
		if len(ends[i].Streams) != 2+i {
			t.Errorf("client %d: %d streams", i, len(ends[i].Streams))
		}
		checkConservation(t, ends[i])
		e := <-ts.ends
		tests[e.Test] = true
	}
	if len(tests) != 2 || tests[0] {
		t.Errorf("server test ids %v, want two distinct non-zero", tests)
	}
}

func TestServerLimits(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{MaxStreams: 4, MaxDuration: 5 * time.Second, MaxBitrate: 100_000_000})
	cases := []struct {
		name  string
		cfg   func(*Config)
		wants string
	}{
		{"streams", func(c *Config) { c.Parallel = 3; c.Bidir = true }, "6 streams asked for, this server allows 4 (--max-streams)"},
		{"duration", func(c *Config) { c.Duration = 10 * time.Second }, "this server allows 5s (--max-duration)"},
		{"bytes", func(c *Config) { c.Duration, c.Bytes = 0, 1<<20 }, "byte-limited tests (-n) are refused"},
		{"bitrate", func(c *Config) { c.Parallel, c.Rate = 2, 60_000_000 }, "120000000 bit/s in total asked for, this server allows 100000000 (--max-bitrate)"},
	}
	for _, c := range cases {
		cfg := clientConfig(ts, 1, time.Second)
		c.cfg(&cfg)
		_, _, err := runClient(t, cfg)
		if err == nil || !strings.Contains(err.Error(), c.wants) || !strings.Contains(err.Error(), "the server refused the test") {
			t.Errorf("%s: err = %v, want it to say %q", c.name, err, c.wants)
		}
		if CauseOf(err) != CauseRejected {
			t.Errorf("%s: client's cause %v, want rejected", c.name, CauseOf(err))
		}
		if e := <-ts.ends; e.Err == nil || CauseOf(e.Err) != CauseRejected {
			t.Errorf("%s: server's error %v (cause %v), want a rejection", c.name, e.Err, CauseOf(e.Err))
		}
	}
	// Within the limits a test runs, and the server paces its own
	// senders inside the bitrate limit when the client asked for no rate.
	cfg := clientConfig(ts, 2, 2*time.Second)
	cfg.Reverse = true
	_, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, s := range end.Streams {
		total += s.Bytes
	}
	if bps := float64(total) * 8 / end.Seconds; bps > 110_000_000 {
		t.Errorf("server sent %.0f bit/s under a 100 Mbit/s limit", bps)
	}
	<-ts.ends
}

// TestServerEndsTestAboveBitrateLimit: a client that sends unpaced into a
// rate-limited server has its test ended, as with iperf3's
// --server-bitrate-limit.
func TestServerEndsTestAboveBitrateLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{MaxBitrate: 10_000_000})
	_, _, err := runClient(t, clientConfig(ts, 1, 10*time.Second))
	var pe *wire.PeerError
	if !errors.As(err, &pe) || pe.Code != wire.ErrTotalRate {
		t.Errorf("err = %v, want the server's total-rate error", err)
	}
	if e := <-ts.ends; e.Err == nil || !strings.Contains(e.Err.Error(), "--max-bitrate") || CauseOf(e.Err) != CauseRateLimit {
		t.Errorf("server: %v (cause %v)", e.Err, CauseOf(e.Err))
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	key := []byte("correct horse battery staple")
	ts := startServer(t, ServerConfig{AuthKey: key})
	cfg := clientConfig(ts, 1, 500*time.Millisecond)
	cfg.AuthKey = key
	if _, _, err := runClient(t, cfg); err != nil {
		t.Fatalf("right key: %v", err)
	}
	<-ts.ends
	// Refused before they hold a test slot; the server still reports
	// each refusal as an End with its cause.
	cfg.AuthKey = []byte("wrong horse battery staple!!")
	if _, _, err := runClient(t, cfg); err == nil || !strings.Contains(err.Error(), "authentication failed") || CauseOf(err) != CauseAuth {
		t.Errorf("wrong key: %v (cause %v)", err, CauseOf(err))
	}
	if e := <-ts.ends; CauseOf(e.Err) != CauseAuth {
		t.Errorf("wrong key: server's error %v has cause %v", e.Err, CauseOf(e.Err))
	}
	cfg.AuthKey = nil
	if _, _, err := runClient(t, cfg); err == nil || !strings.Contains(err.Error(), "authentication required") || CauseOf(err) != CauseAuth {
		t.Errorf("no key: %v (cause %v)", err, CauseOf(err))
	}
	if e := <-ts.ends; CauseOf(e.Err) != CauseAuth {
		t.Errorf("no key: server's error %v has cause %v", e.Err, CauseOf(e.Err))
	}
	cfg.AuthKey = key
	if _, _, err := runClient(t, cfg); err != nil {
		t.Fatalf("right key after refusals: %v", err)
	}
	<-ts.ends
	// A client with a key against a server without one just runs.
	open := startServer(t, ServerConfig{})
	cfg = clientConfig(open, 1, 300*time.Millisecond)
	cfg.AuthKey = key
	if _, _, err := runClient(t, cfg); err != nil {
		t.Errorf("key offered to an open server: %v", err)
	}
	<-open.ends
}

// TestPendingPerAddress: connections that never present a cookie are
// bounded per address, and do not block a real test.
func TestPendingPerAddress(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{}, 16) // one per idle connection the server let go
	ts := startServer(t, ServerConfig{MaxPendingPerAddr: 5, Log: func(m string) {
		if strings.Contains(m, "no cookie") {
			gone <- struct{}{}
		}
	}})
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 5 {
		c, err := net.Dial("tcp", ts.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The sixth idle connection is closed by the server at once.
	extra, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("sixth idle connection: %v, want it closed by the server", err)
	}
	// Meanwhile a real client (same address!) is limited too, so free the
	// idle slots first: the server must then serve it.
	for _, c := range idle {
		c.Close()
	}
	for range idle {
		<-gone
	}
	idle = nil
	if _, _, err := runClient(t, clientConfig(ts, 2, 300*time.Millisecond)); err != nil {
		t.Fatalf("test after idle connections: %v", err)
	}
	<-ts.ends
}

// TestMaxDurationEnforcedWhileRunning: a client that asks for 1 s within a
// 1 s --max-duration and then never sends TEST_END (keeping its stream
// busy) has its test ended by the server soon after the limit, not at the
// watchdog 40 s later.
func TestMaxDurationEnforcedWhileRunning(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxDuration: time.Second})
	ctl, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	cookie := wire.EncodeCookie(wire.NewCookie())
	if _, err := ctl.Write(cookie); err != nil {
		t.Fatal(err)
	}
	br := wire.NewReader(ctl)
	expect := func(want wire.State) {
		t.Helper()
		_ = ctl.SetReadDeadline(time.Now().Add(20 * time.Second))
		if st, err := wire.ReadState(br); err != nil || st != want {
			t.Fatalf("state %v, %v; want %v", st, err, want)
		}
	}
	expect(wire.ParamExchange)
	p := &wire.Params{TCP: true, Time: 1, Parallel: 1, Len: 1000}
	if err := wire.WriteMessage(ctl, p.Marshal()); err != nil {
		t.Fatal(err)
	}
	expect(wire.CreateStreams)
	data, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	if _, err := data.Write(cookie); err != nil {
		t.Fatal(err)
	}
	expect(wire.TestStart)
	expect(wire.TestRunning)
	began := time.Now()
	go func() { // keep the stream moving so no stall ends the test
		buf := make([]byte, 1000)
		for {
			if _, err := data.Write(buf); err != nil {
				return
			}
		}
	}()
	select {
	case e := <-ts.ends:
		if e.Err == nil || !strings.Contains(e.Err.Error(), "--max-duration") {
			t.Errorf("server ended the test with %v; want it to name --max-duration", e.Err)
		}
		t.Logf("ended %v after TEST_RUNNING: %v", time.Since(began).Round(time.Millisecond), e.Err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server let a 1 s test under --max-duration 1s run past 20 s")
	}
}
