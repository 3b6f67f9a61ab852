//go:build linux

package engine

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hot paths: a flow's write and read loops, and the sampler's tick.
// Neither may allocate per block or per flow; the benchmarks measure them
// and TestHotPathAllocs holds the allocation counts to it.

// benchBlock is the block one iteration of a benchmark writes or reads.
const benchBlock = 128 << 10

// loopName names a sub-benchmark or sub-test by how the flow does I/O.
func loopName(owned bool) string {
	if owned {
		return "owned"
	}
	return "poller"
}

// endFlow closes the flow (its goroutine must have ended) and checks it
// ended without an error.
func endFlow(tb testing.TB, f *flow) {
	tb.Helper()
	flowSet{f}.closeAll()
	if f.err != nil {
		tb.Fatal(f.err)
	}
}

// drain reads c until it fails (EOF included) with a buffer of its own,
// so it allocates nothing while a measurement runs; the channel gets the
// byte count once it has ended.
func drain(c *net.TCPConn) <-chan uint64 {
	total := make(chan uint64, 1)
	buf := make([]byte, benchBlock)
	go func() {
		var n uint64
		for {
			k, err := c.Read(buf)
			n += uint64(k)
			if err != nil {
				total <- n
				return
			}
		}
	}()
	return total
}

// BenchmarkSendLoop: one iteration writes one block through the sender's
// real loop (sendOwned or send), a peer draining the other end.
func BenchmarkSendLoop(b *testing.B) {
	for _, owned := range []bool{true, false} {
		b.Run(loopName(owned), func(b *testing.B) {
			snd, rcv := tcpPair(b)
			f := loopFlow(b, Send, snd, owned)
			got := drain(rcv)
			buf := make([]byte, benchBlock)
			limit := newByteLimit(int64(b.N) * benchBlock)
			f.started = true
			b.SetBytes(benchBlock)
			b.ReportAllocs()
			b.ResetTimer()
			f.run(buf, limit)
			b.StopTimer()
			endFlow(b, f) // the peer reads to EOF
			want := uint64(b.N) * benchBlock
			if n := <-got; f.bytes.Load() != want || n != want {
				b.Fatalf("wrote %d bytes, the peer read %d, want %d", f.bytes.Load(), n, want)
			}
		})
	}
}

// BenchmarkRecvLoop: one iteration reads one block's worth through the
// receiver's real loop (recvOwned or recv) until the peer's EOF; a read
// returns what has arrived, up to the block.
func BenchmarkRecvLoop(b *testing.B) {
	for _, owned := range []bool{true, false} {
		b.Run(loopName(owned), func(b *testing.B) {
			snd, rcv := tcpPair(b)
			f := loopFlow(b, Recv, rcv, owned)
			buf, block := make([]byte, benchBlock), make([]byte, benchBlock)
			go1 := make(chan struct{})
			wrote := make(chan error, 1)
			go func() {
				<-go1
				for range b.N {
					if _, err := snd.Write(block); err != nil {
						wrote <- err
						return
					}
				}
				wrote <- snd.CloseWrite()
			}()
			f.started = true
			b.SetBytes(benchBlock)
			b.ReportAllocs()
			b.ResetTimer()
			close(go1)
			f.run(buf, nil)
			b.StopTimer()
			if err := <-wrote; err != nil {
				b.Fatal(err)
			}
			endFlow(b, f)
			if want := uint64(b.N) * benchBlock; f.bytes.Load() != want || !f.eof {
				b.Fatalf("read %d bytes (EOF %v), want %d and EOF", f.bytes.Load(), f.eof, want)
			}
		})
	}
}

// tcpSockets returns n TCP sockets as the poller's connections. They are
// not connected: TCP_INFO reads the same from them, and each costs one
// descriptor (a loopback pair costs two, and 10,000 pairs do not fit a
// common hard RLIMIT_NOFILE of 20,000).
func tcpSockets(tb testing.TB, n int) []*net.TCPConn {
	tb.Helper()
	conns := make([]*net.TCPConn, 0, n)
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			tb.Fatal(err)
		}
		file := os.NewFile(uintptr(fd), "tcp")
		c, err := net.FileConn(file) // a duplicate, registered with the poller
		file.Close()
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c.(*net.TCPConn))
	}
	return conns
}

// needFiles raises the soft RLIMIT_NOFILE to the hard one if n more
// descriptors would not fit, and skips the test if they still would not.
func needFiles(tb testing.TB, n int) {
	tb.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	const spare = 256 // the test binary's own descriptors, and some slack
	need := uint64(n + spare)
	if lim.Cur < need && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
	if lim.Cur < need {
		tb.Skipf("%d sockets need RLIMIT_NOFILE ≥ %d; the hard limit is %d (raise it with ulimit -Hn)", n, need, lim.Max)
	}
}

// Kinds of flows a sampler tick reads.
const (
	tcpSenders      = "tcp-send"       // TCP_INFO through the poller (more than 64 flows)
	tcpOwnedSenders = "tcp-send-owned" // TCP_INFO on owned sockets (64 or fewer)
	tcpReceivers    = "tcp-recv"       // the counter only
	udpSenders      = "udp-send"       // the counter and the UDP counters
)

// samplerFlows makes n flows of a kind for a sampler, none of them moving
// bytes; their sockets are closed when the test ends.
func samplerFlows(tb testing.TB, kind string, n int) flowSet {
	tb.Helper()
	fs := make(flowSet, n)
	if kind == udpSenders {
		for i := range fs {
			fs[i] = newUDPFlow(i, Send, nil, &udpFlow{})
		}
		return fs
	}
	needFiles(tb, n)
	dir := Send
	if kind == tcpReceivers {
		dir = Recv
	}
	for i, c := range tcpSockets(tb, n) {
		f, err := newFlow(i, dir, c, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if kind == tcpOwnedSenders {
			if !accelerated {
				tb.Skip("a portable build has no owned sockets")
			}
			f.detach()
			if f.own == nil {
				tb.Fatal("socket was not detached")
			}
		}
		fs[i] = f
	}
	tb.Cleanup(fs.closeAll)
	return fs
}

// tickingSampler makes a sampler over fs, started now but without its
// ticking goroutine, and returns a func that takes its next tick, 1 ms
// after the last. No flow is ever stalled: a tick is the steady state of a
// running test.
func tickingSampler(fs flowSet) (tick func()) {
	s := newSampler(SideClient, fs, TestParams{Interval: time.Millisecond}, math.MaxInt64, func(Event) {})
	s.clock = func() time.Time { return time.Time{} } // each tick ends at its time
	t0 := time.Now()
	s.t0, s.measured = t0, t0
	var n time.Duration
	return func() {
		n++
		s.mu.Lock()
		s.sampleLocked(t0.Add(n*time.Millisecond), false, false)
		s.mu.Unlock()
	}
}

// BenchmarkSamplerTick: one iteration is one sampler tick over every flow,
// senders on real TCP sockets whose TCP_INFO each tick reads.
func BenchmarkSamplerTick(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			tick := tickingSampler(samplerFlows(b, tcpSenders, n))
			tick() // the first tick sets each flow's baselines
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				tick()
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n*b.N), "allocs/flow/tick")
		})
	}
}

// TestHotPathAllocs: the write and read loops allocate nothing per block,
// and a sampler tick allocates the same at 1,000 flows as at 10 (the
// Sample itself, not anything per flow).
func TestHotPathAllocs(t *testing.T) {
	// A loop allocating once per block would show blocks-1 more
	// allocations for many blocks than for one; 1 is left for the runtime.
	const blocks = 33
	for _, owned := range []bool{true, false} {
		t.Run("send/"+loopName(owned), func(t *testing.T) {
			snd, rcv := tcpPair(t)
			f := loopFlow(t, Send, snd, owned)
			got := drain(rcv)
			buf := make([]byte, benchBlock)
			var want uint64
			run := func(blocks int) float64 {
				return testing.AllocsPerRun(4, func() {
					f.done = make(chan struct{})
					f.run(buf, newByteLimit(int64(blocks)*benchBlock))
					if f.err != nil {
						t.Fatal(f.err)
					}
					want += uint64(blocks) * benchBlock
				})
			}
			one, many := run(1), run(blocks)
			f.started = true
			endFlow(t, f) // the peer reads to EOF
			if n := <-got; f.bytes.Load() != want || n != want {
				t.Fatalf("wrote %d bytes, the peer read %d, want %d", f.bytes.Load(), n, want)
			}
			if many > one+1 {
				t.Errorf("%v allocations writing %d blocks, %v writing one: the write loop allocates", many, blocks, one)
			}
		})
		for _, skip := range []bool{false, true} {
			name := "recv/" + loopName(owned)
			if skip {
				name += "/skip-rx-copy"
			}
			t.Run(name, func(t *testing.T) {
				snd, rcv := tcpPair(t)
				f := loopFlow(t, Recv, rcv, owned)
				f.skipCopy = skip
				recvAllocs(t, f, snd, blocks)
			})
		}
	}
	t.Run("sampler", func(t *testing.T) {
		for _, kind := range []string{tcpSenders, tcpOwnedSenders, tcpReceivers, udpSenders} {
			t.Run(kind, func(t *testing.T) {
				few, many := tickAllocs(t, kind, 10), tickAllocs(t, kind, 1000)
				t.Logf("a tick allocates %v times at 10 flows, %v at 1,000", few, many)
				if many > few+1 {
					t.Errorf("a tick allocates %v times at 1,000 flows, %v at 10: it allocates per flow", many, few)
				}
			})
		}
	})
}

// recvAllocs compares the receive loop's allocations reading one block
// and reading blocks. Each run the peer writes them; once all are counted
// it stops the flow, which returns when its read times out (owned) or hits
// the deadline (poller).
func recvAllocs(t *testing.T, f *flow, snd *net.TCPConn, blocks int) {
	type job struct {
		blocks int
		want   uint64
		done   chan struct{}
	}
	jobs := make(chan job)
	wrote := make(chan error, 1)
	go func() {
		block := make([]byte, benchBlock)
		var err error
		for j := range jobs {
			for range j.blocks {
				if _, err = snd.Write(block); err != nil {
					break
				}
			}
		wait: // until the flow has read it all (or failed)
			for f.bytes.Load() < j.want {
				select {
				case <-j.done:
					break wait
				default:
					runtime.Gosched()
				}
			}
			f.stopping.Store(true)
			if f.own == nil {
				_ = f.conn.SetReadDeadline(time.Now())
			}
		}
		wrote <- err
	}()
	buf := make([]byte, benchBlock)
	var want uint64
	run := func(blocks int) float64 {
		return testing.AllocsPerRun(4, func() {
			f.done = make(chan struct{})
			f.stopping.Store(false)
			if f.own == nil {
				_ = f.conn.SetReadDeadline(time.Time{})
			}
			want += uint64(blocks) * benchBlock
			jobs <- job{blocks, want, f.done}
			f.run(buf, nil)
			if f.err != nil {
				t.Fatal(f.err)
			}
		})
	}
	one, many := run(1), run(blocks)
	close(jobs)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	f.started = true
	endFlow(t, f)
	if f.bytes.Load() != want || f.eof {
		t.Fatalf("read %d bytes (EOF %v), want %d and no EOF", f.bytes.Load(), f.eof, want)
	}
	if many > one+1 {
		t.Errorf("%v allocations reading %d blocks, %v reading one: the read loop allocates", many, blocks, one)
	}
}

// tickAllocs is the allocations of one sampler tick over n flows of kind,
// past the first ticks (which set baselines and grow scratch space).
func tickAllocs(t *testing.T, kind string, n int) float64 {
	tick := tickingSampler(samplerFlows(t, kind, n))
	for range 4 {
		tick()
	}
	return testing.AllocsPerRun(8, tick)
}

// BenchmarkUDPRate runs one 1 s UDP test per iteration at 200 Mbit/s and
// reports how far the rate the receiver measured is from the target, in
// percent (rate-error-%), and the sender's worst lag behind its schedule in
// datagrams (behind): what TestUDPPacing does not judge.
func BenchmarkUDPRate(b *testing.B) {
	const rate = 200_000_000
	var errSum, behind float64
	for range b.N {
		ts := startServer(b, ServerConfig{})
		cfg := udpConfig(ts, 1, rate, time.Second)
		end, err := NewClient(cfg, nil).Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		s := end.Streams[0]
		got := float64(s.PeerBytes) * 8 / s.PeerSeconds
		errSum += 100 * math.Abs(got-rate) / rate
		behind = max(behind, float64(s.UDP.Behind))
		<-ts.ends
	}
	b.ReportMetric(errSum/float64(b.N), "rate-error-%")
	b.ReportMetric(behind, "behind")
}
