//go:build linux

package nstest

// The adversarial soak (issue 14, item 4): one flowscope server, for a
// bounded time, against a mix of hostile clients (garbage, half-open
// connections, a cookie dribbled byte by byte, absurd parameters, UDP
// stream requests from nowhere), clients killed mid-test and a link that
// fails under a test, with honest clients in between. The server must
// serve every honest client and end the soak with the descriptors,
// goroutines and heap it had before.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

const (
	soakPort        = port + 40
	soakMetricsPort = 9301
	// soakServerStall is the server's --rcv-timeout: how long it waits on
	// a test whose client went silent.
	soakServerStall = 3 * time.Second
	// soakCookieBound is how long the server may let a connection sit
	// before it has presented its cookie (its setup timeout, 10 s), with
	// slack for a loaded machine.
	soakCookieBound = 25 * time.Second
)

// TestAdversarialSoak: see the file comment.
func TestAdversarialSoak(t *testing.T) {
	tp := Pair(t)
	addr := net.JoinHostPort(tp.ServerAddr, strconv.Itoa(soakPort))
	srv := startFlowscope(t, "server", tp.Server, procOpts{timeout: 5 * time.Minute},
		"-s", "-p", fmt.Sprint(soakPort), "--rcv-timeout", fmt.Sprint(soakServerStall.Milliseconds()),
		"--metrics", fmt.Sprintf("127.0.0.1:%d", soakMetricsPort))
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := tp.Server.WaitListening(wctx, soakPort, srv.alive); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.describe())
	}
	hc := tp.Server.HTTPClient(10 * time.Second)
	read := func() serverUsage {
		t.Helper()
		u, err := readUsage(srv, hc)
		if err != nil {
			t.Fatalf("server usage: %v\n%s", err, srv.describe())
		}
		return u
	}
	honest := func(name string, args ...string) {
		t.Helper()
		soakHonestClient(t, srv, tp.Client, name, append([]string{"-c", tp.ServerAddr, "-p", fmt.Sprint(soakPort)}, args...)...)
	}

	// A second address in the client's namespace, for UDP stream requests
	// from a host that has no test (as a spoofer would send them).
	stranger := tp.ClientAddr[:strings.LastIndexByte(tp.ClientAddr, '.')+1] + "77"
	if _, err := tp.Client.Run(wctx, "ip", "addr", "add", stranger+"/24", "dev", "vc"); err != nil {
		t.Fatal(err)
	}

	// Warm up (lazily started runtime goroutines, pools), then the baseline.
	honest("warm-up TCP", "-t", "1", "-P", "4")
	honest("warm-up UDP", "-t", "1", "-u", "-b", "10M", "-P", "2")
	base := steady(read)
	t.Logf("server before the soak: %s", base)

	rounds := []struct {
		name   string
		honest []string
		extra  func()
	}{
		{"TCP", []string{"-t", "1", "-P", "4"}, nil},
		{"TCP reverse, a client killed mid-test", []string{"-t", "1", "-P", "2", "-R"}, func() { soakKilledClient(t, tp, srv) }},
		{"UDP", []string{"-t", "1", "-u", "-b", "20M", "-P", "2"}, nil},
		{"UDP reverse, a link failing under a test", []string{"-t", "1", "-u", "-b", "20M", "-R"}, func() { soakLinkFault(t, tp, srv) }},
		{"bidir", []string{"-t", "1", "--bidir"}, nil},
	}
	began := time.Now()
	for i, r := range rounds {
		t.Logf("round %d (%s) after %v", i+1, r.name, time.Since(began).Round(time.Millisecond))
		h := startHostiles(t, tp, addr, stranger, slices.Contains(r.honest, "-u"))
		if r.extra != nil {
			r.extra()
		}
		honest(fmt.Sprintf("round %d honest client", i+1), r.honest...)
		h.stop(t)
		t.Logf("round %d done after %v", i+1, time.Since(began).Round(time.Millisecond))
		if !srv.alive() {
			t.Fatalf("server exited in round %d:\n%s", i+1, srv.describe())
		}
	}
	honest("after the soak", "-t", "1", "-P", "4")
	t.Logf("soak rounds took %v", time.Since(began).Round(time.Millisecond))

	after, ok := settled(read, base, 30*time.Second)
	t.Logf("server after the soak: %s", after)
	if !ok {
		t.Errorf("server after the soak: %s; before: %s (allowed: +%d fds, +%d goroutines, +%d MiB heap)",
			after, base, soakSlackFDs, soakSlackGoroutines, soakSlackHeapMiB)
	}
	if !srv.alive() {
		t.Fatalf("server exited:\n%s", srv.describe())
	}
	// It stops cleanly when asked, and never crashed or raced.
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(10 * time.Second):
		srv.kill()
		t.Errorf("server ignored SIGTERM for 10 s")
	}
	checkNoCrash(t, srv)
}

// serverUsage is what the soak watches in the server process.
type serverUsage struct {
	fds, goroutines int
	heapMiB         float64
}

func (u serverUsage) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %.1f MiB heap", u.fds, u.goroutines, u.heapMiB)
}

// What the server may hold after the soak beyond what it held before:
// closed sockets and ended goroutines go within moments, a few goroutines
// of the metrics endpoint and the runtime come and go, and the heap
// (allocated, not only live) wanders with the collector's pacing; a
// leaked test's buffers (128 KiB to 512 KiB a stream) would exceed it
// within a few tests.
const (
	soakSlackFDs        = 3
	soakSlackGoroutines = 10
	soakSlackHeapMiB    = 48
)

// steady reads usage until two readings agree on fds and goroutines
// (at most 5 s) and returns the last.
func steady(read func() serverUsage) serverUsage {
	prev := read()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		u := read()
		if u.fds == prev.fds && u.goroutines == prev.goroutines {
			return u
		}
		prev = u
	}
	return prev
}

// settled waits up to timeout for usage within the slack of base.
func settled(read func() serverUsage, base serverUsage, timeout time.Duration) (serverUsage, bool) {
	deadline := time.Now().Add(timeout)
	for {
		u := read()
		if u.fds <= base.fds+soakSlackFDs && u.goroutines <= base.goroutines+soakSlackGoroutines && u.heapMiB <= base.heapMiB+soakSlackHeapMiB {
			return u, true
		}
		if time.Now().After(deadline) {
			return u, false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readUsage reads the server's descriptors from /proc and its goroutines
// and heap from its /metrics.
func readUsage(srv *proc, hc *http.Client) (serverUsage, error) {
	var u serverUsage
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.cmd.Process.Pid))
	if err != nil {
		return u, err
	}
	u.fds = len(ents)
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", soakMetricsPort))
	if err != nil {
		return u, err
	}
	defer resp.Body.Close()
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "go_goroutines":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return u, fmt.Errorf("go_goroutines %q: %w", val, err)
			}
			u.goroutines = int(f)
			found++
		case "go_memstats_heap_alloc_bytes":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return u, fmt.Errorf("go_memstats_heap_alloc_bytes %q: %w", val, err)
			}
			u.heapMiB = f / (1 << 20)
			found++
		}
	}
	if err := sc.Err(); err != nil {
		return u, err
	}
	if found != 2 {
		return u, fmt.Errorf("/metrics lacks go_goroutines or go_memstats_heap_alloc_bytes")
	}
	return u, nil
}

// soakHonestClient runs one flowscope client to completion. A hostile
// connection may hold the server's one test slot for a while (until its
// setup timeout), so "busy" is answered by trying again, within a bound.
func soakHonestClient(t *testing.T, srv *proc, ns Namespace, name string, args ...string) {
	t.Helper()
	deadline := time.Now().Add(soakCookieBound + 20*time.Second)
	for attempt := 1; ; attempt++ {
		c := startFlowscope(t, name, ns, procOpts{timeout: 60 * time.Second}, append(args, "-J")...)
		code := c.wait()
		checkNoCrash(t, c)
		if code == 0 {
			res, _ := parseResult(t, c)
			if res.Error != "" || res.End.SumReceived == nil || res.End.SumReceived.Bytes == 0 {
				t.Fatalf("%s: error %q, end.sum_received %+v", name, res.Error, res.End.SumReceived)
			}
			t.Logf("%s: %d bytes received (attempt %d)", name, res.End.SumReceived.Bytes, attempt)
			return
		}
		out := c.stdout.String() + c.stderr.String()
		if !strings.Contains(out, "busy") || time.Now().After(deadline) {
			t.Fatalf("%s: exit %d (attempt %d)\n%s\n--- server stderr:\n%s", name, code, attempt, c.describe(), tail(srv.stderr.String(), 3000))
		}
		time.Sleep(500 * time.Millisecond) // busy: a hostile connection holds the slot; no signal to wait for
	}
}

// hostiles is one round's hostile clients, running until stop.
type hostiles struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []string
}

func (h *hostiles) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
}

// startHostiles starts the round's hostile clients against addr, from
// the client namespace.
func startHostiles(t *testing.T, tp *Topology, addr, stranger string, udpRound bool) *hostiles {
	t.Helper()
	// The TCP hostiles run until the server is done with them (each is
	// bounded by soakCookieBound); the UDP spray until the round ends.
	ctx, cancelAll := context.WithCancel(context.Background())
	t.Cleanup(cancelAll)
	sprayCtx, cancel := context.WithCancel(ctx)
	h := &hostiles{cancel: cancel}
	spawn := func(n int, fn func(ctx context.Context, i int)) {
		for i := range n {
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				fn(ctx, i)
			}()
		}
	}
	dial := func(ctx context.Context) net.Conn {
		c, err := tp.Client.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() == nil {
				h.fail("dial %s: %v", addr, err)
			}
			return nil
		}
		return c
	}
	// Garbage: random bytes, then whatever the server answers, to its close.
	spawn(8, func(ctx context.Context, _ int) {
		c := dial(ctx)
		if c == nil {
			return
		}
		defer c.Close()
		junk := make([]byte, 512)
		_, _ = rand.Read(junk)
		_, _ = c.Write(junk)
		expectClosed(ctx, h, c, "garbage client")
	})
	// Half-open: connected, silent. The server must drop it at its setup
	// timeout, not hold it for ever.
	spawn(8, func(ctx context.Context, _ int) {
		c := dial(ctx)
		if c == nil {
			return
		}
		defer c.Close()
		expectClosed(ctx, h, c, "silent connection")
	})
	// Slowloris: a cookie one byte at a time, never finished in time.
	spawn(4, func(ctx context.Context, _ int) {
		c := dial(ctx)
		if c == nil {
			return
		}
		defer c.Close()
		cookie := wire.EncodeCookie(wire.NewCookie())
		began := time.Now()
		for _, b := range cookie[:len(cookie)-1] {
			if _, err := c.Write([]byte{b}); err != nil {
				return // the server gave up on it
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			if time.Since(began) > soakCookieBound {
				h.fail("a cookie dribbled a byte a second was still accepted after %v", soakCookieBound)
				return
			}
		}
	})
	// A cookie, then a parameters length of 2 GiB, then nothing.
	spawn(2, func(ctx context.Context, _ int) {
		c := dial(ctx)
		if c == nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(wire.EncodeCookie(wire.NewCookie()))
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], 1<<31)
		_, _ = c.Write(n[:])
		expectClosed(ctx, h, c, "client announcing 2 GiB of parameters")
	})
	// UDP: junk at the server's port, and in rounds without a UDP test
	// stream requests too, none of them belonging to a test. (A request
	// from the control connection's own address during a stock client's
	// UDP set-up cannot be told from the client's: iperf3's requests carry
	// nothing of the test.)
	spawn(1, func(_ context.Context, _ int) {
		ctx := sprayCtx
		c, err := tp.Client.DialContext(ctx, "udp", addr)
		if err != nil {
			if ctx.Err() == nil {
				h.fail("udp dial: %v", err)
			}
			return
		}
		defer c.Close()
		junk := make([]byte, 64)
		for i := 0; ; i++ {
			msg := []byte("9876")
			if i%2 == 1 || udpRound {
				_, _ = rand.Read(junk)
				msg = junk
			}
			_, _ = c.Write(msg)
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	// UDP stream requests (stock and flowscope forms) from the stranger's
	// address, all the round: never adopted, never answered.
	spawn(1, func(_ context.Context, _ int) {
		ctx := sprayCtx
		c, err := tp.Client.DialFrom(ctx, "udp", net.JoinHostPort(stranger, "0"), addr)
		if err != nil {
			if ctx.Err() == nil {
				h.fail("udp dial from %s: %v", stranger, err)
			}
			return
		}
		defer c.Close()
		got := make(chan int, 1)
		go func() {
			n, buf := 0, make([]byte, 65536)
			for {
				k, err := c.Read(buf)
				n += k
				if errors.Is(err, net.ErrClosed) {
					got <- n
					return
				}
			}
		}()
		reqs := [][]byte{[]byte("9876"), append([]byte("9876"), wire.StreamHeader{Role: wire.ServerSends, Index: 0}.Encode()...)}
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = c.Write(reqs[i%2])
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
		c.Close()
		if n := <-got; n > 0 {
			h.fail("the stranger at %s received %d bytes: the server adopted its UDP stream request", stranger, n)
		}
	})
	return h
}

// expectClosed reads c until the server closes it, failing h if that
// takes longer than soakCookieBound (or the round ends first: then the
// connection was simply still waiting).
func expectClosed(ctx context.Context, h *hostiles, c net.Conn, what string) {
	_ = c.SetReadDeadline(time.Now().Add(soakCookieBound))
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		h.fail("%s: the server kept it open for %v", what, soakCookieBound)
	}
}

// stop ends the round's UDP spray, waits until the server has dealt with
// every hostile connection, and reports what they saw.
func (h *hostiles) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	h.wg.Wait()
	for _, e := range h.errs {
		t.Error(e)
	}
}

// soakKilledClient starts a real client on a long test and kills it
// (SIGKILL) once data flows; the server must end that test by itself.
func soakKilledClient(t *testing.T, tp *Topology, srv *proc) {
	t.Helper()
	flowing, onLine := dataFor(0.5)
	c := startFlowscope(t, "killed client", tp.Client, procOpts{timeout: 60 * time.Second, onStdoutLine: onLine},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(soakPort), "-t", "30", "-P", "4", "-i", "0.5", "--json-stream")
	soakWaitFlowing(t, c, flowing, srv)
	c.kill()
	<-c.done
	t.Logf("killed client: %v", c.waitErr)
}

// soakLinkFault cuts the client's link under a running test and brings it
// back; the client gives up (--stall-timeout) and so does the server.
func soakLinkFault(t *testing.T, tp *Topology, srv *proc) {
	t.Helper()
	flowing, onLine := dataFor(0.5)
	c := startFlowscope(t, "client on a failing link", tp.Client, procOpts{timeout: 60 * time.Second, onStdoutLine: onLine},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(soakPort), "-t", "30", "-P", "2", "-i", "0.5", "--stall-timeout", "2", "--json-stream")
	soakWaitFlowing(t, c, flowing, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := tp.Client.Run(ctx, "ip", "link", "set", "vc", "down"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.kill()
		<-c.done
		t.Errorf("client still running 20 s after its link went down (killed)")
	}
	if code := c.wait(); code == 0 {
		t.Errorf("client on a failed link exited 0")
	}
	linkUp(t, tp.Client, "vc", tp.ServerAddr)
}

func soakWaitFlowing(t *testing.T, c *proc, flowing <-chan struct{}, srv *proc) {
	t.Helper()
	select {
	case <-flowing:
	case <-c.done:
		t.Fatalf("%s ended before data flowed:\n%s\n--- server stderr:\n%s", c.name, c.describe(), tail(srv.stderr.String(), 3000))
	case <-time.After(40 * time.Second):
		c.kill()
		t.Fatalf("%s: no data within 40 s:\n%s", c.name, c.describe())
	}
}
