package engine

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// stockData moves a stock iperf3 end's --bidir data on its connections,
// given in its own order (the order it numbers them in): the ones sends
// reports true for write, at most limit(k) bytes each (0: until stopped),
// the others read. counts[k] is what moved on order[k].
type stockData struct {
	order  []net.Conn
	counts []atomic.Int64
	wg     sync.WaitGroup
}

func startStockData(order []net.Conn, sends func(k int) bool, limit func(k int) int64) *stockData {
	d := &stockData{order: order, counts: make([]atomic.Int64, len(order))}
	for k, c := range order {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			buf := make([]byte, 64<<10)
			for {
				var n int
				var err error
				if sends(k) {
					if l := limit(k); l > 0 && d.counts[k].Load() >= l {
						return
					}
					n, err = c.Write(buf)
				} else {
					n, err = c.Read(buf)
				}
				d.counts[k].Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	return d
}

// stop ends the data at TEST_END, as a stock end does: nothing more is
// counted.
func (d *stockData) stop() []int64 {
	for _, c := range d.order {
		_ = c.SetDeadline(time.Now())
	}
	d.wg.Wait()
	out := make([]int64, len(d.order))
	for k := range d.counts {
		out[k] = d.counts[k].Load()
	}
	return out
}

// results are a stock end's results: stream order[k] has id StreamID(k),
// or the id ids(k) gives.
func stockResults(counts []int64, ids func(k int) int) []byte {
	var r wire.Results
	for k, n := range counts {
		r.Streams = append(r.Streams, wire.StreamResults{ID: int64(ids(k)), Bytes: n})
	}
	b, _ := r.Marshal()
	return b
}

// fakeStockBidir is how a fake stock iperf3 server behaves in --bidir.
type fakeStockBidir struct {
	// reverse: it holds the data connections in the reverse of the
	// client's order (as behind the reordering proxy).
	reverse bool
	// delay before its senders start.
	delay time.Duration
	// limits of its senders, by their place among them (nil: none).
	limits []int64
	// crossIDs: it numbers its senders in the opposite order in its
	// results, as a stock server whose order the client got wrong.
	crossIDs bool
}

// fakeStockBidirServer runs one --bidir test as a stock iperf3 server
// would (first half of its order receives, second half sends), results
// exchange included, and returns its port.
func fakeStockBidirServer(t *testing.T, fk fakeStockBidir) int {
	t.Helper()
	port := fakeServerOpts(t, false, func(ctl net.Conn, data []net.Conn) {
		order := slices.Clone(data)
		if fk.reverse {
			slices.Reverse(order)
		}
		p := len(order) / 2
		time.Sleep(fk.delay) // the fake's own schedule, not synchronisation
		d := startStockData(order, func(k int) bool { return k >= p }, func(k int) int64 {
			if k-p < len(fk.limits) {
				return fk.limits[k-p]
			}
			return 0
		})
		br := wire.NewReader(ctl)
		st, err := wire.ReadState(br)
		counts := d.stop()
		if err != nil || st != wire.TestEnd {
			return
		}
		_ = wire.WriteState(ctl, wire.ExchangeResults)
		if _, err := wire.ReadMessage(br, wire.MaxResultsSize); err != nil {
			return
		}
		ids := func(k int) int {
			if fk.crossIDs && k >= p {
				return StreamID(3*p - 1 - k)
			}
			return StreamID(k)
		}
		_ = wire.WriteMessage(ctl, stockResults(counts, ids))
		_ = wire.WriteState(ctl, wire.DisplayResults)
		_, _ = wire.ReadState(br)
	})
	return port
}

func stockBidirConfig(port int) Config {
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.Parallel, cfg.Bidir = "127.0.0.1", port, 2, true
	cfg.Duration, cfg.Interval = time.Second, 250*time.Millisecond
	cfg.Rate = 200e6 // paced senders: also what takeRoles sets up
	return cfg
}

// TestBidirClientTakesRolesFromStockData: a stock server that holds the
// data connections in the reverse order sends on the ones the client
// dialled as senders; the client makes those its receivers, numbers the
// streams as the server does, and the test moves data both ways with
// every stream paired.
func TestBidirClientTakesRolesFromStockData(t *testing.T) {
	t.Parallel()
	port := fakeStockBidirServer(t, fakeStockBidir{reverse: true, limits: []int64{2 << 20, 3 << 20}})
	rec, end, err := runClient(t, stockBidirConfig(port))
	if err != nil {
		t.Fatal(err)
	}
	r := rec.start.Roles
	if r == nil || r.Guessed || r.Heard != 2 || r.Swapped != 4 || !r.Reversed {
		t.Fatalf("roles %+v: want 2 heard, all 4 swapped, the order reversed", r)
	}
	if findKind(end.Findings, diagnose.KindRolesSwapped) == nil {
		t.Errorf("no %s finding: %v", diagnose.KindRolesSwapped, end.Findings)
	}
	for _, k := range []string{diagnose.KindRoleMismatch, diagnose.KindMispaired, diagnose.KindRolesGuessed} {
		if f := findKind(end.Findings, k); f != nil {
			t.Errorf("finding %v", f)
		}
	}
	// The server's senders wrote 2 and 3 MiB, its first sender on the
	// client's last connection: in the server's numbering stream 4 got 2
	// MiB and stream 5 got 3 MiB, every byte, and the server's counts
	// are paired with the client's.
	want := map[int]uint64{4: 2 << 20, 5: 3 << 20}
	for _, s := range end.Streams {
		if s.Dir == Recv && s.Bytes != want[s.ID] {
			t.Errorf("stream %d received %d bytes, want %d", s.ID, s.Bytes, want[s.ID])
		}
		if s.Dir == Send && (s.Bytes == 0 || s.PeerBytes > s.Bytes) {
			t.Errorf("stream %d sent %d, the server received %d", s.ID, s.Bytes, s.PeerBytes)
		}
		if !s.HasPeer || (s.Dir == Recv && s.PeerBytes != s.Bytes) {
			t.Errorf("stream %d (%v): %d here, the server's count %d (has %v)", s.ID, s.Dir, s.Bytes, s.PeerBytes, s.HasPeer)
		}
	}
}

// TestBidirClientFailsWhenRolesCannotBeKnown: a stock server silent past
// the wait leaves the roles to the dial order, which is wrong here; once
// its data arrives on the client's senders the test ends with a roles
// error that names the fix, long before its time.
func TestBidirClientFailsWhenRolesCannotBeKnown(t *testing.T) {
	t.Parallel()
	port := fakeStockBidirServer(t, fakeStockBidir{reverse: true, delay: 500 * time.Millisecond})
	cfg := stockBidirConfig(port)
	cfg.Duration = 30 * time.Second
	c := NewClient(cfg, nil)
	c.hooks.roleWait = 100 * time.Millisecond
	begin := time.Now()
	end, err := c.Run(t.Context())
	if CauseOf(err) != CauseRoles || !strings.Contains(err.Error(), "run flowscope on the server (its streams declare their roles), or retry") {
		t.Fatalf("err %v (cause %v), want a roles error with the fix", err, CauseOf(err))
	}
	if strings.Contains(err.Error(), "\n") || end.Err == nil {
		t.Errorf("error %q: want one line, and on End (End.Err %v)", err, end.Err)
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("the test took %v: it must end when the roles are found wrong, not at -t", took)
	}
	// The server sends on the client's senders, streams 1 and 3: the test
	// ends when data is seen on the first of them, or both.
	f := findKind(end.Findings, diagnose.KindRoleMismatch)
	if f == nil || len(f.Streams) == 0 || slices.ContainsFunc(f.Streams, func(id int) bool { return id != 1 && id != 3 }) || strings.Contains(f.Fix, "one at a time") {
		t.Errorf("role mismatch finding %+v: want streams among 1 and 3, a fix true for a stock server", f)
	}
	if findKind(end.Findings, diagnose.KindRolesGuessed) == nil {
		t.Errorf("no %s finding: %v", diagnose.KindRolesGuessed, end.Findings)
	}
}

// TestBidirPairingCheck: a stock server that numbers its senders in
// another order than the client's estimate reports, for the streams it
// sent on, counts that do not match what arrived: the client says so.
func TestBidirPairingCheck(t *testing.T) {
	t.Parallel()
	port := fakeStockBidirServer(t, fakeStockBidir{limits: []int64{1 << 20, 4 << 20}, crossIDs: true})
	_, end, err := runClient(t, stockBidirConfig(port))
	if err != nil {
		t.Fatal(err)
	}
	// Stream 5 received 4 MiB; the server says its stream 5 sent 1 MiB.
	f := findKind(end.Findings, diagnose.KindMispaired)
	if f == nil || !slices.Equal(f.Streams, []int{5}) {
		t.Errorf("mispaired finding %+v (all %v)", f, end.Findings)
	}
}

// fakeStockBidirClient runs a stock iperf3 client's --bidir test of P
// streams each way against addr, as if the server's accept order were the
// reverse of its connect order: it sends on the connections it opened
// last (wait after TEST_RUNNING), and numbers them in that reversed
// order. It returns the server's counts by id, or the server's error.
func fakeStockBidirClient(t *testing.T, addr string, p int, wait time.Duration) (map[int]int64, error) {
	t.Helper()
	ctl, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	cookie := wire.NewCookie()
	_, _ = ctl.Write(wire.EncodeCookie(cookie))
	br := wire.NewReader(ctl)
	_ = ctl.SetDeadline(time.Now().Add(30 * time.Second))
	expect := func(want wire.State) error {
		st, err := wire.ReadState(br)
		if err == nil && st == wire.ServerError {
			return wire.ReadServerError(br)
		}
		if err != nil || st != want {
			return errors.Join(err, errors.New("got "+st.String()+", want "+want.String()))
		}
		return nil
	}
	if err := expect(wire.ParamExchange); err != nil {
		t.Fatal(err)
	}
	wp := &wire.Params{TCP: true, Time: 1, Parallel: int64(p), Len: 128 << 10, Bidirectional: true}
	_ = wire.WriteMessage(ctl, wp.Marshal())
	if err := expect(wire.CreateStreams); err != nil {
		t.Fatal(err)
	}
	var data []net.Conn
	for range 2 * p {
		d, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, _ = d.Write(wire.EncodeCookie(cookie))
		data = append(data, d)
	}
	for _, st := range []wire.State{wire.TestStart, wire.TestRunning} {
		if err := expect(st); err != nil {
			t.Fatal(err)
		}
	}
	order := slices.Clone(data)
	slices.Reverse(order)
	sends := func(k int) bool { return k < p } // senders first, as iperf3's client
	time.Sleep(wait)                           // the fake's own schedule, not synchronisation
	d := startStockData(order, sends, func(int) int64 { return 1 << 20 })
	time.Sleep(time.Second) // its -t
	counts := d.stop()
	_ = wire.WriteState(ctl, wire.TestEnd)
	if err := expect(wire.ExchangeResults); err != nil {
		return nil, err
	}
	_ = wire.WriteMessage(ctl, stockResults(counts, StreamID))
	msg, err := wire.ReadMessage(br, wire.MaxResultsSize)
	if err != nil {
		t.Fatal(err)
	}
	res, err := wire.UnmarshalResults(msg)
	if err != nil {
		t.Fatal(err)
	}
	_ = expect(wire.DisplayResults)
	_ = wire.WriteState(ctl, wire.IperfDone)
	byID := map[int]int64{}
	for _, s := range res.Streams {
		byID[int(s.ID)] = s.Bytes
	}
	for k, n := range counts {
		if sends(k) && byID[StreamID(k)] != n {
			t.Errorf("stream %d: this client sent %d, the server reports %d received", StreamID(k), n, byID[StreamID(k)])
		}
	}
	_, _ = io.Copy(io.Discard, br)
	return byID, nil
}

// TestBidirServerTakesRolesFromStockData: a stock client whose roles are
// the reverse of the server's accept order; the server takes the roles
// from its data and its ids, and the client's per-stream counts pair up.
func TestBidirServerTakesRolesFromStockData(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	if _, err := fakeStockBidirClient(t, ts.addr.String(), 2, 0); err != nil {
		t.Fatal(err)
	}
	end := <-ts.ends
	if end.Err != nil {
		t.Fatal(end.Err)
	}
	var start *Start
	ts.mu.Lock()
	for _, ev := range ts.events {
		if s, ok := ev.(*Start); ok {
			start = s
		}
	}
	ts.mu.Unlock()
	if r := start.Roles; r == nil || r.Guessed || r.Heard != 2 || r.Swapped != 4 || !r.Reversed {
		t.Fatalf("roles %+v: want 2 heard, all 4 swapped, the order reversed", r)
	}
	for _, s := range end.Streams {
		if s.Dir == Recv && (s.Bytes != 1<<20 || s.PeerBytes != s.Bytes) {
			t.Errorf("stream %d received %d, the client sent %d, want 1 MiB each", s.ID, s.Bytes, s.PeerBytes)
		}
	}
	if f := findKind(end.Findings, diagnose.KindMispaired); f != nil {
		t.Errorf("finding %v", f)
	}
}

// TestBidirServerFailsWhenRolesCannotBeKnown: a stock client silent past
// the server's wait, then sending where the accept order says the server
// sends: the server ends the test with a roles error and tells the
// client (SERVER_ERROR).
func TestBidirServerFailsWhenRolesCannotBeKnown(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	// Silent past the wait, the server takes its accept order, in which
	// the connection this client sends on is the server's sender.
	_, err := fakeStockBidirClient(t, ts.addr.String(), 1, roleWaitFloor+500*time.Millisecond)
	if err == nil {
		t.Error("the stock client got no error from the server")
	}
	end := <-ts.ends
	if CauseOf(end.Err) != CauseRoles || !strings.Contains(end.Err.Error(), "run flowscope as the client (its streams declare their roles), or retry") {
		t.Fatalf("server error %v, want a roles error with the fix", end.Err)
	}
	if f := findKind(end.Findings, diagnose.KindRoleMismatch); f == nil {
		t.Errorf("no role mismatch finding: %v", end.Findings)
	}
}
