//go:build linux

package nstest

// The fault suite of the diagnosis issue: each test makes one fault for
// real between two namespaces, then checks what the client reports in its
// --json-stream "flowscope" event: the finding that names the fault, no
// finding that contradicts it, and — where the fault is undone during the
// test — that the finding ended when the fault did.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultRun is one client run with a fault made during it.
type faultRun struct {
	tp  *Topology
	srv *proc
	cli *proc
	// cut and healed are when the fault was made and undone, in seconds
	// of the test's clock (approximately: from the interval events).
	cut, healed float64
}

// runWithFault starts a server in tp.Server and a client in tp.Client with
// args (plus --json-stream), waits for 2 s of data, calls fault, waits
// hold, calls heal (if not nil), and waits for the client to end.
func runWithFault(t *testing.T, tp *Topology, srvArgs, cliArgs []string, fault, heal func(r *faultRun), hold time.Duration) *faultRun {
	t.Helper()
	r := &faultRun{tp: tp}
	r.srv = startServer(t, tp.Server, port, 120*time.Second, srvArgs...)
	twoSeconds, onLine := dataFor(2)
	args := append([]string{"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "--json-stream", "-i", "0.5"}, cliArgs...)
	r.cli = startFlowscope(t, "client", tp.Client, procOpts{timeout: 90 * time.Second, onStdoutLine: onLine}, args...)
	select {
	case <-twoSeconds:
	case <-r.cli.done:
		t.Fatalf("client ended before 2 s of data:\n%s", r.cli.describe())
	case <-time.After(45 * time.Second):
		t.Fatalf("no interval with 2 s of data within 45 s:\n%s", lastLines(r.cli.stdout.String(), 5))
	}
	// The event for 2 s of data arrives when the test's clock reads about
	// 2 s; the fault starts then.
	cutAt := time.Now()
	r.cut = 2
	fault(r)
	if heal != nil {
		time.Sleep(hold) // the fault's length, not a synchronisation
		heal(r)
		r.healed = r.cut + time.Since(cutAt).Seconds()
	}
	select {
	case <-r.cli.done:
	case <-time.After(60 * time.Second):
		r.cli.kill()
		<-r.cli.done
		t.Fatalf("client still running 60 s after the fault (killed):\n%s", r.cli.describe())
	}
	checkNoCrash(t, r.cli)
	return r
}

// extras returns the client's final flowscope object.
func (r *faultRun) extras(t *testing.T) *Extras {
	t.Helper()
	raw, err := lastEvent(events(r.cli.stdout.String()), "flowscope")
	if err != nil {
		t.Fatalf("no flowscope event in --json-stream output: %v\n%s", err, r.cli.describe())
	}
	x := parseExtras(t, "client", raw)
	t.Logf("client %s", x.summary())
	return x
}

// signal sends sig to p.
func signal(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// findings returns the findings that satisfy keep.
func (x *Extras) findingsWhere(keep func(Finding) bool) []Finding {
	var out []Finding
	for _, f := range x.Findings {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func (f Finding) text() string { return strings.ToLower(f.What + " | " + f.Evidence) }

// checkSpans fails t unless every finding carries the timeline keys.
func checkSpans(t *testing.T, x *Extras) {
	t.Helper()
	for _, f := range x.Findings {
		if f.Start == nil {
			t.Errorf("finding without a start: %s", f)
		}
		if f.Origin != "client" && f.Origin != "server" {
			t.Errorf("finding origin %q, want client or server: %s", f.Origin, f)
		}
	}
}

// checkEnded fails t unless f ended after the fault was made and no later
// than slack after it was undone.
func checkEnded(t *testing.T, f Finding, r *faultRun, slack float64) {
	t.Helper()
	switch {
	case f.Start == nil || f.End == nil:
		t.Errorf("finding did not end when the fault did (healed at ≈%.1f s): %s", r.healed, f)
	case *f.End < r.cut || *f.End > r.healed+slack:
		t.Errorf("finding ended at %.1f s; the fault lasted ≈%.1f–%.1f s: %s", *f.End, r.cut, r.healed, f)
	}
}

// TestFaultReceiverStopped stops the receiving process (SIGSTOP) for 3 s
// and resumes it. The sender's kernel sees the peer's window close: the
// stall is named "peer window 0" (or, on the receiving side, "not
// reading"), never a bottleneck or a black hole on the path, and it ends
// when the receiver runs again.
func TestFaultReceiverStopped(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
		// stopClient: the receiver is the client (-R)
		stopClient bool
		dir        string
	}{
		{"forward", nil, false, "client-to-server"},
		{"reverse", []string{"-R"}, true, "server-to-client"},
		{"bidir", []string{"--bidir"}, false, "client-to-server"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			tp := Pair(t)
			victim := func(r *faultRun) *proc {
				if mode.stopClient {
					return r.cli
				}
				return r.srv
			}
			args := append([]string{"-P", "2", "-t", "12", "-b", "50M", "--stall-timeout", "30"}, mode.args...)
			r := runWithFault(t, tp, nil, args,
				func(r *faultRun) { signal(t, victim(r), syscall.SIGSTOP) },
				func(r *faultRun) { signal(t, victim(r), syscall.SIGCONT) },
				3*time.Second)
			if code := r.cli.wait(); code != 0 {
				t.Errorf("client exit %d after the receiver resumed; want 0\n%s", code, r.cli.describe())
			}
			x := r.extras(t)
			checkSpans(t, x)
			window := x.findingsWhere(func(f Finding) bool {
				return f.Kind == "stalled" && f.Direction == mode.dir && strings.Contains(f.text(), "peer window 0")
			})
			if len(window) == 0 {
				t.Fatalf("no %s \"stalled\" finding with \"peer window 0\"\n%s", mode.dir, x.summary())
			}
			checkEnded(t, window[0], r, 4)
			for _, f := range x.Findings {
				if f.Direction != mode.dir {
					continue
				}
				if s := f.text(); strings.Contains(s, "bottleneck") || strings.Contains(s, "black hole") || strings.Contains(s, "path is down") {
					t.Errorf("a stopped receiver blamed on the path: %s", f)
				}
			}
		})
	}
}

// TestFaultOneWayDataBlackhole drops the client→server data (packets of
// 1,024 bytes or more pass at 8 kbit/s) while ACKs and the server→client
// direction pass, in --bidir. The ↑ streams stall with retransmission
// timeouts — not "a shared bottleneck" because the ↓ streams still move —
// no ↓ stream is called stalled, and the ↑ finding ends when the path
// comes back.
func TestFaultOneWayDataBlackhole(t *testing.T) {
	t.Parallel()
	tp := Routed(t, nil)
	ctx := context.Background()
	r := runWithFault(t, tp, nil, []string{"--bidir", "-P", "4", "-t", "14", "-b", "20M", "--stall-timeout", "30"},
		func(r *faultRun) {
			if err := tp.LimitLargePackets(ctx, "8kbit"); err != nil {
				t.Fatal(err)
			}
		},
		func(r *faultRun) {
			if err := tp.RemoveShaper(ctx); err != nil {
				t.Fatal(err)
			}
		}, 5*time.Second)
	x := r.extras(t)
	checkSpans(t, x)
	up := x.findingsWhere(func(f Finding) bool { return f.Kind == "stalled" && f.Direction == "client-to-server" })
	if len(up) == 0 {
		t.Fatalf("no client-to-server \"stalled\" finding\n%s", x.summary())
	}
	rto := false
	for _, f := range up {
		if strings.Contains(f.text(), "bottleneck") {
			t.Errorf("a one-way black hole called a shared bottleneck (the other direction's streams do not share its path): %s", f)
		}
		rto = rto || mentionsRTO(f.text())
	}
	if !rto {
		t.Errorf("no client-to-server stall names retransmission timeouts\n%s", x.summary())
	}
	checkEnded(t, up[len(up)-1], r, 6)
	for _, f := range x.findingsWhere(func(f Finding) bool {
		return f.Kind == "stalled" && f.Direction == "server-to-client" && f.Origin == "client"
	}) {
		t.Errorf("the healthy server-to-client direction reported stalled: %s", f)
	}
}

// TestFaultBlackholeRecovers black-holes the path for 4 s and restores it:
// the stall names retransmission timeouts and ends after the route is gone.
func TestFaultBlackholeRecovers(t *testing.T) {
	t.Parallel()
	tp := Routed(t, &TBF{Rate: "100mbit", Burst: "32kb", Latency: "25ms"})
	ctx := context.Background()
	r := runWithFault(t, tp, nil, []string{"-P", "2", "-t", "16", "--stall-timeout", "30"},
		func(r *faultRun) {
			if err := tp.AddBlackhole(ctx, tp.ServerAddr); err != nil {
				t.Fatal(err)
			}
		},
		func(r *faultRun) {
			if err := tp.RemoveBlackhole(ctx, tp.ServerAddr); err != nil {
				t.Fatal(err)
			}
		}, 4*time.Second)
	x := r.extras(t)
	checkSpans(t, x)
	st := x.findingsWhere(func(f Finding) bool { return f.Kind == "stalled" && f.Origin == "client" && mentionsRTO(f.text()) })
	if len(st) == 0 {
		t.Fatalf("no client \"stalled\" finding naming retransmission timeouts\n%s", x.summary())
	}
	// After the route returns, TCP waits out its current RTO backoff
	// (up to a few seconds) before data moves again.
	checkEnded(t, st[len(st)-1], r, 8)
}

// TestFaultSharedBottleneck runs 16 flows through one 8 Mbit/s tbf: the
// streams share the path or stall in RTO backoff while others move; either
// way no stall is put down to a black hole, and every stream gets data
// through.
func TestFaultSharedBottleneck(t *testing.T) {
	t.Parallel()
	tp := Routed(t, &TBF{Rate: "8mbit", Burst: "16kb", Latency: "50ms"})
	startServer(t, tp.Server, port, 90*time.Second)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", "16", "-t", "6", "-J", "--stall-timeout", "30")
	if code := cli.wait(); code != 0 {
		t.Fatalf("client exit %d\n%s", code, cli.describe())
	}
	checkNoCrash(t, cli)
	res, x := parseResult(t, cli)
	checkSpans(t, x)
	// A fair share for every stream: each one got data through.
	if len(res.End.Streams) != 16 {
		t.Errorf("%d streams in end.streams, want 16", len(res.End.Streams))
	}
	for i, raw := range res.End.Streams {
		var st struct {
			Receiver struct {
				Bytes uint64 `json:"bytes"`
			} `json:"receiver"`
		}
		if json.Unmarshal(raw, &st) != nil || st.Receiver.Bytes == 0 {
			t.Errorf("stream %d received nothing through the shared shaper: %s", i, raw)
		}
	}
	for _, f := range x.Findings {
		if strings.Contains(f.text(), "black hole") {
			t.Errorf("a shared bottleneck called a black hole: %s", f)
		}
	}
}

// TestFaultReceiveBufferReverse: in -R the server sends into tiny socket
// buffers (-w 32K, as TestReceiverLimited does forward): the server's
// senders are rwnd-limited, and the client hears of it from the server
// (origin "server") with a fix that names -w, since -w was given.
func TestFaultReceiveBufferReverse(t *testing.T) {
	t.Parallel()
	tp := Pair(t)
	startServer(t, tp.Server, port, 90*time.Second)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-R", "-P", "4", "-w", "32K", "-t", "4", "-J")
	if code := cli.wait(); code != 0 {
		t.Fatalf("client exit %d\n%s", code, cli.describe())
	}
	checkNoCrash(t, cli)
	_, x := parseResult(t, cli)
	checkSpans(t, x)
	rw := x.findingsWhere(func(f Finding) bool { return f.Kind == "rwnd-limited" && f.Origin == "server" })
	if len(rw) == 0 {
		t.Fatalf("no rwnd-limited finding from the server\n%s", x.summary())
	}
	if !strings.Contains(rw[0].Fix, "-w") {
		t.Errorf("-w was given, the fix does not mention it: %s", rw[0])
	}
}

// TestFaultCPUStarvedReceiver starves the server (the receiver) of CPU:
// for 5 s it runs 10 ms in every 1.2 s (SIGSTOP and SIGCONT in turn, as
// cpulimit does; the same whatever cgroups the machine has), so data piles
// up unread. The client's senders name the receiver (peer window 0,
// rwnd-limited) or the server names itself (not reading); nothing blames
// the path; and the stall ends when the receiver gets its CPU back.
func TestFaultCPUStarvedReceiver(t *testing.T) {
	t.Parallel()
	tp := Pair(t)
	stop := make(chan struct{})
	cycled := make(chan struct{})
	r := runWithFault(t, tp, nil, []string{"-P", "4", "-t", "12", "--stall-timeout", "30"},
		func(r *faultRun) {
			go func() {
				defer close(cycled)
				tick := time.NewTicker(1200 * time.Millisecond)
				defer tick.Stop()
				for {
					_ = r.srv.cmd.Process.Signal(syscall.SIGCONT)
					time.Sleep(10 * time.Millisecond) // its share of CPU, not a synchronisation
					_ = r.srv.cmd.Process.Signal(syscall.SIGSTOP)
					select {
					case <-stop:
						_ = r.srv.cmd.Process.Signal(syscall.SIGCONT)
						return
					case <-tick.C:
					}
				}
			}()
		},
		func(r *faultRun) {
			close(stop)
			<-cycled
		}, 5*time.Second)
	x := r.extras(t)
	checkSpans(t, x)
	var named []Finding
	for _, f := range x.Findings {
		s := f.text()
		if strings.Contains(s, "black hole") || strings.Contains(s, "path is down") || strings.Contains(s, "bottleneck") {
			t.Errorf("a CPU-starved receiver blamed on the path: %s", f)
		}
		if strings.Contains(s, "peer window 0") || f.Kind == "rwnd-limited" || strings.Contains(s, "not reading") {
			named = append(named, f)
		}
	}
	if len(named) == 0 {
		t.Fatalf("no finding names the receiver (peer window 0, rwnd-limited, not reading)\n%s", x.summary())
	}
	for _, f := range named {
		if f.Kind == "stalled" {
			checkEnded(t, f, r, 4)
		}
	}
}

// TestFaultConnectionsReset kills the test's data connections on the
// server (ss -K) mid-test: the client fails with a clear error in the JSON,
// the streams keep their evidence, and the server serves the next client.
func TestFaultConnectionsReset(t *testing.T) {
	t.Parallel()
	RequireCommand(t, "ss")
	tp := Pair(t)
	// A server for more than one test (startServer's is for one).
	srv := startFlowscope(t, "server", tp.Server, procOpts{timeout: 90 * time.Second}, "-s", "-p", fmt.Sprint(port))
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tp.Server.WaitListening(wctx, port, srv.alive); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.describe())
	}
	twoSeconds, onLine := dataFor(2)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second, onStdoutLine: onLine},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", "2", "-t", "10", "-b", "50M", "--json-stream", "-i", "0.5")
	select {
	case <-twoSeconds:
	case <-time.After(45 * time.Second):
		t.Fatalf("no 2 s of data:\n%s", cli.describe())
	}
	// Data connections only: the control connection is the first one the
	// client made; -K with a port filter on the client side would need its
	// number, so kill every connection but keep the listener.
	out, err := tp.Server.Run(context.Background(), "ss", "-K", "-t", "state", "established", "sport", "=", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("ss -K: %v\n%s", err, out)
	}
	if code := cli.wait(); code == 0 {
		t.Errorf("client exit 0 after its connections were reset; want non-zero\n%s", cli.describe())
	}
	checkNoCrash(t, cli)
	evs := events(cli.stdout.String())
	if raw, err := lastEvent(evs, "error"); err != nil || len(raw) < 3 {
		t.Errorf("no error event after a reset: %v\n%s", err, lastLines(cli.stdout.String(), 5))
	}
	next := startFlowscope(t, "client2", tp.Client, procOpts{timeout: 60 * time.Second},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-t", "1", "-J")
	if code := next.wait(); code != 0 {
		t.Errorf("the server did not serve the next client after the reset: exit %d\n%s", code, next.describe())
	}
}
