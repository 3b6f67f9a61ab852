package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIperf3OptionMatrix: every iperf3 3.12 option either sets what it
// should or is refused with one line naming it.
func TestIperf3OptionMatrix(t *testing.T) {
	applied := []struct {
		args  string
		check func(*options) bool
	}{
		{"-c h -k 100", func(o *options) bool { return o.cfg.Blocks == 100 && o.cfg.Duration == 0 }},
		{"-c h -T run1", func(o *options) bool { return o.cfg.Title == "run1" && o.out.Title == "run1" }},
		{"-c h --extra-data x=1", func(o *options) bool { return o.cfg.ExtraData == "x=1" }},
		{"-c h --get-server-output", func(o *options) bool { return o.cfg.GetServerOutput }},
		{"-c h -Z", func(o *options) bool { return o.cfg.ZeroCopy }},
		{"-c h --skip-rx-copy", func(o *options) bool { return o.cfg.SkipRxCopy }},
		{"-c h -u --no-gso", func(o *options) bool { return o.cfg.NoGSO }},
		{"-c h --cport 40000", func(o *options) bool { return o.cfg.CPort == 40000 }},
		{"-c h -S 0x34", func(o *options) bool { return o.cfg.TOS == 52 }},
		{"-c h -S 064", func(o *options) bool { return o.cfg.TOS == 52 }},
		{"-c h --dscp EF", func(o *options) bool { return o.cfg.TOS == 46<<2 }},
		{"-c h --dscp 10", func(o *options) bool { return o.cfg.TOS == 40 }},
		{"-c h -M 1400", func(o *options) bool { return o.cfg.MSS == 1400 }},
		{"-c h -N", func(o *options) bool { return o.cfg.NoDelay }},
		{"-c h --logfile /tmp/x.log", func(o *options) bool { return o.out.Logfile == "/tmp/x.log" }},
		{"-c h --forceflush", func(o *options) bool { return true }},
		{"-c h --timestamps", func(o *options) bool { return o.out.Timestamps == "%c " }},
		{"-c h --timestamps=%T", func(o *options) bool { return o.out.Timestamps == "%T" }},
		{"-c h -I /tmp/fs.pid", func(o *options) bool { return o.out.Pidfile == "/tmp/fs.pid" }},
		{"-s -D", func(o *options) bool { return o.out.Daemon }},
		{"-c h -A 1", func(o *options) bool { return o.affinity == 1 && o.cfg.ServerAffinity == -1 }},
		{"-c h -A 0,1", func(o *options) bool { return o.affinity == 0 && o.cfg.ServerAffinity == 1 }},
		{"-c h -A 1/1", func(o *options) bool {
			return o.affinity == 1 && o.cfg.ServerAffinity == -1 && len(o.notes) == 1 && strings.Contains(o.notes[0], "CPU 1 only")
		}},
		{"-s --server-max-duration 30", func(o *options) bool { return o.server.MaxDuration == 30*time.Second }},
		{"-c h -u --gsro", func(o *options) bool { return !o.cfg.NoGSO }},
		{"-c h -m", func(o *options) bool { return o.cfg.MPTCP }},
		{"-c h --mptcp", func(o *options) bool { return o.cfg.MPTCP }},
		{"-s -m", func(o *options) bool { return len(o.notes) == 1 && strings.Contains(o.notes[0], "MPTCP") }},
		{"-c h --cntl-ka", func(o *options) bool {
			ka := o.cfg.ControlKeepAlive
			return ka != nil && ka.Enable && ka.Idle < 0 && ka.Interval < 0 && ka.Count < 0
		}},
		{"-c h --cntl-ka=20/5/3", func(o *options) bool {
			ka := o.cfg.ControlKeepAlive
			return ka != nil && ka.Idle == 20*time.Second && ka.Interval == 5*time.Second && ka.Count == 3
		}},
		{"-s --cntl-ka=30", func(o *options) bool {
			ka := o.server.ControlKeepAlive
			return ka != nil && ka.Idle == 30*time.Second && ka.Interval < 0 && ka.Count < 0
		}},
		{"-c h -J --json-stream", func(o *options) bool { return o.jsonStream && !o.json && !o.jsonFull }},
		{"-c h --json-stream --json-stream-full-output", func(o *options) bool { return o.jsonStream && o.jsonFull }},
		{"-c h --connect-timeout 2500", func(o *options) bool { return o.cfg.ConnectTimeout == 2500*time.Millisecond }},
		{"-c h --rcv-timeout 5000", func(o *options) bool { return o.cfg.StallTimeout == 5*time.Second }},
		{"-s --rcv-timeout 5000", func(o *options) bool { return o.server.StallTimeout == 5*time.Second }},
		{"-c h --snd-timeout 3000", func(o *options) bool { return o.cfg.SndTimeout == 3*time.Second }},
		{"-s -1 --idle-timeout 30", func(o *options) bool { return o.server.IdleTimeout == 30*time.Second }},
		{"-s --server-bitrate-limit 1G/5", func(o *options) bool { return o.server.MaxBitrate == 1_000_000_000 }},
		{"-c h --fq-rate 100M", func(o *options) bool { return o.cfg.FQRate == 100_000_000 }},
		{"-c h --pacing-timer 1000", func(o *options) bool { return len(o.notes) == 1 && strings.Contains(o.notes[0], "--pacing-timer") }},
		{"-c h -u --dont-fragment", func(o *options) bool { return o.cfg.DontFragment }},
		{"-c h --repeating-payload", func(o *options) bool { return o.cfg.RepeatingPayload }},
		{"-c h --bind-dev lo", func(o *options) bool { return o.cfg.BindDev == "lo" }},
		{"-c h -d", func(o *options) bool { return o.out.Debug }},
		{"-c h -b 10M/4 -u", func(o *options) bool { return o.cfg.Rate == 10_000_000 && o.cfg.Burst == 4 }},
		{"-c h%lo", func(o *options) bool { return o.cfg.Host == "h" && o.cfg.BindDev == "lo" }},
		{"-c h -B 127.0.0.1%lo", func(o *options) bool { return o.cfg.BindAddr == "127.0.0.1" && o.cfg.BindDev == "lo" }},
	}
	for _, a := range applied {
		o, err := parseArgs(strings.Fields(a.args))
		if err != nil {
			t.Errorf("%q: %v", a.args, err)
			continue
		}
		if !a.check(o) {
			t.Errorf("%q: not applied: %+v", a.args, o)
		}
	}
	refused := map[string]string{
		"-c h --sctp":                                 "SCTP",
		"-c h -X eth0":                                "SCTP",
		"-c h --nstreams 2":                           "SCTP",
		"-c h --username u":                           "RSA authentication",
		"-c h --rsa-public-key-path k":                "RSA authentication",
		"-s --rsa-private-key-path k":                 "RSA authentication",
		"-s --authorized-users-path f":                "RSA authentication",
		"-s --time-skew-threshold 5":                  "RSA authentication",
		"-c h --use-pkcs1-padding":                    "RSA authentication",
		"-c h -n 5M -t 2":                             "only one test end condition (-t, -n, -k) may be specified",
		"-c h -k 10 -n 5M":                            "only one test end condition",
		"-c h -t 1 -k 10":                             "only one test end condition",
		"-c h --server-max-duration 3":                "server option",
		"-s --max-duration 3 --server-max-duration 3": "exclude each other",
		"-c h -u --gsro --no-gso":                     "exclude each other",
		"-c h --json-stream-full-output":              "needs --json-stream",
		"-c h -L 5":                                   "flow labels",
		"-c h -F file":                                "-F/--file",
		"-c h -S 300":                                 "-S",
		"-c h --dscp XX":                              "--dscp",
		"-c h -M 20":                                  "-M",
		"-c h -D":                                     "server option",
		"-c h --connect-timeout soon":                 "--connect-timeout",
		"-c h -A x":                                   "-A",
		"-c h -b 10M/x":                               "burst",
		"-c h -Z -u":                                  "-Z applies to TCP only",
		"-c h --cntl-ka=5/5/2":                        "should be larger than the full retry period",
		"-c h --cntl-ka=abc":                          "--cntl-ka",
	}
	for args, want := range refused {
		_, err := parseArgs(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", args, err, want)
		}
	}
}

// TestOptionsEndToEnd: options that change what moves, checked on a real
// loopback test.
func TestOptionsEndToEnd(t *testing.T) {
	// -k: exactly that many blocks.
	stdout, stderr, code := runBin(t, "--loopback", "--no-tui", "-k", "50", "-l", "64K", "-J")
	if code != 0 {
		t.Fatalf("-k: exit %d: %s", code, stderr)
	}
	var doc struct {
		End struct {
			SumSent struct{ Bytes int64 } `json:"sum_sent"`
		} `json:"end"`
		Title     string `json:"title"`
		ExtraData string `json:"extra_data"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.End.SumSent.Bytes != 50*65536 {
		t.Errorf("-k 50 -l 64K sent %d bytes, want %d", doc.End.SumSent.Bytes, 50*65536)
	}
	// -Z sends with sendfile and still delivers every byte.
	stdout, stderr, code = runBin(t, "--loopback", "--no-tui", "-Z", "-t", "0.5", "-P", "2")
	if code != 0 || !strings.Contains(stdout, "receiver") {
		t.Errorf("-Z: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// --logfile takes the output; --pidfile exists while running and
	// is gone afterwards.
	dir := t.TempDir()
	log, pid := filepath.Join(dir, "out.log"), filepath.Join(dir, "fs.pid")
	stdout, _, code = runBin(t, "--loopback", "-t", "0.3", "--logfile", log, "-I", pid, "--timestamps=%H:%M:%S ")
	if code != 0 || stdout != "" {
		t.Errorf("--logfile: exit %d, stdout %q", code, stdout)
	}
	b, _ := os.ReadFile(log)
	if !bytes.Contains(b, []byte("receiver")) || !bytes.Contains(b, []byte(":")) {
		t.Errorf("log file:\n%s", b)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

// TestIperf321CommandLine: the iperf3 3.17-3.21 command-line behaviours
// on the real binary: conflicting end conditions exit 1 as in iperf3, a
// failed -J --logfile test leaves a valid JSON document with the error in
// it, and --json-stream-full-output writes the events, then the document.
func TestIperf321CommandLine(t *testing.T) {
	_, stderr, code := runBin(t, "-c", "127.0.0.1", "-n", "5M", "-t", "1")
	if code != 1 || !strings.Contains(stderr, "only one test end condition (-t, -n, -k) may be specified") {
		t.Errorf("-n 5M -t 1: exit %d, stderr %q; want exit 1 and iperf3's reason", code, stderr)
	}

	// Nothing listens on a port just closed: the test fails to connect.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	log := filepath.Join(t.TempDir(), "run.json")
	_, stderr, code = runBin(t, "-c", "127.0.0.1", "-p", port, "-t", "1", "-J", "--logfile", log)
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Error == "" || code != 1 {
		t.Errorf("-J --logfile of a failed test: exit %d, JSON error %v, error key %q:\n%s", code, err, doc.Error, data)
	}
	if !strings.Contains(stderr, doc.Error) {
		t.Errorf("stderr %q does not carry the error %q", stderr, doc.Error)
	}

	stdout, stderr, code := runBin(t, "--loopback", "-t", "0.5", "-i", "0.25", "--json-stream", "--json-stream-full-output")
	if code != 0 {
		t.Fatalf("--json-stream-full-output: exit %d: %s", code, stderr)
	}
	var events []string
	rest := stdout
	for strings.HasPrefix(rest, `{"event":`) {
		line, tail, _ := strings.Cut(rest, "\n")
		var ev struct{ Event string }
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		events = append(events, ev.Event)
		rest = tail
	}
	var full struct {
		Start     map[string]any   `json:"start"`
		Intervals []map[string]any `json:"intervals"`
		End       map[string]any   `json:"end"`
	}
	if err := json.Unmarshal([]byte(rest), &full); err != nil || len(full.Intervals) == 0 || full.End["sum_sent"] == nil {
		t.Errorf("after the events: %v, want the -J document:\n%s", err, rest)
	}
	if len(events) < 3 || events[0] != "start" || events[len(events)-1] != "end" {
		t.Errorf("events %v, want start … end", events)
	}
}
