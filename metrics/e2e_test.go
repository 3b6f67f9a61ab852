package metrics

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/sysctl"
)

// loopbackServer is a real flowscope server on 127.0.0.1 whose events feed
// a collector served over HTTP, as `flowscope -s --metrics` does.
type loopbackServer struct {
	port    int
	metrics string // URL of /metrics
	ends    chan *engine.End
}

func startLoopbackServer(t *testing.T, sc engine.ServerConfig) *loopbackServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := engine.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	counters, _ := sysctl.NewCounterReader()
	c := New(Options{Listener: rc, Counters: counters, Limits: sysctl.ReadLimits, MaxTests: sc.MaxTests})
	hs := httptest.NewServer(Handler(c))
	s := &loopbackServer{port: ln.Addr().(*net.TCPAddr).Port, metrics: hs.URL + "/metrics", ends: make(chan *engine.End, 16)}
	srv := engine.NewServer(sc, func(ev engine.Event) {
		c.Observe(ev)
		if e, ok := ev.(*engine.End); ok {
			s.ends <- e
		}
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-served
		hs.Close()
		counters.Close()
	})
	return s
}

// run runs a client test against the server and returns the client's and
// the server's End once both sides have reported it.
func (s *loopbackServer) run(t *testing.T, cfg engine.Config) (client, server *engine.End) {
	t.Helper()
	cfg.Host, cfg.Port = "127.0.0.1", s.port
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, _ = engine.NewClient(cfg, nil).Run(ctx)
	select {
	case server = <-s.ends:
	case <-ctx.Done():
		t.Fatal("the server did not report the end of the test")
	}
	return client, server
}

func (s *loopbackServer) scrape(t *testing.T) scrape {
	t.Helper()
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", s.metrics, resp.Status)
	}
	return parse(t, resp.Body)
}

// byDir adds up a side's result bytes by that side's direction, and the
// peer's count of the same streams.
func byDir(e *engine.End) (local, peer [2]uint64) {
	for _, r := range e.Streams {
		local[r.Dir&1] += r.Bytes
		peer[r.Dir&1] += r.PeerBytes
	}
	return local, peer
}

// A real server and client on loopback: after each test the scraped byte
// counters grow by exactly the bytes in the test's results, as the server
// counted them and as the client was told.
func TestScrapedBytesEqualResults(t *testing.T) {
	srv := startLoopbackServer(t, engine.ServerConfig{Interval: 200 * time.Millisecond})
	base := engine.DefaultConfig()
	base.Duration, base.Interval, base.Parallel = time.Second, 200*time.Millisecond, 2

	var wantRecv, wantSent uint64
	for _, tc := range []struct {
		name           string
		reverse, bidir bool
		omit           time.Duration
	}{
		{name: "client sends"},
		{name: "server sends (-R)", reverse: true},
		{name: "bidir", bidir: true},
		{name: "with omit (-O 1)", omit: time.Second},
	} {
		cfg := base
		cfg.Reverse, cfg.Bidir, cfg.Omit = tc.reverse, tc.bidir, tc.omit
		client, server := srv.run(t, cfg)
		if client.Err != nil || server.Err != nil {
			t.Fatalf("%s: client %v, server %v", tc.name, client.Err, server.Err)
		}
		local, _ := byDir(server)
		cLocal, cPeer := byDir(client)
		// The server's received bytes are the client's sent ones, as the
		// server reported them to the client, and (drain; without omit,
		// as each end times its own warm-up) as the client wrote them.
		if local[engine.Recv] != cPeer[engine.Send] || (tc.omit == 0 && local[engine.Recv] != cLocal[engine.Send]) {
			t.Errorf("%s: server received %d, client's results say %d (its own count %d)", tc.name, local[engine.Recv], cPeer[engine.Send], cLocal[engine.Send])
		}
		if local[engine.Send] != cPeer[engine.Recv] {
			t.Errorf("%s: server sent %d, client's results say %d", tc.name, local[engine.Send], cPeer[engine.Recv])
		}
		wantRecv += local[engine.Recv]
		wantSent += local[engine.Send]
		s := srv.scrape(t)
		s.want(t, float64(wantRecv), "flowscope_server_bytes_total", "direction=received")
		s.want(t, float64(wantSent), "flowscope_server_bytes_total", "direction=sent")
		if t.Failed() {
			t.Fatalf("after %q: metrics %v", tc.name, s.sortedNames())
		}
	}
	s := srv.scrape(t)
	if wantRecv == 0 || wantSent == 0 {
		t.Fatalf("no bytes moved: received %d, sent %d", wantRecv, wantSent)
	}
	s.want(t, 4, "flowscope_server_tests_started_total")
	s.want(t, 4, "flowscope_server_tests_finished_total")
	s.want(t, 0, "flowscope_server_tests_running")
	s.want(t, 0, "flowscope_server_rate_bytes_per_second", "direction=received")
	s.want(t, 0, "flowscope_server_accept_queue_length")
	for _, name := range []string{"flowscope_server_accept_queue_limit", "flowscope_host_somaxconn", KernelMetricName("TcpExt.ListenOverflows")} {
		if _, ok := s.value(name); !ok {
			t.Errorf("%s absent", name)
		}
	}
}

// Tests the real server refuses count as setup failures with their cause.
func TestScrapedSetupFailures(t *testing.T) {
	srv := startLoopbackServer(t, engine.ServerConfig{MaxStreams: 2, AuthKey: []byte("0123456789abcdef0123456789abcdef")})
	cfg := engine.DefaultConfig()
	cfg.Duration, cfg.Parallel = time.Second, 3
	cfg.AuthKey = []byte("0123456789abcdef0123456789abcdef")
	if c, s := srv.run(t, cfg); c.Err == nil || s.Err == nil {
		t.Fatalf("3 streams against --max-streams 2 ran: client %v, server %v", c.Err, s.Err)
	}
	cfg.Parallel, cfg.AuthKey = 1, nil
	if c, s := srv.run(t, cfg); c.Err == nil || s.Err == nil {
		t.Fatalf("a client without the key ran: client %v, server %v", c.Err, s.Err)
	}
	cfg.AuthKey = []byte("fedcba9876543210fedcba9876543210")
	if c, s := srv.run(t, cfg); c.Err == nil || s.Err == nil {
		t.Fatalf("a client with the wrong key ran: client %v, server %v", c.Err, s.Err)
	}
	s := srv.scrape(t)
	s.want(t, 1, "flowscope_server_setup_failures_total", "cause=rejected")
	s.want(t, 2, "flowscope_server_setup_failures_total", "cause=auth")
	s.want(t, 0, "flowscope_server_setup_failures_total", "cause=other")
	s.want(t, 3, "flowscope_server_tests_failed_total", "stage=setup")
	s.want(t, 0, "flowscope_server_tests_started_total")
	s.want(t, 0, "flowscope_server_bytes_total", "direction=received")
}
