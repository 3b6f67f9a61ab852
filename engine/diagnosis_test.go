package engine

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

func findKind(fs []Finding, kind string) *Finding {
	for i := range fs {
		if fs[i].Kind == kind {
			return &fs[i]
		}
	}
	return nil
}

// TestTelemetryFindings: the server's own diagnosis reaches a flowscope
// client over the telemetry extension.
func TestTelemetryFindings(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 2, 500*time.Millisecond)
	cfg.Window = 64 << 20 // above net.core.rmem_max (4 MiB here)
	rec, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var server, local bool
	for _, f := range end.Findings {
		if f.Kind == diagnose.KindWindowClamped {
			if strings.HasPrefix(f.What, "server: ") {
				server = true
			} else {
				local = true
			}
		}
	}
	if !server || !local {
		t.Errorf("want window-clamped from both sides, got %+v", end.Findings)
	}
	if rec.start == nil || findKind(rec.start.Findings, diagnose.KindWindowClamped) == nil {
		t.Errorf("Start must carry the findings made before data flowed: %+v", rec.start)
	}
	<-ts.ends
}

// TestStallZeroWindow: a receiver that stops reading stalls every stream;
// the client names the cause (peer window 0) and ends the test after the
// stall timeout instead of running out the clock.
func TestStallZeroWindow(t *testing.T) {
	hold := make(chan struct{})
	port := fakeServerOpts(t, false, func(ctl net.Conn, data []net.Conn) { <-hold })
	defer close(hold)
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.Parallel = "127.0.0.1", port, 2
	cfg.Duration, cfg.Interval = 30*time.Second, 250*time.Millisecond
	cfg.StallWindow, cfg.StallTimeout = 500*time.Millisecond, 2*time.Second
	begin := time.Now()
	rec, end, err := runClient(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "no stream moved") {
		t.Fatalf("err = %v, want the stall timeout", err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("took %v to give up", took)
	}
	if f := findKind(end.Findings, diagnose.KindAllStalled); f == nil || !strings.Contains(f.Evidence, "peer window 0") {
		t.Errorf("all-stalled finding: %+v", f)
	}
	if f := findKind(end.Findings, diagnose.KindStalled); f == nil || !strings.Contains(f.Evidence, "peer window 0") {
		t.Errorf("stalled finding: %+v", f)
	}
	stalledSeen := false
	for _, s := range rec.samples {
		for _, st := range s.Streams {
			if st.State == StateStalled {
				stalledSeen = true
				if !strings.HasPrefix(st.Reason, "peer window 0") {
					t.Errorf("stalled stream %d reason %q", st.ID, st.Reason)
				}
			}
		}
	}
	if !stalledSeen {
		t.Error("no sample marked a stream stalled")
	}
}

// TestReceiverLimited: tiny socket buffers make the senders wait for the
// receiver's window, and the finding says so.
func TestReceiverLimited(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 1, 1500*time.Millisecond)
	cfg.Window = 4096
	cfg.BlockSize = 4096
	_, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if f := findKind(end.Findings, diagnose.KindRwndLimited); f == nil || !strings.Contains(f.Fix, "4096") {
		t.Errorf("rwnd-limited finding: %+v (all: %+v)", f, end.Findings)
	}
	<-ts.ends
}

// TestBidirRoleMismatchAgainstStock: a stock-protocol server that swaps
// bidir roles (as iperf3 does when accept order goes wrong) sends on the
// client's sending streams; the client says what happened.
func TestBidirRoleMismatchAgainstStock(t *testing.T) {
	hold := make(chan struct{})
	port := fakeServerOpts(t, false, func(ctl net.Conn, data []net.Conn) {
		// Send on the first half: the streams the client believes it sends on.
		buf := make([]byte, 64<<10)
		for _, c := range data[:len(data)/2] {
			go func() {
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
		<-hold
	})
	defer close(hold)
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.Parallel, cfg.Bidir = "127.0.0.1", port, 2, true
	cfg.Duration, cfg.Interval = 30*time.Second, 250*time.Millisecond
	cfg.StallWindow, cfg.StallTimeout = 500*time.Millisecond, 2*time.Second
	_, end, _ := runClient(t, cfg)
	if f := findKind(end.Findings, diagnose.KindRoleMismatch); f == nil || !strings.Contains(f.Evidence, "1,3") {
		t.Errorf("role mismatch finding: %+v (all %+v)", f, end.Findings)
	}
}

func TestTelemetryStockClientNeverSeesIt(t *testing.T) {
	// A stock client (no flowscope key) must get only iperf3 states.
	ts := startServer(t, ServerConfig{})
	conn, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cookie := wire.NewCookie()
	conn.Write(wire.EncodeCookie(cookie))
	br := wire.NewReader(conn)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if st, _ := wire.ReadState(br); st != wire.ParamExchange {
		t.Fatalf("%v", st)
	}
	p := &wire.Params{TCP: true, Time: 1, Parallel: 1, Len: 128 << 10, Window: 64 << 20}
	wire.WriteMessage(conn, p.Marshal())
	st, _ := wire.ReadState(br)
	if st != wire.CreateStreams {
		t.Fatalf("stock client got %v before CREATE_STREAMS", st)
	}
	d, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Write(wire.EncodeCookie(cookie))
	for _, want := range []wire.State{wire.TestStart, wire.TestRunning} {
		if st, _ := wire.ReadState(br); st != want {
			t.Fatalf("got %v, want %v", st, want)
		}
	}
	wire.WriteState(conn, wire.TestEnd)
	if st, _ := wire.ReadState(br); st != wire.ExchangeResults {
		t.Fatalf("got %v, want EXCHANGE_RESULTS", st)
	}
	res, _ := (&wire.Results{Streams: []wire.StreamResults{{ID: 1}}}).Marshal()
	wire.WriteMessage(conn, res)
	if _, err := wire.ReadMessage(br, wire.MaxResultsSize); err != nil {
		t.Fatal(err)
	}
	if st, _ := wire.ReadState(br); st != wire.DisplayResults {
		t.Fatalf("got %v, want DISPLAY_RESULTS", st)
	}
	wire.WriteState(conn, wire.IperfDone)
	<-ts.ends
}
