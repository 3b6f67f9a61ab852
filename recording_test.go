//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
)

// readRec reads a recording and splits it into its one test's parts.
func readRec(t *testing.T, path string) (*engine.Start, []*engine.Sample, *engine.End) {
	t.Helper()
	rec, err := record.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var start *engine.Start
	var end *engine.End
	for _, ev := range rec.Events {
		switch e := ev.(type) {
		case *engine.Start:
			start = e
		case *engine.End:
			end = e
		}
	}
	if start == nil || end == nil {
		t.Fatalf("%s: start %v, end %v", path, start != nil, end != nil)
	}
	return start, rec.Samples(), end
}

// --record beside the text and the JSON reports: the file holds the test's
// events, the report on stdout is unchanged.
func TestRecordBesideReports(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
	}{{"text", nil}, {"json", []string{"-J"}}, {"stream", []string{"--json-stream"}}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".jsonl")
			args := append([]string{"--loopback", "-t", "1", "-i", "0.25", "-P", "2", "--record", path}, tc.args...)
			stdout, stderr, code := runBin(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			start, samples, end := readRec(t, path)
			if len(start.Streams) != 2 || len(samples) < 4 || len(end.Streams) != 2 {
				t.Errorf("recorded %d streams, %d samples, %d results", len(start.Streams), len(samples), len(end.Streams))
			}
			switch tc.name {
			case "text":
				if !strings.Contains(stdout, "flowscope done.") {
					t.Errorf("text report:\n%s", stdout)
				}
			case "json":
				var doc struct{ Intervals []json.RawMessage }
				if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Intervals) != len(samples) {
					t.Errorf("-J: %v, %d intervals, %d recorded", err, len(doc.Intervals), len(samples))
				}
			case "stream":
				if n := strings.Count(stdout, `{"event":"interval"`); n != len(samples) {
					t.Errorf("--json-stream: %d intervals, %d recorded", n, len(samples))
				}
			}
		})
	}
}

func TestRecordBadPath(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runBin(t, "--loopback", "-t", "1", "--record", dir)
	if code != 1 || !strings.Contains(stderr, "a directory (a client records into a file)") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--record DIR on a client: exit %d, %q", code, stderr)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	_, stderr, code = runBin(t, "-s", "-1", "-B", "127.0.0.1", "-p", strconv.Itoa(closedPort(t)), "--record", file)
	if code != 1 || !strings.Contains(stderr, "a server records into a directory") {
		t.Errorf("--record FILE on a server: exit %d, %q", code, stderr)
	}
}

// A server with --record DIR writes one file per test, named by the time
// and the client, holding the server's view of the test.
func TestRecordServerDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tests")
	port := strconv.Itoa(closedPort(t))
	srv := exec.Command(binary(t), "-s", "-1", "-B", "127.0.0.1", "-p", port, "-i", "0.5", "--record", dir)
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	buf := make([]byte, 4096)
	for n := 0; !strings.Contains(string(buf[:n]), "listening"); {
		m, err := out.Read(buf[n:])
		if err != nil {
			t.Fatalf("server: %v", err)
		}
		n += m
	}
	go func() { _, _ = out.Read(make([]byte, 1<<20)) }()
	if _, stderr, code := runBin(t, "-c", "127.0.0.1", "-p", port, "-t", "1", "-i", "0.5", "-R"); code != 0 {
		t.Fatalf("client: exit %d: %s", code, stderr)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("server -1: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) != 1 || !strings.Contains(filepath.Base(files[0]), "-test1-127.0.0.1-") {
		t.Fatalf("files %v", files)
	}
	start, samples, _ := readRec(t, files[0])
	if start.Side != engine.SideServer || len(samples) < 2 || samples[0].Sent.Bytes == 0 {
		t.Errorf("server recording: side %v, %d samples", start.Side, len(samples))
	}
}

// flowscope report on a recording, on iperf3's files and on bad ones.
func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.jsonl")
	if _, stderr, code := runBin(t, "--loopback", "-t", "1", "-i", "0.5", "--record", rec); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(rec)
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("\x00\x01 not json"), 0o644)
	for _, tc := range []struct {
		file, wantErr string
		code          int
	}{
		{rec, "", 0},
		{"record/testdata/iperf3_321_stream_bidir_P2.jsonl", "", 0},
		{"record/testdata/iperf3_312_J_udp.json", "", 0},
		{cut, "truncated", 0},
		{garbage, "line 1 (byte 0): not JSON", 1},
		{filepath.Join(dir, "missing"), "no such file", 1},
	} {
		page := filepath.Join(dir, filepath.Base(tc.file)+".html")
		_, stderr, code := runBin(t, "report", tc.file, "-o", page)
		if code != tc.code || (tc.wantErr == "") != (stderr == "") || !strings.Contains(stderr, tc.wantErr) {
			t.Errorf("report %s: exit %d, stderr %q", tc.file, code, stderr)
			continue
		}
		if code == 0 {
			html, _ := os.ReadFile(page)
			if !strings.Contains(string(html), `id="sum-send-1"`) && !strings.Contains(string(html), `id="sum-recv-1"`) {
				t.Errorf("report %s: no SUM chart", tc.file)
			}
		}
	}
	if _, stderr, code := runBin(t, "report", rec); code != 2 || !strings.Contains(stderr, "-o FILE") {
		t.Errorf("report without -o: exit %d, %q", code, stderr)
	}
}

func TestReplayNeedsTerminal(t *testing.T) {
	_, stderr, code := runBin(t, "replay", "record/testdata/iperf3_312_J_P2.json")
	if code != 2 || !strings.Contains(stderr, "replay needs a terminal") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// flowscope replay in a terminal: the live view on a recording, stepping
// forward and back, to the end; q leaves the summary and its table.
func TestReplayInTmux(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	if _, stderr, code := runBin(t, "--loopback", "-t", "2", "-i", "0.5", "-P", "3", "--record", rec); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", fmt.Sprintf("'%s' replay '%s'; echo \"flowscope exited $?\"; sleep 300", bin, rec))
	s.waitFor("the first interval, paused", 30*time.Second, func(scr string) bool {
		return strings.Contains(scr, "replay 1/5 · 0.5 of 2.0 s · paused") && len(streamRow.FindAllString(scr, -1)) == 3 && strings.Contains(scr, "╭─ SUM")
	})
	s.must("send-keys", "-t", "e2e", "-l", "..")
	s.waitFor("two steps on", 10*time.Second, func(scr string) bool { return strings.Contains(scr, "replay 3/5 · 1.5 of 2.0 s") })
	s.must("send-keys", "-t", "e2e", "-l", ",")
	s.waitFor("one step back", 10*time.Second, func(scr string) bool { return strings.Contains(scr, "replay 2/5 · 1.0 of 2.0 s") })
	s.must("send-keys", "-t", "e2e", "Enter")
	s.waitFor("the detail view", 10*time.Second, func(scr string) bool { return strings.Contains(scr, "rtt / rttvar") })
	s.must("send-keys", "-t", "e2e", "Escape")
	s.must("send-keys", "-t", "e2e", "-l", "$")
	s.waitFor("the end", 10*time.Second, func(scr string) bool {
		return strings.Contains(scr, "replay 5/5 · 2.0 of 2.0 s · end") && strings.Contains(scr, "done")
	})
	s.must("send-keys", "-t", "e2e", "q")
	scr := s.waitFor("the exit", 10*time.Second, func(scr string) bool { return strings.Contains(scr, "flowscope exited") })
	if !strings.Contains(scr, "flowscope exited 0") || strings.Count(scr, "[SUM]   ") < 4 || !strings.Contains(scr, "flowscope done.") {
		t.Errorf("after the replay:\n%s", scr)
	}
}

// --exit-when-done: the live view quits by itself at the end, leaving the
// summary after its per-interval SUM table; the recording beside it holds
// the test.
func TestExitWhenDoneInTmux(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40",
		fmt.Sprintf("'%s' --loopback -t 2 -i 0.5 -P 2 --exit-when-done --record '%s'; echo \"flowscope exited $?\"; sleep 300", bin, rec))
	scr := s.waitFor("the exit", 60*time.Second, func(scr string) bool { return strings.Contains(scr, "flowscope exited") })
	// The last interval ends at the test's end, 2 s; on a machine short of
	// CPU a tick falls late, so its start and the count of intervals vary.
	if !strings.Contains(scr, "flowscope exited 0") || !regexp.MustCompile(`\[SUM\]   \d\.\d\d-2\.\d\d +sec`).MatchString(scr) || !strings.Contains(scr, "flowscope done.") {
		t.Errorf("after the view:\n%s", scr)
	}
	if regexp.MustCompile(`\[  1\]   0\.00-\d\.\d\d +sec .*/sec +\d+\s*\n`).MatchString(scr) {
		t.Errorf("per-stream interval lines after the view:\n%s", scr)
	}
	if _, samples, _ := readRec(t, rec); len(samples) < 4 {
		t.Errorf("%d samples recorded, want at least the 4 of -t 2 -i 0.5", len(samples))
	}
}

// Quitting the live view while the server is stopped (q, then q again)
// keeps the intervals measured until then, and the recording keeps them
// too.
func TestEarlyQuitKeepsNumbers(t *testing.T) {
	s := newTmux(t)
	bin := binary(t)
	port := strconv.Itoa(closedPort(t))
	srv := exec.Command(bin, "-s", "-B", "127.0.0.1", "-p", port)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Signal(syscall.SIGCONT); _ = srv.Process.Kill(); _ = srv.Wait() })
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	s.must("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40",
		fmt.Sprintf("sleep 0.5; '%s' -c 127.0.0.1 -p %s -t 60 -i 0.5 --record '%s'; echo \"flowscope exited $?\"; sleep 300", bin, port, rec))
	s.waitFor("a few intervals", 60*time.Second, func(scr string) bool { return strings.Contains(scr, "2.0/60.0 s") })
	if err := srv.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	s.must("send-keys", "-t", "e2e", "q")
	time.Sleep(300 * time.Millisecond) // the first q asks the stopped server for results; the second gives up
	s.must("send-keys", "-t", "e2e", "q")
	out := s.waitFor("the exit", 60*time.Second, func(scr string) bool { return strings.Contains(scr, "flowscope exited") })
	full, _ := s.run("capture-pane", "-p", "-J", "-S", "-500", "-t", "e2e")
	intervals := regexp.MustCompile(`(?m)^\[  1\] +\d+\.\d\d-\d+\.\d\d +sec .*/sec +\d+ +\S+ \S+\s*$`).FindAllString(full, -1)
	if len(intervals) < 4 || !strings.HasPrefix(intervals[0], "[  1]   0.00-") || !strings.Contains(full, "the test did not end") {
		t.Errorf("the intervals measured before the quit are not on the screen:\n%s", full)
	}
	if !strings.Contains(out, "flowscope exited 1") {
		t.Errorf("exit status:\n%s", out)
	}
	r, err := record.ReadFile(rec)
	if err != nil || len(r.Samples()) < 4 {
		t.Errorf("recording after an early quit: %v, %d samples", err, len(r.Samples()))
	}
}
