package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tmuxSession is a detached tmux session on a private server (-L) that the
// test reads with capture-pane.
type tmuxSession struct {
	t    *testing.T
	tmux string
	sock string
}

func newTmux(t *testing.T) *tmuxSession {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed; CI must install it (see .ci/run)")
		}
		t.Skip("tmux is not installed: skipping the terminal UI end-to-end test (apt-get install tmux)")
	}
	s := &tmuxSession{t: t, tmux: path, sock: fmt.Sprintf("flowscope-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { _, _ = s.run("kill-server") })
	return s
}

func (s *tmuxSession) run(args ...string) (string, error) {
	out, err := exec.Command(s.tmux, append([]string{"-L", s.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) must(args ...string) {
	s.t.Helper()
	if out, err := s.run(args...); err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
}

func (s *tmuxSession) screen() string {
	out, _ := s.run("capture-pane", "-p", "-t", "e2e")
	return out
}

// waitFor polls the pane until cond holds, failing with the last screen
// after the deadline.
func (s *tmuxSession) waitFor(what string, d time.Duration, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		scr := s.screen()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %v waiting for %s; the screen:\n%s", d, what, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var streamRow = regexp.MustCompile(`(?m)^[▸ ]\s+\d+ ↑ +[0-9.]+ [kMGT]?bit/s`)

func hasBraille(s string) bool {
	for _, r := range s {
		if r > 0x2800 && r <= 0x28ff {
			return true
		}
	}
	return false
}

// TestTUIInTmux runs the real binary in a terminal: the live screen shows
// the stream rows and the SUM chart, ? shows the full help, enter the
// detail view, and q ends the test cleanly and leaves the summary.
func TestTUIInTmux(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	script := fmt.Sprintf("'%s' --loopback -t 4 -P 8 -i 0.5 -C cubic; echo \"flowscope exited $?\"; sleep 300", bin)
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", script)

	s.waitFor("8 stream rows and a drawn SUM chart", 30*time.Second, func(scr string) bool {
		return len(streamRow.FindAllString(scr, -1)) == 8 && strings.Contains(scr, "╭─ SUM") &&
			strings.Contains(scr, "8 flows ↑ send") && hasBraille(scr)
	})

	s.must("send-keys", "-t", "e2e", "?")
	s.waitFor("the full help", 10*time.Second, func(scr string) bool {
		return strings.Contains(scr, "page down") && strings.Contains(scr, "reverse sort") && strings.Contains(scr, "problems only")
	})
	s.must("send-keys", "-t", "e2e", "?")

	s.must("send-keys", "-t", "e2e", "Enter")
	s.waitFor("the detail view of stream 1", 10*time.Second, func(scr string) bool {
		return strings.Contains(scr, "stream 1 ↑ send") && strings.Contains(scr, "rtt / rttvar") && strings.Contains(scr, "snd_cwnd")
	})

	s.must("send-keys", "-t", "e2e", "q")
	scr := s.waitFor("a clean exit", 30*time.Second, func(scr string) bool {
		return strings.Contains(scr, "flowscope exited")
	})
	if !strings.Contains(scr, "flowscope exited 0") {
		t.Errorf("exit status is not 0:\n%s", scr)
	}
	for _, want := range []string{"[SUM]", "sender", "receiver", "flowscope done."} {
		if !strings.Contains(scr, want) {
			t.Errorf("the summary left on screen lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "╭─ SUM") || strings.Contains(scr, "rtt / rttvar") {
		t.Errorf("the live screen was not cleared on exit:\n%s", scr)
	}
	// The summary follows the per-interval SUM table, without the streams'
	// interval lines. (The first interval ends at its tick, later than
	// 0.5 s on a machine short of CPU.)
	if !regexp.MustCompile(`\[SUM\]   0\.00-\d\.\d\d +sec .*/sec +\d+\s*\n`).MatchString(scr) ||
		regexp.MustCompile(`\[  1\]   0\.00-\d\.\d\d +sec .*/sec +\d+\s*\n`).MatchString(scr) {
		t.Errorf("want the SUM of each interval and no stream's intervals after the UI:\n%s", scr)
	}
}

// With interval reports off (-i 0) the live view still updates while the
// test runs, and the summary it leaves has no interval lines.
func TestTUIWithoutIntervalReports(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	script := fmt.Sprintf("'%s' --loopback -t 4 -P 2 -i 0; echo \"flowscope exited $?\"; sleep 300", bin)
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", script)
	s.waitFor("rates and the progress moving before the end", 30*time.Second, func(scr string) bool {
		return len(streamRow.FindAllString(scr, -1)) == 2 && !strings.Contains(scr, "     0 bit/s") &&
			strings.Contains(scr, "▸ running") && hasBraille(scr)
	})
	s.waitFor("the test done", 30*time.Second, func(scr string) bool { return strings.Contains(scr, "▸ done") })
	s.must("send-keys", "-t", "e2e", "q")
	scr := s.waitFor("the exit", 30*time.Second, func(scr string) bool { return strings.Contains(scr, "flowscope exited") })
	if !strings.Contains(scr, "flowscope exited 0") || !strings.Contains(scr, "[SUM]") {
		t.Errorf("exit and summary:\n%s", scr)
	}
	if strings.Contains(scr, "1.00-2.00") || strings.Contains(scr, "0.00-1.00") {
		t.Errorf("interval lines after the UI although -i 0:\n%s", scr)
	}
}

// startServer runs `flowscope -s -p PORT` on loopback until the test ends
// and returns its host:port.
func startServer(t *testing.T) string {
	t.Helper()
	port := closedPort(t)
	cmd := exec.Command(binary(t), "-s", "-p", strconv.Itoa(port), "-B", "127.0.0.1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "listening") {
				seen = true
				close(listening)
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("server on port %d did not start listening", port)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

var sumRow = regexp.MustCompile(`(?m)^[▸ ]\s+SUM ↑ +[0-9.]+ [kMGT]?bit/s`)

// TestFleetTUIInTmux runs the real binary against two servers in a
// terminal: the live screen groups each server's streams under its name
// with its SUM row, tab shows one server, and q stops both tests and
// leaves both servers' summaries and the SUM over them.
func TestFleetTUIInTmux(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	a, b := startServer(t), startServer(t)
	script := fmt.Sprintf("'%s' -c %s,%s -t 30 -P 2 -i 0.5; echo \"flowscope exited $?\"; sleep 300", bin, a, b)
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", script)

	s.waitFor("both servers' sections, SUM rows and streams, and the overall SUM", 30*time.Second, func(scr string) bool {
		ia, ib := strings.Index(scr, "■ "+a+"  TCP  2 flows ↑ send"), strings.Index(scr, "■ "+b+"  TCP  2 flows ↑ send")
		return ia >= 0 && ib > ia && len(sumRow.FindAllString(scr, -1)) == 2 && len(streamRow.FindAllString(scr, -1)) == 4 &&
			strings.Contains(scr, "→ 2 servers  TCP  4 flows ↑ send  SUM") && strings.Contains(scr, "running 2/2 servers") &&
			strings.Contains(scr, "╭─ SUM ─ ⣿ all servers") && hasBraille(scr)
	})

	s.must("send-keys", "-t", "e2e", "Tab")
	s.waitFor("the first server on its own", 10*time.Second, func(scr string) bool {
		return strings.Contains(scr, "[server 1/2, tab: next]") && strings.Contains(scr, "■ "+a+"  TCP  2 flows ↑ send  SUM") &&
			!strings.Contains(scr, "■ "+b+"  ") && len(streamRow.FindAllString(scr, -1)) == 2
	})
	s.must("send-keys", "-t", "e2e", "Tab", "Tab")
	s.waitFor("the overview again", 10*time.Second, func(scr string) bool {
		return len(sumRow.FindAllString(scr, -1)) == 2 && !strings.Contains(scr, "[server")
	})

	s.must("send-keys", "-t", "e2e", "q")
	s.waitFor("a clean exit", 30*time.Second, func(scr string) bool {
		return strings.Contains(scr, "flowscope exited")
	})
	// The summaries may have scrolled: read the pane's history too.
	out, _ := s.run("capture-pane", "-p", "-J", "-S", "-500", "-t", "e2e")
	if !strings.Contains(out, "flowscope exited 0") {
		t.Errorf("exit status is not 0:\n%s", out)
	}
	for _, want := range []string{
		a + ":  [SUM]", b + ":  [SUM]", a + ":  flowscope done.", b + ":  flowscope done.",
		"All 2 servers: 2 succeeded, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output after the UI lacks %q:\n%s", want, out)
		}
	}
	overall := regexp.MustCompile(`(?m)^\[SUM\] +0\.00-[0-9.]+ +sec .*(sender|receiver)$`)
	if n := len(overall.FindAllString(out, -1)); n != 2 {
		t.Errorf("%d overall [SUM] lines, want sender and receiver:\n%s", n, out)
	}
	if ia, ib := strings.Index(out, a+":  [SUM]"), strings.Index(out, b+":  [SUM]"); ia > ib || ib > strings.Index(out, "All 2 servers") {
		t.Errorf("summaries not in server order before the overall SUM:\n%s", out)
	}
	if strings.Contains(out, "╭─ SUM") || strings.Contains(out, "■ "+a) {
		t.Errorf("the live screen was not cleared on exit:\n%s", out)
	}
	if regexp.MustCompile(`(?m)^\S+:  \[ *\d+\] +0\.00-0\.50 `).MatchString(out) {
		t.Errorf("interval lines were printed after the UI; only the summaries belong there:\n%s", out)
	}
}
