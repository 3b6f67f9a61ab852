//go:build linux

package nstest

// Acceptance test of the link-down issue: the client namespace's link goes
// down in the middle of a test. The client must end within its stall bound
// with a clear one-line error, and the server must give up on the test
// within its own bound, say so, and serve the next test.

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

// errorLine is flowscope's one-line error: "flowscope: <what>".
var errorLine = regexp.MustCompile(`^flowscope: \S.*$`)

// testFailedLine is the server's line for a test that ended in an error.
var testFailedLine = regexp.MustCompile(`(?m)^flowscope: .*test \d+ failed: .+$`)

// lastErrorLine returns the last line of stderr that is flowscope's error
// (not a finding line), or "".
func lastErrorLine(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if errorLine.MatchString(l) && findingLine.FindStringSubmatch(l) == nil {
			return l
		}
	}
	return ""
}

// linkUp brings dev in ns up and waits until addr is reachable over it:
// a link set down loses its routes (the connected route comes back with
// the link; extra lists routes to re-add, as `ip route add` arguments).
func linkUp(t *testing.T, ns Namespace, dev, addr string, extra ...[]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ns.Run(ctx, "ip", "link", "set", dev, "up"); err != nil {
		t.Fatal(err)
	}
	for _, r := range extra {
		if _, err := ns.Run(ctx, "ip", append([]string{"route", "replace"}, r...)...); err != nil {
			t.Fatal(err)
		}
	}
	for {
		out, err := ns.Run(ctx, "ip", "-o", "route", "get", addr)
		if err == nil && strings.Contains(out, " dev "+dev+" ") {
			if oper, err := ns.Run(ctx, "cat", "/sys/class/net/"+dev+"/operstate"); err == nil && strings.TrimSpace(oper) == "up" {
				return
			}
		}
		select {
		case <-ctx.Done():
			routes, _ := ns.Run(context.Background(), "ip", "route")
			t.Fatalf("%s in netns %s: no route to %s over %s 20 s after link up: %v\nroutes:\n%s", dev, ns.Name, addr, dev, err, routes)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestLinkDownMidTest(t *testing.T) {
	tp := Pair(t)
	const (
		linkPort = port + 30
		// The client's --stall-timeout and the server's --rcv-timeout.
		clientStall = 3 * time.Second
		serverStall = 5 * time.Second
		// The bound on the client's exit after the cut.
		clientBound = 15 * time.Second
	)
	// Not -1: the server must outlive the failed test.
	srv := startFlowscope(t, "server", tp.Server, procOpts{timeout: 3 * time.Minute},
		"-s", "-p", fmt.Sprint(linkPort), "--rcv-timeout", fmt.Sprint(serverStall.Milliseconds()))
	wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer wcancel()
	if err := tp.Server.WaitListening(wctx, linkPort, srv.alive); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.describe())
	}

	// Data flows once an interval event ending at ≥ 1 s carries bytes.
	flowing, onLine := dataFor(1)
	cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 60 * time.Second, onStdoutLine: onLine},
		"-c", tp.ServerAddr, "-p", fmt.Sprint(linkPort), "-t", "30", "-i", "0.5",
		"--stall-timeout", fmt.Sprint(clientStall.Seconds()), "--json-stream")
	select {
	case <-flowing:
	case <-cli.done:
		t.Fatalf("client ended before data flowed:\n%s", cli.describe())
	case <-time.After(30 * time.Second):
		t.Fatalf("no interval with data within 30 s:\n%s", lastLines(cli.stdout.String(), 5))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tp.Client.Run(ctx, "ip", "link", "set", "vc", "down"); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	t.Logf("link vc set down in %s", tp.Client.Name)

	// The client ends by itself, non-zero, with one clear line.
	select {
	case <-cli.done:
	case <-time.After(clientBound):
		cli.kill()
		<-cli.done
		t.Fatalf("client still running %v after its link went down (killed):\n%s", clientBound, cli.describe())
	}
	clientGone := time.Since(cut)
	t.Logf("client exited %v after the cut (--stall-timeout %v): %v", clientGone.Round(time.Millisecond), clientStall, cli.waitErr)
	checkNoCrash(t, cli)
	if code := cli.wait(); code <= 0 {
		t.Errorf("client exit %d after its link went down; want a non-zero exit\n%s", code, cli.describe())
	}
	stderr := cli.stderr.String()
	msg := lastErrorLine(stderr)
	if msg == "" {
		t.Errorf("client stderr has no one-line error `flowscope: <what>`:\n%s", tail(stderr, 4000))
	} else {
		t.Logf("client error: %s", msg)
	}
	if last := lastLines(stderr, 1); last != msg {
		t.Errorf("client stderr does not end with its error line; the last line is %q", last)
	}
	evs := events(cli.stdout.String())
	if raw, err := lastEvent(evs, "error"); err != nil {
		t.Errorf("no error event in --json-stream output: %v", err)
	} else {
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" || !strings.Contains(msg, s) {
			t.Errorf("error event %s does not match the stderr line %q", raw, msg)
		}
	}
	for _, name := range []string{"flowscope", "end"} {
		if _, err := lastEvent(evs, name); err != nil {
			t.Errorf("no %s event after the error: %v", name, err)
		}
	}

	// The server gives up on the test within its own bound, says so, and
	// keeps running.
	var failed string
	deadline := time.Now().Add(serverStall + 10*time.Second)
	for {
		if failed = testFailedLine.FindString(srv.stderr.String()); failed != "" {
			break
		}
		if srv.exited() {
			t.Fatalf("server exited after the client's link went down:\n%s", srv.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("server stderr names no failed test %v after the cut (--rcv-timeout %v):\n%s",
				time.Since(cut).Round(time.Millisecond), serverStall, tail(srv.stderr.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("server reported the failed test %v after the cut: %s", time.Since(cut).Round(time.Millisecond), failed)
	if !strings.Contains(failed, tp.ClientAddr) {
		t.Errorf("server's failure line does not name the client %s: %s", tp.ClientAddr, failed)
	}

	// A fresh test from inside the server's namespace…
	runShort := func(name string, ns Namespace, addr string) {
		t.Helper()
		began := time.Now()
		c := startFlowscope(t, name, ns, procOpts{timeout: 30 * time.Second},
			"-c", addr, "-p", fmt.Sprint(linkPort), "-t", "1", "-J")
		code := c.wait()
		checkNoCrash(t, c)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n--- server stderr:\n%s", name, code, c.describe(), tail(srv.stderr.String(), 3000))
		}
		res, _ := parseResult(t, c)
		if res.Error != "" || res.End.SumReceived == nil || res.End.SumReceived.Bytes == 0 {
			t.Fatalf("%s: error %q, end.sum_received %+v", name, res.Error, res.End.SumReceived)
		}
		t.Logf("%s: %d bytes received, done %v after it started", name, res.End.SumReceived.Bytes, time.Since(began).Round(time.Millisecond))
	}
	runShort("loopback client", tp.Server, "127.0.0.1")

	// …and over the link, once it is back up.
	linkUp(t, tp.Client, "vc", tp.ServerAddr)
	runShort("client after link up", tp.Client, tp.ServerAddr)

	if !srv.alive() {
		t.Fatalf("server exited:\n%s", srv.describe())
	}
	// Only the one test failed.
	if n := len(testFailedLine.FindAllString(srv.stderr.String(), -1)); n != 1 {
		t.Errorf("server reports %d failed tests, want 1:\n%s", n, tail(srv.stderr.String(), 4000))
	}
	// It stops cleanly when asked.
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(10 * time.Second):
		srv.kill()
		<-srv.done
		t.Errorf("server ignored SIGTERM for 10 s")
	}
	checkNoCrash(t, srv)
	t.Logf("server: exit %v\n%s", srv.waitErr, lastLines(srv.stderr.String(), 6))
}
