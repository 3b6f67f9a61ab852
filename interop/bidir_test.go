package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// TCP --bidir with stock iperf3 peers, with and without a proxy that
// reverses the server's accept order (esnet/iperf#2029): whichever end is
// flowscope must make data move both ways, with each stream's received
// bytes matching what its sender sent.

// bidirPeerPath is the iperf3 3.21+ test peer (see its README), relative
// to this package's directory.
const bidirPeerPath = "../../shared/peers/iperf3-3.21/iperf3"

// stockIperf3 is one stock iperf3 binary.
type stockIperf3 struct {
	version string
	bin     string
}

// stockVersions returns Debian's iperf3 3.12 (required in CI) and the
// iperf3 3.21+ build, each as a subtest that skips with a clear message
// when its binary is missing.
func forEachStock(t *testing.T, fn func(t *testing.T, s stockIperf3)) {
	t.Run("3.12", func(t *testing.T) { fn(t, stockIperf3{"3.12", iperf3Path(t)}) })
	t.Run("3.21", func(t *testing.T) {
		p, err := filepath.Abs(bidirPeerPath)
		if err == nil {
			err = exec.Command(p, "--version").Run()
		}
		if err != nil {
			t.Skipf("iperf3 3.21+ is not available at %s (%v); see ../shared/peers/iperf3-3.21/README.md", bidirPeerPath, err)
		}
		fn(t, stockIperf3{"3.21", p})
	})
}

// bidirParallel are the stream counts per direction every combination runs.
var bidirParallel = []int{1, 2, 8}

// bidirSeconds is each test's length: long enough for several intervals,
// short enough for CI. Nothing below depends on speed.
const bidirSeconds = 2

// bidirRun is what a flowscope end of a --bidir test reported.
type bidirRun struct {
	start *engine.Start
	first *engine.Sample // the first interval
	end   *engine.End
}

// record returns an event callback that fills r (one test's events).
func (r *bidirRun) record(mu *sync.Mutex) func(engine.Event) {
	return func(ev engine.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *engine.Start:
			r.start = e
		case *engine.Sample:
			if r.first == nil {
				r.first = e
			}
		case *engine.End:
			r.end = e
		}
	}
}

// flowscopeBidir runs a flowscope client test against port.
func flowscopeBidir(t *testing.T, port, parallel int) (*bidirRun, error) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Host, cfg.Port = "127.0.0.1", port
	cfg.Parallel, cfg.Bidir, cfg.Duration = parallel, true, bidirSeconds*time.Second
	var mu sync.Mutex
	run := &bidirRun{}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := engine.NewClient(cfg, run.record(&mu)).Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if run.start == nil || run.end == nil {
		t.Fatalf("the client emitted no Start or no End (err %v)", err)
	}
	return run, err
}

// stockLastBlock is how far a stock iperf3 sender's count may fall short
// of what it sent: 3.21's sender threads can write one more block (-l,
// 128 KiB here) after the count is taken at the end of the test.
const stockLastBlock = 128 << 10

// inFlight bounds what a stream may have on its way when a stock end
// stops counting at TEST_END: the sender's and the receiver's socket
// buffers at their largest, for each TCP hop (two through the proxy),
// and the proxy's copy buffer.
func inFlight(t *testing.T, hops int) uint64 {
	t.Helper()
	most := func(path string, field int) uint64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		f := strings.Fields(string(b))
		v, err := strconv.ParseUint(f[min(field, len(f)-1)], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return v
	}
	perHop := max(most("/proc/sys/net/ipv4/tcp_rmem", 2), most("/proc/sys/net/core/rmem_max", 0)) +
		max(most("/proc/sys/net/ipv4/tcp_wmem", 2), most("/proc/sys/net/core/wmem_max", 0))
	return uint64(hops)*perHop + 64<<10
}

// checkPair requires one stream's receiver to have got data, at most what
// its sender sent (plus slack: a stock sender's last block) and at most
// bound less.
func checkPair(t *testing.T, what string, sent, recv, slack, bound uint64) {
	t.Helper()
	if recv == 0 || recv > sent+slack || sent > recv+bound {
		t.Errorf("%s: sent %d, received %d (want received ≤ sent+%d and ≥ sent−%d)", what, sent, recv, slack, bound)
	}
}

// checkBidirStreams requires parallel streams each way, every one of them
// having moved data, and for each the receiver's count paired with the
// sender's (checkPair), the stock server's counts read from its results.
func checkBidirStreams(t *testing.T, end *engine.End, parallel int, bound uint64) {
	t.Helper()
	var dirs [2]int
	var moved [2]uint64
	for _, s := range end.Streams {
		dirs[s.Dir]++
		moved[s.Dir] += s.Bytes
		if !s.HasPeer {
			t.Errorf("stream %d (%v): no peer results", s.ID, s.Dir)
			continue
		}
		sent, recv, slack := s.Bytes, s.PeerBytes, uint64(0)
		if s.Dir == engine.Recv {
			sent, recv, slack = s.PeerBytes, s.Bytes, stockLastBlock
		}
		checkPair(t, fmt.Sprintf("stream %d (%v here)", s.ID, s.Dir), sent, recv, slack, bound)
	}
	if dirs[engine.Send] != parallel || dirs[engine.Recv] != parallel {
		t.Errorf("%d sending and %d receiving streams, want %d each", dirs[engine.Send], dirs[engine.Recv], parallel)
	}
	if moved[engine.Send] == 0 || moved[engine.Recv] == 0 {
		t.Errorf("bytes sent %d, received %d: data must move both ways", moved[engine.Send], moved[engine.Recv])
	}
}

// checkRoles requires roles taken from the stock peer's data, every one
// of its senders heard from, none of them found wrong afterwards and no
// stream mispaired; through the proxy (reordered) every connection took
// the other role than its order gave it, and the peer's order was taken
// as the reverse.
func checkRoles(t *testing.T, run *bidirRun, parallel int, reordered bool) {
	t.Helper()
	r := run.start.Roles
	if r == nil {
		t.Fatal("Start has no role detection: the roles were not taken from the stock peer's data")
	}
	if r.Guessed || r.Heard != parallel {
		t.Errorf("roles %+v: want all %d of the peer's senders heard", *r, parallel)
	}
	if reordered && (r.Swapped != 2*parallel || !r.Reversed) {
		t.Errorf("roles %+v through the reordering proxy: want all %d swapped and the order reversed", *r, 2*parallel)
	}
	for _, f := range run.end.Findings {
		if f.Kind == diagnose.KindRoleMismatch || f.Kind == diagnose.KindMispaired || f.Kind == diagnose.KindRolesGuessed {
			t.Errorf("finding %s: %s", f.Kind, f.String())
		}
	}
}

// checkProxyIDs requires each stream of a flowscope end to carry the id
// the stock end gave the same connection. ids maps a stream's port as
// this end sees it (local or remote, see portOf) to the id it must have.
func checkProxyIDs(t *testing.T, start *engine.Start, ids map[int]int, portOf func(engine.StreamInfo) int) {
	t.Helper()
	for _, st := range start.Streams {
		want, ok := ids[portOf(st)]
		if !ok {
			t.Errorf("stream %d: port %d is not one the proxy carried", st.ID, portOf(st))
		} else if st.ID != want {
			t.Errorf("stream %d (%v): the stock end numbered this connection %d", st.ID, st.Dir, want)
		}
	}
}

// logRoles records how long the role detection took and what the first
// interval shows, each way.
func logRoles(t *testing.T, run *bidirRun) {
	t.Helper()
	if r := run.start.Roles; r != nil {
		t.Logf("roles known after %v (%d heard, %d swapped, reversed %v)", r.Took.Round(time.Microsecond), r.Heard, r.Swapped, r.Reversed)
	}
	s := run.first
	if s == nil {
		t.Log("no interval")
		return
	}
	t.Logf("first interval %v-%v: sent %d bytes on %d streams, received %d bytes on %d streams",
		s.Start.Round(time.Millisecond), s.End.Round(time.Millisecond), s.Sent.Bytes, s.Sent.Streams, s.Received.Bytes, s.Received.Streams)
}

// bidirPaths are the two ways every combination runs: straight to the
// server, and through the proxy that reverses its accept order.
var bidirPaths = []struct {
	name      string
	reordered bool
}{{"direct", false}, {"reordered", true}}

// TestBidirFlowscopeClientStockServer: a flowscope client against a stock
// iperf3 server, TCP --bidir, directly and through the reordering proxy:
// data moves both ways, each stream's counts pair up with the server's
// for the same id, and through the proxy each stream has the id the
// server gave its connection.
func TestBidirFlowscopeClientStockServer(t *testing.T) {
	forEachStock(t, func(t *testing.T, stock stockIperf3) {
		for _, path := range bidirPaths {
			for _, parallel := range bidirParallel {
				t.Run(fmt.Sprintf("%s/P%d", path.name, parallel), func(t *testing.T) {
					port := startStockServer(t, stock.bin)
					var proxy *reorderProxy
					hops := 1
					if path.reordered {
						proxy, port = startReorderProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*parallel)
						hops = 2
					}
					run, err := flowscopeBidir(t, port, parallel)
					if err != nil {
						t.Fatal(err)
					}
					logRoles(t, run)
					checkRoles(t, run, parallel, path.reordered)
					checkBidirStreams(t, run.end, parallel, inFlight(t, hops))
					if proxy != nil {
						// The client dials one connection at a time, so the
						// proxy's arrival order is the client's; the server
						// numbers them in the order the proxy connected.
						client, _ := proxy.ports()
						ids := map[int]int{}
						for k, i := range proxy.order() {
							ids[client[i]] = engine.StreamID(k)
						}
						checkProxyIDs(t, run.start, ids, func(s engine.StreamInfo) int { return s.Local.(*net.TCPAddr).Port })
					}
				})
			}
		}
	})
}

// iperfBidirDoc is the part of a stock client's -J document checked here.
// Its end streams are in the client's order, so the i-th has the id
// engine.StreamID(i).
type iperfBidirDoc struct {
	End struct {
		Streams []struct {
			Sender struct {
				Bytes int64 `json:"bytes"`
				// Sender: the stock client sent on this stream.
				Sender bool `json:"sender"`
			} `json:"sender"`
			Receiver struct{ Bytes int64 } `json:"receiver"`
		} `json:"streams"`
	} `json:"end"`
}

// checkStockBidir requires 2×parallel streams in the stock client's
// document, each with its receiver's count paired with its sender's
// (checkPair), and the flowscope server's count of each stream to be the
// one the stock client shows for the same id.
func checkStockBidir(t *testing.T, doc *iperfBidirDoc, srv *engine.End, parallel int, bound uint64) {
	t.Helper()
	if len(doc.End.Streams) != 2*parallel || len(srv.Streams) != 2*parallel {
		t.Fatalf("iperf3 shows %d streams, the server %d, want %d", len(doc.End.Streams), len(srv.Streams), 2*parallel)
	}
	ours := map[int]engine.StreamResult{}
	var moved [2]uint64
	for _, s := range srv.Streams {
		ours[s.ID] = s
		moved[s.Dir] += s.Bytes
	}
	for i, s := range doc.End.Streams {
		id := engine.StreamID(i)
		sent, recv := uint64(max(s.Sender.Bytes, 0)), uint64(max(s.Receiver.Bytes, 0))
		// The stock client sent (its last block maybe uncounted) and the
		// server received, or the server sent and the client received.
		slack, serverCount, serverDir := uint64(stockLastBlock), recv, engine.Recv
		if !s.Sender.Sender {
			slack, serverCount, serverDir = 0, sent, engine.Send
		}
		checkPair(t, fmt.Sprintf("iperf3 stream %d", id), sent, recv, slack, bound)
		if o, ok := ours[id]; !ok || o.Dir != serverDir || o.Bytes != serverCount {
			t.Errorf("iperf3 stream %d: the server's stream %d is %+v, want %v with %d bytes", id, id, o, serverDir, serverCount)
		}
	}
	if moved[engine.Send] == 0 || moved[engine.Recv] == 0 {
		t.Errorf("server sent %d, received %d: data must move both ways", moved[engine.Send], moved[engine.Recv])
	}
}

// flowscopeServer starts a one-test flowscope server and returns its port
// and a func returning what it reported, once the test is over.
func flowscopeServer(t *testing.T) (int, func() *bidirRun) {
	t.Helper()
	ln, err := engine.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	run := &bidirRun{}
	srv := engine.NewServer(engine.ServerConfig{OneOff: true, Interval: time.Second, Log: func(m string) { t.Log("server: " + m) }}, run.record(&mu))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	return ln.Addr().(*net.TCPAddr).Port, func() *bidirRun {
		t.Helper()
		if err := <-served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if run.start == nil || run.end == nil {
			t.Fatal("the server emitted no Start or no End")
		}
		if run.end.Err != nil {
			t.Fatalf("server: %v", run.end.Err)
		}
		return run
	}
}

// TestBidirStockClientFlowscopeServer: a stock iperf3 client against a
// flowscope server, TCP --bidir, directly and through the reordering
// proxy: data moves both ways, the stock client's per-stream lines pair
// up, and through the proxy each of the server's streams has the id the
// client gave its connection.
func TestBidirStockClientFlowscopeServer(t *testing.T) {
	forEachStock(t, func(t *testing.T, stock stockIperf3) {
		for _, path := range bidirPaths {
			for _, parallel := range bidirParallel {
				t.Run(fmt.Sprintf("%s/P%d", path.name, parallel), func(t *testing.T) {
					port, wait := flowscopeServer(t)
					var proxy *reorderProxy
					hops := 1
					if path.reordered {
						proxy, port = startReorderProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*parallel)
						hops = 2
					}
					var doc iperfBidirDoc
					runIperf3JSON(t, stock.bin, port, &doc, "-P", strconv.Itoa(parallel), "-t", strconv.Itoa(bidirSeconds), "--bidir")
					run := wait()
					logRoles(t, run)
					checkRoles(t, run, parallel, path.reordered)
					checkStockBidir(t, &doc, run.end, parallel, inFlight(t, hops))
					if proxy != nil {
						// The stock client connects one at a time: the
						// proxy's arrival order is its order, its ids.
						_, server := proxy.ports()
						ids := map[int]int{}
						for i, p := range server {
							ids[p] = engine.StreamID(i)
						}
						checkProxyIDs(t, run.start, ids, func(s engine.StreamInfo) int { return s.Remote.(*net.TCPAddr).Port })
					}
				})
			}
		}
	})
}

// TestBidirFlowscopeThroughReorderProxy: between flowscope ends every data
// connection declares its role, so the reversed accept order changes
// nothing. It also shows the proxy reverses the order it claims to.
func TestBidirFlowscopeThroughReorderProxy(t *testing.T) {
	for _, parallel := range bidirParallel {
		t.Run(fmt.Sprintf("P%d", parallel), func(t *testing.T) {
			ln, err := engine.Listen(t.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := engine.NewServer(engine.ServerConfig{OneOff: true}, nil)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(context.Background(), ln) }()
			proxy, port := startReorderProxy(t, ln.Addr().String(), 2*parallel)
			run, err := flowscopeBidir(t, port, parallel)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-served; err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if run.start.Roles != nil {
				t.Errorf("roles detected (%+v) between flowscope ends, whose streams declare them", *run.start.Roles)
			}
			checkBidirStreams(t, run.end, parallel, inFlight(t, 2))
			order := proxy.order()
			if len(order) != 2*parallel || order[0] != 2*parallel-1 || order[len(order)-1] != 0 {
				t.Errorf("proxy connected the data connections in arrival order %v, want the reverse", order)
			}
		})
	}
}

// TestBidirStockThroughReorderProxyDeadlocks is the evidence that the
// proxy reproduces esnet/iperf#2029: stock client and stock server of the
// same version, --bidir -P 1 through the proxy. The server makes the
// client's receiving connection its receiver and the sending one its
// sender, so on one connection both ends send and on the other both read:
// the client's receiver gets nothing. The stock client then hangs or
// fails; it is stopped after a bound either way. The assertion is on
// bytes: no iperf3 document may show data received on the client's
// receiving stream.
func TestBidirStockThroughReorderProxyDeadlocks(t *testing.T) {
	forEachStock(t, func(t *testing.T, stock stockIperf3) {
		port := startStockServer(t, stock.bin)
		_, proxyPort := startReorderProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2)
		ctx, cancel := context.WithTimeout(t.Context(), 3*bidirSeconds*time.Second+10*time.Second)
		defer cancel()
		// --rcv-timeout bounds how long the stock client waits for data.
		out, err := exec.CommandContext(ctx, stock.bin, "-c", "127.0.0.1", "-p", strconv.Itoa(proxyPort), "-J",
			"--bidir", "-t", strconv.Itoa(bidirSeconds), "--rcv-timeout", "3000").Output()
		var doc struct {
			iperfBidirDoc
			Intervals []struct {
				Streams []struct {
					Bytes  int64 `json:"bytes"`
					Sender bool  `json:"sender"`
				} `json:"streams"`
			} `json:"intervals"`
			Error string `json:"error"`
		}
		jerr := json.Unmarshal(out, &doc)
		t.Logf("stock %s ↔ %s through the proxy: exit %v, error %q, %d intervals", stock.version, stock.version, err, doc.Error, len(doc.Intervals))
		if jerr != nil {
			if ctx.Err() == nil && err == nil {
				t.Fatalf("iperf3 exited 0 without a JSON document: %s", out)
			}
			return // killed at the bound or died: nothing moved to show
		}
		var sent, received int64
		receivers := 0
		for _, iv := range doc.Intervals {
			for _, s := range iv.Streams {
				if s.Sender {
					sent += s.Bytes
				} else {
					received += s.Bytes
					receivers++
				}
			}
		}
		t.Logf("the stock client wrote %d bytes (into full windows) and received %d", sent, received)
		if receivers == 0 || sent == 0 {
			t.Fatalf("no interval shows both of the client's streams (%d receiving entries, %d bytes sent): the test did not get as far as the deadlock", receivers, sent)
		}
		if received > 0 {
			t.Errorf("the stock client received %d bytes through the reordering proxy: the proxy did not reproduce the deadlock", received)
		}
	})
}

// TestBidirUnrecoverableRolesFailTheTest: through a proxy that reverses
// the accept order and holds the stock server's data back past the
// client's wait, the flowscope client must take the roles from the order,
// which is wrong here. It finds out when the server's data arrives on a
// connection it sends on, and the test fails: non-zero exit, one line on
// stderr with a fix true for a stock server, and the JSON's error key.
func TestBidirUnrecoverableRolesFailTheTest(t *testing.T) {
	bin := peerFlowscope(t).bin
	forEachStock(t, func(t *testing.T, stock stockIperf3) {
		port := startStockServer(t, stock.bin)
		_, proxyPort := startDelayingProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2, 3*time.Second)
		r := runProcess(t.Context(), bin, time.Minute, "-c", "127.0.0.1", "-p", strconv.Itoa(proxyPort), "--bidir", "-t", "20", "-J")
		if r.code == 0 || r.timedOut {
			t.Fatalf("exit %d (timed out %v), want a failure", r.code, r.timedOut)
		}
		if r.wall > 15*time.Second {
			t.Errorf("took %v: the test must end when the roles are found wrong, not at -t", r.wall)
		}
		// stderr carries the findings as they come, then the error: its
		// last line, and the only one saying so.
		lines := strings.Split(strings.TrimSpace(string(r.stderr)), "\n")
		const fix = "run flowscope on the server (its streams declare their roles), or retry"
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "flowscope: --bidir deadlock: ") || !strings.Contains(last, fix) || strings.Count(string(r.stderr), "--bidir deadlock") != 1 {
			t.Errorf("stderr %q: want it to end in one line with the deadlock and %q", r.stderr, fix)
		}
		var doc struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(r.stdout, &doc); err != nil || !strings.Contains(doc.Error, fix) {
			t.Errorf("JSON error %q (%v), want the roles error", doc.Error, err)
		}
		if t.Failed() {
			t.Logf("%v", r)
		}
	})
}
