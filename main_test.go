package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/testbin"
)

func TestParseArgs(t *testing.T) {
	good := []struct {
		args  string
		check func(*options) bool
	}{
		{"-c h", func(o *options) bool { return o.mode == modeClient && o.cfg.Host == "h" && o.cfg.Parallel == 1 }},
		{"-c h -P 8 -t 2.5 -i 0.5", func(o *options) bool {
			return o.cfg.Parallel == 8 && o.cfg.Duration == 2500*time.Millisecond && o.cfg.Interval == 500*time.Millisecond
		}},
		{"--client h --parallel 3 --reverse", func(o *options) bool { return o.cfg.Parallel == 3 && o.cfg.Reverse }},
		{"-c h --bidir -l 64K -w 1M -b 100M -C cubic", func(o *options) bool {
			return o.cfg.Bidir && o.cfg.BlockSize == 65536 && o.cfg.Window == 1<<20 && o.cfg.Rate == 100_000_000 && o.cfg.Congestion == "cubic"
		}},
		{"-c h -n 10M", func(o *options) bool { return o.cfg.Bytes == 10<<20 && o.cfg.Duration == 0 }},
		{"-s -p 5555 -1", func(o *options) bool { return o.mode == modeServer && o.cfg.Port == 5555 && o.oneOff }},
		{"--loopback -P 4 -J", func(o *options) bool { return o.mode == modeLoopback && o.json }},
		{"-c h -6 -B ::1 -f m -O 2", func(o *options) bool {
			return o.cfg.Network == "tcp6" && o.cfg.BindAddr == "::1" && o.format == 'm' && o.cfg.Omit == 2*time.Second
		}},
		{"-c h -4 --json-stream -V", func(o *options) bool { return o.cfg.Network == "tcp4" && o.jsonStream && o.verbose }},
		{"-v", func(o *options) bool { return o.version }},
		{"-c h -u", func(o *options) bool { return o.cfg.UDP() && o.cfg.Rate == 1<<20 && o.cfg.BlockSize == 0 }},
		{"-c h -u -b 0 -l 1470 --udp-counters-64bit", func(o *options) bool {
			return o.cfg.UDP() && o.cfg.Rate == 0 && o.cfg.BlockSize == 1470 && o.cfg.Counters64
		}},
		{"-c h -u --bidir -b 100M --reverse-bitrate 20M", func(o *options) bool {
			return o.cfg.Rate == 100_000_000 && o.cfg.ReverseRate == 20_000_000
		}},
		{"-c h", func(o *options) bool { return !o.noTUI }},
		{"-c h --no-tui", func(o *options) bool { return o.noTUI }},
		{"-s --no-tui", func(o *options) bool { return o.noTUI && o.mode == modeServer }},
		{"--loopback --no-tui -P 2", func(o *options) bool { return o.noTUI && o.mode == modeLoopback }},
	}
	for _, g := range good {
		o, err := parseArgs(strings.Fields(g.args))
		if err != nil {
			t.Errorf("%q: %v", g.args, err)
			continue
		}
		if !g.check(o) {
			t.Errorf("%q: parsed %+v", g.args, o)
		}
	}
	bad := map[string]string{
		"":                    "choose a mode",
		"-s -c h":             "exclude each other",
		"-c h -P 0":           "parallel",
		"-c h -t abc":         "-t",
		"-c h -t -1":          "-t",
		"-c h -i 0.001":       "interval",
		"-c h -l 12Q":         "-l",
		"-c h -b fast":        "-b",
		"-c h -R --bidir":     "cannot be combined",
		"-c h -p 70000":       "port",
		"-c h --no-such-flag": "unknown flag",
		"-c h -4 -6":          "exclude each other",
		"-c h -f x":           "format",
		"-c h extra":          "unexpected argument",
		"-c h -1":             "server option",
		"-c h -n 0":           "-n",
	}
	for args, want := range bad {
		_, err := parseArgs(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", args, err, want)
		}
	}
}

// binary is flowscope built for the tests that run it as a process.
func binary(t *testing.T) string { return testbin.Flowscope(t) }

// runBin runs the binary with args and returns stdout, stderr, exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"-c", "127.0.0.1", "-P", "x"}, {}, {"-c", "127.0.0.1", "-t", "0"}, {"-c", "127.0.0.1", "-B", "notanaddress", "-t", "1"}} {
		_, stderr, code := runBin(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "flowscope: ") {
			t.Errorf("%v: stderr %q, want one line starting with 'flowscope: '", args, stderr)
		}
	}
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestUnreachableExit1(t *testing.T) {
	_, stderr, code := runBin(t, "-c", "127.0.0.1", "-p", strconv.Itoa(closedPort(t)), "-t", "1")
	if code != exitFailed || !strings.Contains(stderr, "connection refused") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	// With -J the error is inside a valid JSON document, not around it.
	stdout, _, code := runBin(t, "-c", "127.0.0.1", "-p", strconv.Itoa(closedPort(t)), "-t", "1", "-J")
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("-J output is not JSON: %v\n%s", err, stdout)
	}
	if code != exitFailed || !strings.Contains(doc["error"].(string), "connection refused") {
		t.Errorf("exit %d, error %v", code, doc["error"])
	}
}

func TestLoopbackText(t *testing.T) {
	stdout, stderr, code := runBin(t, "--loopback", "-t", "1", "-P", "3", "-i", "0.5", "-C", "cubic")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"[SUM]", "sender", "receiver"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestLoopbackJSON(t *testing.T) {
	stdout, stderr, code := runBin(t, "--loopback", "-t", "1", "-P", "2", "--bidir", "-J", "-C", "cubic")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Intervals []json.RawMessage `json:"intervals"`
		End       struct {
			SumSent     struct{ Bytes int64 } `json:"sum_sent"`
			SumReceived struct{ Bytes int64 } `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(doc.Intervals) == 0 || doc.End.SumSent.Bytes == 0 || doc.End.SumSent.Bytes != doc.End.SumReceived.Bytes {
		t.Errorf("intervals %d, sum_sent %d, sum_received %d", len(doc.Intervals), doc.End.SumSent.Bytes, doc.End.SumReceived.Bytes)
	}
}

// TestServerKilledMidTest: kill -9 the server process during a test; the
// client process exits non-zero with one clear error line, promptly.
func TestServerKilledMidTest(t *testing.T) {
	port := strconv.Itoa(closedPort(t))
	srv := exec.Command(binary(t), "-s", "-p", port, "-B", "127.0.0.1")
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	listening := bufio.NewScanner(srvOut)
	for listening.Scan() && !strings.Contains(listening.Text(), "listening") {
	}
	go func() {
		for listening.Scan() {
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := exec.CommandContext(ctx, binary(t), "-c", "127.0.0.1", "-p", port, "-t", "20", "-i", "0.2")
	cliOut, _ := cli.StdoutPipe()
	var cliErr bytes.Buffer
	cli.Stderr = &cliErr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(cliOut)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "sec") { // the first interval line
			break
		}
	}
	killed := time.Now()
	_ = srv.Process.Kill()
	go func() {
		for sc.Scan() {
		}
	}()
	err = cli.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFailed {
		t.Fatalf("client: %v, stderr %q", err, cliErr.String())
	}
	if took := time.Since(killed); took > 10*time.Second {
		t.Errorf("client needed %v to notice", took)
	}
	lines := strings.Split(strings.TrimSpace(cliErr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "flowscope: ") {
		t.Errorf("stderr %q, want one flowscope: line", cliErr.String())
	}
}

// TestClientKilledMidTest: kill -9 a client during a test; the server ends
// that test and serves the next client.
func TestClientKilledMidTest(t *testing.T) {
	port := strconv.Itoa(closedPort(t))
	srv := exec.Command(binary(t), "-s", "-p", port, "-B", "127.0.0.1", "--no-tui")
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(srvOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(what string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("server exited while waiting for %q; stderr: %s", what, srvErr.String())
				}
				if strings.Contains(l, what) {
					return
				}
			case <-timeout:
				t.Fatalf("server never printed %q", what)
			}
		}
	}
	waitFor("listening")

	cli := exec.Command(binary(t), "-c", "127.0.0.1", "-p", port, "-t", "30", "-i", "0.2", "--no-tui")
	cliOut, _ := cli.StdoutPipe()
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(cliOut)
	for sc.Scan() && !strings.Contains(sc.Text(), "sec") {
	}
	killed := time.Now()
	_ = cli.Process.Kill()
	_ = cli.Wait()
	waitFor("listening") // the server's banner after the broken test
	if took := time.Since(killed); took > 15*time.Second {
		t.Errorf("server needed %v to give up on the killed client", took)
	}
	stdout, stderr, code := runBin(t, "-c", "127.0.0.1", "-p", port, "-t", "0.5", "--no-tui")
	if code != 0 || !strings.Contains(stdout, "receiver") {
		t.Errorf("next client: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
