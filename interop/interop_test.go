package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/sysctl"
)

// iperf3Path returns the stock iperf3 binary or skips the test.
func iperf3Path(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("iperf3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("iperf3 is not installed, and CI must run the interop tests (.ci/run installs it)")
		}
		t.Skip("iperf3 is not installed (apt-get install -y iperf3); interop tests skipped")
	}
	return p
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startIperf3Server runs Debian's `iperf3 -s -1` and waits until it
// accepts.
func startIperf3Server(t *testing.T) int {
	t.Helper()
	return startStockServer(t, iperf3Path(t))
}

// startStockServer runs `bin -s -1` (a stock iperf3) on loopback and waits
// until it accepts.
func startStockServer(t *testing.T, bin string) int {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, bin, "-s", "-1", "-p", strconv.Itoa(port), "-B", "127.0.0.1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("iperf3 server output:\n%s", out.String())
		}
	})
	// Poll until the server listens: the readiness signal is a successful
	// connect, which iperf3 -s answers by waiting for a cookie; an empty
	// connection would occupy it, so probe with a listen attempt instead.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return port // taken: iperf3 is listening
		}
		ln.Close()
		select {
		case <-exited:
			t.Fatalf("iperf3 -s exited early:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("iperf3 -s did not start listening")
	return 0
}

type mode struct {
	name  string
	flags []string
	apply func(*engine.Config)
}

var modes = []mode{
	{"forward", nil, func(*engine.Config) {}},
	{"reverse", []string{"-R"}, func(c *engine.Config) { c.Reverse = true }},
	{"bidir", []string{"--bidir"}, func(c *engine.Config) { c.Bidir = true }},
}

// near reports whether a and b agree within what socket buffers can hold
// when a stock peer stops reading at TEST_END.
func near(a, b uint64) bool {
	diff := int64(a) - int64(b)
	if diff < 0 {
		diff = -diff
	}
	return diff <= 64<<20 || float64(diff) <= 0.05*float64(max(a, b))
}

// TestFlowscopeClientIperf3Server: our client against `iperf3 -s`.
func TestFlowscopeClientIperf3Server(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			port := startIperf3Server(t)
			cfg := engine.DefaultConfig()
			cfg.Host, cfg.Port = "127.0.0.1", port
			cfg.Parallel, cfg.Duration = 4, 2*time.Second
			cfg.Congestion = "cubic"
			m.apply(&cfg)
			var start *engine.Start
			var mu sync.Mutex
			end, err := engine.NewClient(cfg, func(ev engine.Event) {
				mu.Lock()
				defer mu.Unlock()
				if s, ok := ev.(*engine.Start); ok {
					start = s
				}
			}).Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if start == nil || start.PeerFlowscope {
				t.Fatalf("start = %+v: the stock server must be detected as stock", start)
			}
			if len(end.Streams) != cfg.NumStreams() {
				t.Fatalf("%d streams, want %d", len(end.Streams), cfg.NumStreams())
			}
			for _, s := range end.Streams {
				if !s.HasPeer || s.Bytes == 0 || s.PeerBytes == 0 {
					t.Errorf("stream %d (%v): local %d, iperf3 %d bytes", s.ID, s.Dir, s.Bytes, s.PeerBytes)
					continue
				}
				if !near(s.Bytes, s.PeerBytes) {
					t.Errorf("stream %d (%v): local %d, iperf3 %d bytes", s.ID, s.Dir, s.Bytes, s.PeerBytes)
				}
			}
		})
	}
}

// TestPacedClientDeliversToIperf3Server: a paced (-b) flowscope client
// against a stock server, which stops counting at TEST_END: what the
// client counted as sent was received (the kernel paces -b, so bytes
// still waited in the socket when the senders stopped; they now go out,
// acknowledged, before TEST_END). It was 2.5-12 % short. What the stock
// server had received but not yet read when TEST_END came stays
// uncounted, as between two iperf3s: on a loaded machine 2,650 bytes of
// 25 MB were seen, so up to 0.5 % is allowed.
func TestPacedClientDeliversToIperf3Server(t *testing.T) {
	for _, rate := range []uint64{10_000_000, 100_000_000} {
		t.Run(fmt.Sprintf("-b %dM", rate/1_000_000), func(t *testing.T) {
			port := startIperf3Server(t)
			cfg := engine.DefaultConfig()
			cfg.Host, cfg.Port = "127.0.0.1", port
			cfg.Parallel, cfg.Duration, cfg.Rate = 2, 2*time.Second, rate
			end, err := engine.NewClient(cfg, nil).Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range end.Streams {
				if !s.HasPeer || s.Bytes == 0 || s.PeerBytes > s.Bytes || float64(s.Bytes-s.PeerBytes) > 0.005*float64(s.Bytes) {
					t.Errorf("stream %d: sent %d bytes, the stock server received %d (want the same, at most 0.5 %% less)", s.ID, s.Bytes, s.PeerBytes)
				}
			}
		})
	}
}

// iperf3 -J end section, the parts we check.
type iperfEnd struct {
	End struct {
		Streams []struct {
			Sender   struct{ Socket, Bytes int64 } `json:"sender"`
			Receiver struct{ Socket, Bytes int64 } `json:"receiver"`
		} `json:"streams"`
		SumSent     struct{ Bytes int64 } `json:"sum_sent"`
		SumReceived struct{ Bytes int64 } `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// TestIperf3ClientFlowscopeServer: `iperf3 -c` against our server.
func TestIperf3ClientFlowscopeServer(t *testing.T) {
	bin := iperf3Path(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			port, wait := oneTestServer(t, engine.ServerConfig{})
			var doc iperfEnd
			runIperf3JSON(t, bin, port, &doc, append([]string{"-P", "4", "-t", "2", "-C", "cubic"}, m.flags...)...)
			srvEnd := wait()
			want := 4
			if m.name == "bidir" {
				want = 8
			}
			if len(doc.End.Streams) != want || len(srvEnd.Streams) != want {
				t.Fatalf("iperf3 shows %d streams, server %d, want %d", len(doc.End.Streams), len(srvEnd.Streams), want)
			}
			// iperf3 prints our server's counts verbatim, stream by stream
			// in the client's order (ids 1, 3, 4, …): the server's count of
			// each stream must appear exactly as that stream's remote side.
			for i, ours := range srvEnd.Streams {
				s := doc.End.Streams[i]
				theirs := s.Receiver.Bytes // the client sends, our server received
				if ours.Dir == engine.Send {
					theirs = s.Sender.Bytes
				}
				if int64(ours.Bytes) != theirs || ours.Bytes == 0 {
					t.Errorf("stream %d (server %v): server counted %d bytes, iperf3 reports %d", ours.ID, ours.Dir, ours.Bytes, theirs)
				}
			}
			if !near(uint64(doc.End.SumSent.Bytes), uint64(doc.End.SumReceived.Bytes)) {
				t.Errorf("iperf3 sum_sent %d, sum_received %d", doc.End.SumSent.Bytes, doc.End.SumReceived.Bytes)
			}
		})
	}
}

// TestBusyAnswerToIperf3: a stock client that arrives while a test runs
// gets iperf3's "server is busy".
func TestBusyAnswerToIperf3(t *testing.T) {
	bin := iperf3Path(t)
	ln, err := engine.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := engine.NewServer(engine.ServerConfig{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	port := ln.Addr().(*net.TCPAddr).Port

	running := make(chan struct{})
	var once sync.Once
	cfg := engine.DefaultConfig()
	cfg.Host, cfg.Port, cfg.Duration = "127.0.0.1", port, 3*time.Second
	first := make(chan error, 1)
	go func() {
		_, err := engine.NewClient(cfg, func(ev engine.Event) {
			if _, ok := ev.(*engine.Sample); ok {
				once.Do(func() { close(running) })
			}
		}).Run(context.Background())
		first <- err
	}()
	<-running
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()
	out, err := exec.CommandContext(cctx, bin, "-c", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "1").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "busy") {
		t.Errorf("iperf3 against a busy server: err %v, output:\n%s", err, out)
	}
	if err := <-first; err != nil {
		t.Errorf("running test: %v", err)
	}
	_ = fmt.Sprint()
}

var udpModes = []mode{
	{"udp", []string{"-u"}, func(*engine.Config) {}},
	{"udp-reverse", []string{"-u", "-R"}, func(c *engine.Config) { c.Reverse = true }},
	{"udp-bidir", []string{"-u", "--bidir"}, func(c *engine.Config) { c.Bidir = true }},
	{"udp-64bit", []string{"-u", "--udp-counters-64bit"}, func(c *engine.Config) { c.Counters64 = true }},
}

// TestUDPFlowscopeClientIperf3Server: our UDP client against `iperf3 -s`.
func TestUDPFlowscopeClientIperf3Server(t *testing.T) {
	for _, m := range udpModes {
		t.Run(m.name, func(t *testing.T) {
			port := startIperf3Server(t)
			cfg := engine.DefaultConfig()
			cfg.Host, cfg.Port = "127.0.0.1", port
			cfg.Parallel, cfg.Duration = 2, 2*time.Second
			cfg.Protocol, cfg.Rate, cfg.BlockSize = engine.ProtoUDP, 10_000_000, 1400
			m.apply(&cfg)
			end, err := engine.NewClient(cfg, nil).Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(end.Streams) != cfg.NumStreams() {
				t.Fatalf("%d streams, want %d", len(end.Streams), cfg.NumStreams())
			}
			for _, s := range end.Streams {
				if s.UDP == nil || s.PeerUDP == nil {
					t.Fatalf("stream %d: UDP stats missing: %+v", s.ID, s)
				}
				// iperf3 reports a receiver's datagrams as the highest
				// sequence number it saw (received plus lost); flowscope's
				// own receiver counts what it received.
				a := udpAccount{sent: s.UDP.Packets, accounted: s.PeerUDP.Packets, lost: s.PeerUDP.Lost}
				if s.Dir == engine.Recv {
					a = udpAccount{sent: s.PeerUDP.Packets, accounted: s.UDP.Packets - s.UDP.Duplicates + uint64(max(s.UDP.Lost, 0)), lost: s.UDP.Lost}
				}
				a.check(t, fmt.Sprintf("stream %d (flowscope %v)", s.ID, s.Dir))
			}
		})
	}
}

// udpAccount is one UDP stream as both ends reported it: the datagrams the
// sender says it sent, and those the receiver accounted for (received plus
// counted lost: the highest sequence number it saw) and counted lost.
type udpAccount struct {
	sent, accounted uint64
	lost            int64
}

// check holds the receiver's accounting to what the sender itself
// reported, not to what the nominal rate would give on an idle machine
// (a sender on a busy machine falls behind its schedule). The receiver
// cannot account for more datagrams than were sent (a misread sequence
// number or counter width shows here), nor count more lost than it
// accounted for. What it accounts for may fall short of what was sent by
// the tail still queued when it stopped reading at TEST_END, which is not
// more than half a test on loopback.
func (a udpAccount) check(t *testing.T, what string) {
	t.Helper()
	switch {
	case a.sent == 0:
		t.Errorf("%s: the sender reports 0 datagrams sent; expected some", what)
	case a.accounted > a.sent:
		t.Errorf("%s: the receiver accounts for %d datagrams (received + lost); expected at most the %d the sender reports", what, a.accounted, a.sent)
	case a.accounted < a.sent/2:
		t.Errorf("%s: the receiver accounts for %d datagrams (received + lost); expected at least half of the %d the sender reports", what, a.accounted, a.sent)
	case a.lost < 0 || uint64(a.lost) >= a.accounted:
		t.Errorf("%s: the receiver counts %d lost of %d accounted for; expected 0 up to fewer than %d", what, a.lost, a.accounted, a.accounted)
	}
}

type iperfUDPEnd struct {
	End struct {
		Streams []struct {
			UDP struct {
				Bytes       int64   `json:"bytes"`
				Packets     int64   `json:"packets"`
				LostPackets int64   `json:"lost_packets"`
				JitterMS    float64 `json:"jitter_ms"`
				Sender      bool    `json:"sender"`
			} `json:"udp"`
		} `json:"streams"`
		Sum struct {
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
			LostPercent float64 `json:"lost_percent"`
		} `json:"sum"`
	} `json:"end"`
	Error string `json:"error"`
}

// TestUDPIperf3ClientFlowscopeServer: `iperf3 -c -u` against our server.
func TestUDPIperf3ClientFlowscopeServer(t *testing.T) {
	bin := iperf3Path(t)
	for _, m := range udpModes {
		t.Run(m.name, func(t *testing.T) {
			port, wait := oneTestServer(t, engine.ServerConfig{})
			var doc iperfUDPEnd
			runIperf3JSON(t, bin, port, &doc, append([]string{"-P", "2", "-t", "2", "-b", "10M", "-l", "1400"}, m.flags...)...)
			srvEnd := wait()
			if len(doc.End.Streams) != len(srvEnd.Streams) {
				t.Fatalf("iperf3 shows %d streams, server %d", len(doc.End.Streams), len(srvEnd.Streams))
			}
			for i, s := range srvEnd.Streams {
				if s.UDP == nil || s.Bytes == 0 {
					t.Errorf("server stream %d: %+v", s.ID, s)
					continue
				}
				theirs := doc.End.Streams[i].UDP
				if theirs.Sender != (s.Dir == engine.Recv) {
					t.Errorf("stream %d: iperf3 says sender=%v, our server %v", s.ID, theirs.Sender, s.Dir)
					continue
				}
				what := fmt.Sprintf("stream %d (server %v)", s.ID, s.Dir)
				if s.Dir == engine.Send {
					// iperf3 received: its own accounting (highest sequence
					// number, lost) against what our server sent.
					udpAccount{sent: s.UDP.Packets, accounted: uint64(theirs.Packets), lost: theirs.LostPackets}.check(t, what)
					continue
				}
				// iperf3 sent: it shows its own count, and our server's
				// count of lost datagrams verbatim.
				udpAccount{sent: uint64(theirs.Packets), accounted: s.UDP.Packets - s.UDP.Duplicates + uint64(max(s.UDP.Lost, 0)), lost: s.UDP.Lost}.check(t, what)
				if theirs.LostPackets != s.UDP.Lost {
					t.Errorf("%s: iperf3 reports %d lost; expected our server's count, %d", what, theirs.LostPackets, s.UDP.Lost)
				}
			}
		})
	}
}

// TestIperf3ClientOptionsFlowscopeServer: a stock iperf3 client using its
// options against our server gets a complete test, and what crosses the
// wire takes effect.
func TestIperf3ClientOptionsFlowscopeServer(t *testing.T) {
	bin := iperf3Path(t)
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, doc map[string]any, srv *engine.End)
	}{
		{"socket options", []string{"-t", "1", "-w", "1M", "-M", "1400", "-N", "-S", "16", "-C", "cubic", "-l", "64K", "--repeating-payload"}, nil},
		{"title and extra data", []string{"-t", "1", "-T", "run7", "--extra-data", "lab-a"}, func(t *testing.T, doc map[string]any, _ *engine.End) {
			if doc["title"] != "run7" || doc["extra_data"] != "lab-a" {
				t.Errorf("title %v, extra_data %v", doc["title"], doc["extra_data"])
			}
		}},
		{"omit", []string{"-t", "1", "-O", "1"}, nil},
		{"zerocopy and fq-rate", []string{"-t", "1", "-Z", "-P", "2", "--fq-rate", "2G", "-R"}, func(t *testing.T, _ map[string]any, srv *engine.End) {
			var total uint64
			for _, s := range srv.Streams {
				total += s.Bytes
			}
			// Our server sent with sendfile, paced at 2 Gbit/s per stream.
			if bps := float64(total) * 8 / srv.Seconds; bps > 4.4e9 || bps < 1e9 {
				t.Errorf("server sent %.2f Gbit/s with --fq-rate 2G on 2 streams", bps/1e9)
			}
		}},
		{"bytes", []string{"-n", "20M", "-l", "128K"}, func(t *testing.T, _ map[string]any, srv *engine.End) {
			// A stock client stops at 20 MiB plus at most a block; our server
			// stops reading at TEST_END, as iperf3's does, so the bytes still
			// in flight go uncounted: at most what the client's send buffer
			// and the server's receive buffer can hold (their autotuning
			// maximums), which a loaded machine fills.
			var lo uint64
			if held := inFlightMax(t); held < 20<<20 {
				lo = 20<<20 - held
			}
			if b := srv.Streams[0].Bytes; b == 0 || b < lo || b > 20<<20+128<<10 {
				t.Errorf("server received %d bytes for -n 20M (want %d to %d)", b, lo, 20<<20+128<<10)
			}
		}},
		{"blocks reverse", []string{"-k", "300", "-l", "32K", "-R"}, nil},
		{"bitrate", []string{"-t", "2", "-b", "200M", "-P", "2"}, func(t *testing.T, _ map[string]any, srv *engine.End) {
			var total uint64
			for _, s := range srv.Streams {
				total += s.Bytes
			}
			if bps := float64(total) * 8 / srv.Seconds; bps > 440e6 {
				t.Errorf("received %.0f Mbit/s for 2 × 200M", bps/1e6)
			}
		}},
		{"server output", []string{"-t", "1", "--get-server-output"}, func(t *testing.T, doc map[string]any, _ *engine.End) {
			if doc["server_output_text"] != "the server's report\n" {
				t.Errorf("server_output_text %q", doc["server_output_text"])
			}
		}},
		{"udp options", []string{"-u", "-t", "1", "-b", "5M", "-l", "1200", "--udp-counters-64bit", "-S", "32"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			port, wait := oneTestServer(t, engine.ServerConfig{
				ServerOutput: func(uint64, *engine.End) (string, []byte) {
					return "the server's report\n", nil
				},
			})
			var doc map[string]any
			runIperf3JSON(t, bin, port, &doc, c.args...)
			e := wait()
			for _, s := range e.Streams {
				if s.Bytes == 0 {
					t.Errorf("stream %d moved nothing", s.ID)
				}
			}
			if c.check != nil {
				c.check(t, doc, e)
			}
		})
	}
}

// inFlightMax is the most one loopback TCP connection can hold unread: the
// sender's and the receiver's buffer maximums.
func inFlightMax(t *testing.T) uint64 {
	t.Helper()
	l := sysctl.ReadLimits()
	w, r := l.TCPWmem[2], l.TCPRmem[2]
	if w <= 0 || r <= 0 {
		t.Skip("net.ipv4.tcp_wmem or tcp_rmem cannot be read: the bytes still in flight cannot be bounded")
	}
	return uint64(w + r)
}

// oneTestServer runs a one-off flowscope server on loopback for a stock
// client and returns its port and a function that waits for the test's
// End (failing t if the server or the test failed).
func oneTestServer(t *testing.T, cfg engine.ServerConfig) (int, func() *engine.End) {
	t.Helper()
	ln, err := engine.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.OneOff = true
	cfg.Log = func(m string) { t.Log("server: " + m) }
	ends := make(chan *engine.End, 1)
	srv := engine.NewServer(cfg, func(ev engine.Event) {
		if e, ok := ev.(*engine.End); ok {
			ends <- e
		}
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	return ln.Addr().(*net.TCPAddr).Port, func() *engine.End {
		t.Helper()
		if err := <-served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		e := <-ends
		if e.Err != nil {
			t.Fatalf("server: %v", e.Err)
		}
		return e
	}
}

// runIperf3JSON runs the stock client with -J and decodes its document
// into doc, failing t when iperf3 reports an error.
func runIperf3JSON(t *testing.T, bin string, port int, doc any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"-c", "127.0.0.1", "-p", strconv.Itoa(port), "-J"}, args...)
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	var probe struct {
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &probe); jerr != nil {
		t.Fatalf("iperf3 output is not JSON (%v, exit %v):\n%s", jerr, err, out)
	}
	if err != nil || probe.Error != "" {
		t.Fatalf("iperf3 %v failed: %v %s", args, err, probe.Error)
	}
	if err := json.Unmarshal(out, doc); err != nil {
		t.Fatal(err)
	}
}

// TestIperf3LowRateReverseUDPEndsOnTime: a stock client's `-u -R -b 1K
// -l 1400 -t 1` (a datagram due every 11.2 s) against our server ends with
// its test, not when the server's sender wakes for its next datagram.
func TestIperf3LowRateReverseUDPEndsOnTime(t *testing.T) {
	bin := iperf3Path(t)
	port, wait := oneTestServer(t, engine.ServerConfig{})
	began := time.Now()
	var doc iperfUDPEnd
	runIperf3JSON(t, bin, port, &doc, "-u", "-R", "-b", "1K", "-l", "1400", "-t", "1")
	took := time.Since(began)
	wait()
	// iperf3 itself waits a little at the end; the server's sender, asleep
	// until its next datagram, used to keep the test 11 s.
	if took > 8*time.Second {
		t.Errorf("a 1 s test at 1 kbit/s took %v; expected it to end within 8 s", took.Round(time.Millisecond))
	}
}
