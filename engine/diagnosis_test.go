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
	t.Parallel()
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
			if f.Origin == OriginServer {
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
// receiver's window, and the finding says so. The rule needs 100 ms of the
// kernel's busy time, half of it rwnd-limited; on a starved machine (CI
// runs other tests beside this one) a short run may not get that much, so
// a test without the finding is tried again, at most three times.
func TestReceiverLimited(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	var f *diagnose.Finding
	for attempt := 1; attempt <= 3 && f == nil; attempt++ {
		cfg := clientConfig(ts, 1, 2*time.Second)
		cfg.Window = 4096
		cfg.BlockSize = 4096
		_, end, err := runClient(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		<-ts.ends
		if f = findKind(end.Findings, diagnose.KindRwndLimited); f == nil {
			t.Logf("attempt %d: no rwnd-limited finding (all: %+v)", attempt, end.Findings)
		}
	}
	if f == nil || !strings.Contains(f.Fix, "4096") {
		t.Errorf("rwnd-limited finding: %+v", f)
	}
}

func TestTelemetryStockClientNeverSeesIt(t *testing.T) {
	t.Parallel()
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
