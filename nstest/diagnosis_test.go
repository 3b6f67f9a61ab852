//go:build linux

package nstest

// Acceptance tests of the kernel-diagnosis issue: the real flowscope
// binary (built with -race) runs as server in one namespace and client in
// another, and the tests check what a user sees: exit status, the -J
// document and its "flowscope" object, stderr.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const port = 5201

var digit = regexp.MustCompile(`[0-9]`)

// TestBacklogOverflow: 1000 flows against a server whose somaxconn is 16.
// The test must still complete, and flowscope must say the listen backlog
// is too small (or overflowed) with the somaxconn fix.
func TestBacklogOverflow(t *testing.T) {
	tp := Pair(t)
	ctx := context.Background()
	if err := tp.Server.SetSysctl(ctx, "net.core.somaxconn", "16"); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, tp.Server, port, 90*time.Second, "-J")
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", "1000", "-t", "3", "-J")
	code := cli.wait()
	checkNoCrash(t, cli)
	t.Logf("client exit %d after %v", code, cli.elapsed.Round(time.Millisecond))
	if code != 0 {
		srv.kill()
		t.Fatalf("client failed:\n%s\n%s", cli.describe(), srv.describe())
	}
	res, x := parseResult(t, cli)
	if n := len(res.End.Streams); n != 1000 {
		t.Errorf("end.streams has %d entries, want 1000", n)
	}
	if res.End.SumReceived == nil || res.End.SumReceived.Bytes == 0 {
		t.Errorf("end.sum_received.bytes is missing or 0")
	}

	// The server ends after this one test (-1).
	select {
	case <-srv.done:
	case <-time.After(15 * time.Second):
		t.Errorf("server (-1) still running 15 s after the client ended")
	}
	checkNoCrash(t, srv)
	var sx *Extras
	if srv.exited() {
		sx = &Extras{}
		var sres Result
		if err := json.Unmarshal([]byte(srv.stdout.String()), &sres); err != nil {
			t.Logf("server -J output is not one JSON document: %v", err)
		} else if len(sres.Flowscope) > 0 {
			sx = parseExtras(t, "server", sres.Flowscope)
		}
	}

	// The client must say it: that is where the user looks. The server's
	// own findings are logged for comparison.
	if sx != nil {
		for _, f := range sx.findingsOf("listen-overflow", "backlog-small") {
			t.Logf("server finding: %s", f)
		}
	}
	ok := false
	for _, f := range x.findingsOf("listen-overflow", "backlog-small") {
		t.Logf("client finding: %s", f)
		checkFinding(t, f)
		if strings.Contains(f.Fix, "somaxconn") && digit.MatchString(f.Evidence) {
			ok = true
		}
	}
	if !ok {
		t.Errorf("client: no \"listen-overflow\" or \"backlog-small\" finding with \"somaxconn\" in the fix and a number in the evidence\nclient: %s\nserver: %s\nclient stderr: %s",
			x.summary(), extrasSummary(sx), lastLines(cli.stderr.String(), 10))
	}
	// What the kernel saw, for the log: overflows at the server, SYN
	// retransmits at the client.
	if qs, err := tp.Server.Run(ctx, "nstat", "-asz", "TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtSyncookiesSent"); err == nil {
		t.Logf("server namespace counters:\n%s", qs)
	}
	if qs, err := tp.Client.Run(ctx, "nstat", "-asz", "TcpExtTCPSynRetrans", "TcpExtTCPTimeouts"); err == nil {
		t.Logf("client namespace counters:\n%s", qs)
	}
}

func extrasSummary(x *Extras) string {
	if x == nil {
		return "(server output not available)"
	}
	return x.summary()
}

// TestBlackholeStall: four flows through a 100 Mbit/s router; after 2 s
// of data the router black-holes the server. Every stream stalls, and
// with --stall-timeout 3 the client must give up with an error and say
// why: retransmission timeouts.
func TestBlackholeStall(t *testing.T) {
	tp := Routed(t, &TBF{Rate: "100mbit", Burst: "32kb", Latency: "25ms"})
	ctx := context.Background()
	startServer(t, tp.Server, port, 90*time.Second)

	// Wait for 2 s of data in the interval events rather than sleeping.
	twoSeconds, onLine := dataFor(2)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second, onStdoutLine: onLine},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", "4", "-t", "20", "-i", "0.5",
		"--stall-timeout", "3", "--json-stream")

	select {
	case <-twoSeconds:
	case <-cli.done:
		t.Fatalf("client ended before 2 s of data:\n%s", cli.describe())
	case <-time.After(30 * time.Second):
		t.Fatalf("no interval with 2 s of data within 30 s:\n%s", lastLines(cli.stdout.String(), 5))
	}
	if err := tp.AddBlackhole(ctx, tp.ServerAddr); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	t.Logf("blackhole route for %s added in %s", tp.ServerAddr, tp.Router.Name)

	select {
	case <-cli.done:
		t.Logf("client exited %v after the cut (exit %v)", time.Since(cut).Round(time.Millisecond), cli.waitErr)
	case <-time.After(15 * time.Second):
		cli.kill()
		<-cli.done
		t.Fatalf("client still running 15 s after the blackhole (killed):\n%s", cli.describe())
	}
	checkNoCrash(t, cli)
	if code := cli.wait(); code == 0 {
		t.Errorf("client exited 0 after every stream stalled; want non-zero\n%s", cli.describe())
	}

	evs := events(cli.stdout.String())
	if raw, err := lastEvent(evs, "error"); err == nil {
		t.Logf("error event: %s", raw)
	}
	raw, err := lastEvent(evs, "flowscope")
	if err != nil {
		t.Fatalf("no flowscope event in --json-stream output: %v\n%s", err, cli.describe())
	}
	x := parseExtras(t, "client", raw)
	t.Logf("client %s", x.summary())
	checkStreamKeys(t, x)
	stalled := x.findingsOf("stalled", "all-stalled")
	if len(stalled) == 0 {
		t.Errorf("no \"stalled\" or \"all-stalled\" finding\n%s\nstderr: %s", x.summary(), lastLines(cli.stderr.String(), 10))
	}
	rto := false
	for _, f := range stalled {
		t.Logf("finding: %s", f)
		checkFinding(t, f)
		rto = rto || mentionsRTO(f.Evidence)
	}
	for _, s := range x.Streams {
		rto = rto || mentionsRTO(s.Reason)
	}
	if !rto {
		t.Errorf("neither a stalled finding's evidence nor a stream's reason mentions retransmission timeouts\n%s", x.summary())
	}
}

func mentionsRTO(s string) bool {
	return strings.Contains(strings.ToLower(s), "retransmission timeout")
}

// TestReceiverLimited: -w 32K (tiny socket buffers) over a veth pair: the
// receiver's window limits the flows and flowscope says so, and the test
// still succeeds. 32K is far below rmem_max, so nothing is clamped.
func TestReceiverLimited(t *testing.T) {
	tp := Pair(t)
	startServer(t, tp.Server, port, 60*time.Second)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 40 * time.Second},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", "8", "-t", "3", "-w", "32K", "-J")
	code := cli.wait()
	checkNoCrash(t, cli)
	if code != 0 {
		t.Fatalf("client failed:\n%s", cli.describe())
	}
	res, x := parseResult(t, cli)
	if res.End.SumReceived == nil || res.End.SumReceived.Bytes == 0 {
		t.Errorf("end.sum_received.bytes is missing or 0")
	}
	found := false
	for _, f := range x.findingsOf("rwnd-limited") {
		t.Logf("finding: %s", f)
		checkFinding(t, f)
		found = true
	}
	for _, s := range x.Streams {
		if r := strings.ToLower(s.Reason); strings.Contains(r, "receive window") || strings.Contains(r, "rwnd") {
			t.Logf("stream %d: %s (%s)", s.ID, s.State, s.Reason)
			found = true
		}
	}
	if !found {
		t.Errorf("no \"rwnd-limited\" finding and no stream reason naming the receive window\n%s", x.summary())
	}
	for _, f := range x.findingsOf("window-clamped") {
		t.Errorf("-w 32K is below rmem_max/wmem_max, yet: %s", f)
	}
}

// TestFdLimit: a client limited to 64 open files asked for 100 flows must
// end by itself, without a panic, and name the fd limit with the fix
// `ulimit -n` (an "fd-limit" finding, or a one-line error).
func TestFdLimit(t *testing.T) {
	tp := Loopback(t)
	RequireCommand(t, "prlimit")
	cases := []struct {
		name string
		port int
		args []string
	}{
		{"json", port, []string{"-J"}},
		{"text", port + 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			startServer(t, tp.Server, tc.port, 60*time.Second)
			args := append([]string{"-c", tp.ServerAddr, "-p", fmt.Sprint(tc.port), "-P", "100", "-t", "2"}, tc.args...)
			cli := startFlowscope(t, "client", tp.Client, procOpts{
				timeout: 30 * time.Second,
				wrap:    []string{"prlimit", "--nofile=64:64"},
			}, args...)
			code := cli.wait()
			checkNoCrash(t, cli)
			if code < 0 {
				t.Fatalf("client hung or was killed (no exit within 30 s):\n%s", cli.describe())
			}
			t.Logf("client exit %d after %v; stderr:\n%s", code, cli.elapsed.Round(time.Millisecond), lastLines(cli.stderr.String(), 8))
			if tc.name == "json" {
				checkFdLimitJSON(t, cli)
			} else {
				checkFdLimitText(t, cli)
			}
		})
	}
}

var emfile = regexp.MustCompile(`(?i)too many open files|EMFILE|file descriptor|fd limit|open files`)

// fdErrorLine reports whether one line of s names the fd limit and the
// fix `ulimit -n`.
func fdErrorLine(s string) (string, bool) {
	for _, line := range strings.Split(s, "\n") {
		if emfile.MatchString(line) && strings.Contains(line, "ulimit -n") {
			return line, true
		}
	}
	return "", false
}

func checkFdLimitJSON(t *testing.T, cli *proc) {
	var res Result
	out := cli.stdout.String()
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, cli.describe())
	}
	x := parseExtras(t, "client", res.Flowscope)
	fds := x.findingsOf("fd-limit")
	for _, f := range fds {
		t.Logf("finding: %s", f)
		checkFinding(t, f)
	}
	if len(fds) > 0 {
		return
	}
	if line, ok := fdErrorLine(res.Error + "\n" + cli.stderr.String()); ok {
		t.Logf("fd-limit error: %s", line)
		return
	}
	t.Errorf("no \"fd-limit\" finding and no error naming the fd limit with `ulimit -n`\nJSON error: %q\n%s\nstderr: %s",
		res.Error, x.summary(), lastLines(cli.stderr.String(), 10))
}

func checkFdLimitText(t *testing.T, cli *proc) {
	stderr := cli.stderr.String()
	for _, m := range findingLines(stderr) {
		if strings.Contains(m[4], "ulimit -n") {
			t.Logf("finding line: %s", m[0])
			return
		}
	}
	if line, ok := fdErrorLine(stderr); ok {
		t.Logf("fd-limit error: %s", line)
		return
	}
	t.Errorf("stderr has no finding line `flowscope: <severity>: … (…). Fix: … ulimit -n …` and no error naming the fd limit with `ulimit -n`:\n%s",
		lastLines(stderr, 15))
}

// TestTenThousandFlows: 10000 flows between two processes on loopback (in
// a namespace of their own) complete, with connect times reported.
//
// The test is byte-limited (-n), not timed: it is about scale (descriptors,
// connects, accounting for every stream), and how fast 10,000 flows move
// data is bench/'s setup-10000 and sampler-10000. A timed test keeps 10,000
// senders runnable for its whole length, and on a busy two-core machine
// with the race detector the client's own control goroutine then waited
// longer for a turn than the server's watchdog (the test's time plus 40 s)
// allows. With -n each sender stops after its share, so the end of the test
// runs as soon as the bytes are through.
func TestTenThousandFlows(t *testing.T) {
	tp := Loopback(t)
	const flows = 10000
	const need = flows + 100
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var wrap []string
	if lim.Max < need {
		// Skips (fails under CI) when the limit cannot be raised.
		RequireCommand(t, "prlimit")
		// Root (Require) may raise the hard limit up to fs.nr_open.
		wrap = []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", need+2000, need+2000)}
		t.Logf("RLIMIT_NOFILE hard limit %d < %d: raising it with %s", lim.Max, need, strings.Join(wrap, " "))
	}
	srv := startFlowscope(t, "server", tp.Server, procOpts{timeout: 180 * time.Second, wrap: wrap},
		"-s", "-p", fmt.Sprint(port), "-1")
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tp.Server.WaitListening(wctx, port, srv.alive); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.describe())
	}
	// Every flow writes at least one 16 KiB block (160 MB in all) before it
	// sees that the 100 MB are through.
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 150 * time.Second, wrap: wrap},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(port), "-P", fmt.Sprint(flows), "-n", "100M", "-l", "16K", "-J")
	code := cli.wait()
	checkNoCrash(t, cli)
	t.Logf("client exit %d after %v", code, cli.elapsed.Round(time.Millisecond))
	if code != 0 {
		if strings.Contains(cli.stderr.String(), "too many open files") {
			t.Logf("note: RLIMIT_NOFILE %d/%d", lim.Cur, lim.Max)
		}
		select {
		case <-srv.done:
		case <-time.After(15 * time.Second):
			srv.kill()
		}
		t.Fatalf("client failed:\n%s\n%s", cli.describe(), srv.describe())
	}
	res, x := parseResult(t, cli)
	if n := len(res.End.Streams); n != flows {
		t.Errorf("end.streams has %d entries, want %d", n, flows)
	}
	if res.End.SumReceived == nil || res.End.SumReceived.Bytes == 0 {
		t.Errorf("end.sum_received.bytes is missing or 0")
	}
	if len(x.ConnectTimes) == 0 || string(x.ConnectTimes) == "null" {
		t.Errorf("flowscope.connect_time_us is missing\n%s", x.summary())
	} else {
		t.Logf("connect_time_us: %s", x.ConnectTimes)
	}
	for _, f := range x.Findings {
		t.Logf("finding: %s", f)
	}
	select {
	case <-srv.done:
		checkNoCrash(t, srv)
	case <-time.After(15 * time.Second):
		t.Errorf("server (-1) still running 15 s after the client ended")
	}
}
