package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/flowscope/flowscope/fleet"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestParseTargets(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := file("hosts", "# the fleet\nhostA\n\n  hostB:5300  # rack 2\n[fe80::1]:5301\n2001:db8::7\n")
	empty := file("empty", "# nobody\n\n")
	spaced := file("spaced", "hostA hostB\n")

	good := []struct {
		args string
		want []fleet.Target
	}{
		{"-c a,b", []fleet.Target{{Host: "a", Port: 0}, {Host: "b", Port: 0}}},
		{"-c a:5202,b,10.0.0.3:6000 -p 5300", []fleet.Target{{Host: "a", Port: 5202}, {Host: "b", Port: 0}, {Host: "10.0.0.3", Port: 6000}}},
		{"-c [::1]:5202,::1", []fleet.Target{{Host: "::1", Port: 5202}, {Host: "::1", Port: 0}}},
		{"--targets " + list, []fleet.Target{{Host: "hostA", Port: 0}, {Host: "hostB", Port: 5300}, {Host: "fe80::1", Port: 5301}, {Host: "2001:db8::7", Port: 0}}},
		{"-c first --targets " + list, []fleet.Target{{Host: "first", Port: 0}, {Host: "hostA", Port: 0}, {Host: "hostB", Port: 5300}, {Host: "fe80::1", Port: 5301}, {Host: "2001:db8::7", Port: 0}}},
		{"-c h", nil}, // one server: a plain client
	}
	for _, g := range good {
		o, err := parseArgs(strings.Fields(g.args))
		if err != nil {
			t.Errorf("%q: %v", g.args, err)
			continue
		}
		if fmt.Sprint(o.targets) != fmt.Sprint(g.want) {
			t.Errorf("%q: targets %v, want %v", g.args, o.targets, g.want)
		}
		// Several servers keep the live UI on a terminal (runFleetTUI).
		if g.want != nil && (o.mode != modeClient || o.cfg.Host != g.want[0].Host || o.noTUI) {
			t.Errorf("%q: mode %v host %q noTUI %v", g.args, o.mode, o.cfg.Host, o.noTUI)
		}
	}
	o, err := parseArgs([]string{"-s", "--metrics", ":9090"})
	if err != nil || o.metricsAddr != ":9090" || o.mode != modeServer {
		t.Errorf("-s --metrics :9090: %+v, %v", o, err)
	}
	if o, err := parseArgs([]string{"-s", "--metrics", "9100"}); err != nil || o.metricsAddr != ":9100" {
		t.Errorf("-s --metrics 9100: %v, %v", o, err)
	}

	bad := map[string]string{
		"-c a,,b":                          "empty server name",
		"-c a,a":                           "listed twice",
		"-c a,a:5201":                      "listed twice",
		"-c a,b:99999":                     "out of range",
		"-c a,b:x":                         "out of range",
		"-c a%eth0,b":                      "--bind-dev",
		"-c a,fe80::zz":                    "IPv6",
		"-s --targets " + list:             "exclude each other",
		"--loopback -c a,b":                "exclude each other",
		"--targets " + empty:               "lists no server",
		"--targets " + spaced:              "one HOST[:PORT] per line",
		"--targets " + dir + "/nope":       "read --targets",
		"-c a --metrics :9090":             "server option",
		"-s --metrics nonsense":            "invalid --metrics",
		"-s --metrics 127.0.0.1:70000":     "out of range",
		"-c a,b -R --bidir":                "cannot be combined",
		"-c " + strings.Repeat("h,", 5000): "empty server name",
	}
	for args, want := range bad {
		_, err := parseArgs(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want it to mention %q", args, err, want)
		}
	}
	many := make([]string, fleet.MaxTargets+1)
	for i := range many {
		many[i] = "h" + strconv.Itoa(i)
	}
	if _, err := parseArgs([]string{"-c", strings.Join(many, ",")}); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d targets: err = %v", len(many), err)
	}
}

// metricsServer is a `flowscope -s --metrics` process on loopback.
type metricsServer struct {
	port    int
	metrics string // the /metrics URL the server announced
}

func startMetricsServer(t *testing.T) *metricsServer {
	t.Helper()
	port := closedPort(t)
	cmd := exec.Command(binary(t), "-s", "-p", strconv.Itoa(port), "-B", "127.0.0.1", "--metrics", "127.0.0.1:0", "--max-tests", "2")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("server on port %d ignored SIGTERM", port)
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`metrics: serving (http://\S+/metrics)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				select {
				case listening <- true:
				default:
				}
			}
		}
	}()
	s := &metricsServer{port: port}
	timeout := time.After(30 * time.Second)
	for s.metrics == "" || listening != nil {
		select {
		case u := <-urls:
			s.metrics = u
		case <-listening:
			listening = nil
		case <-timeout:
			t.Fatalf("server on port %d: no metrics address or no listening banner", port)
		}
	}
	return s
}

func (s *metricsServer) target() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// bytesTotal scrapes flowscope_server_bytes_total{direction=dir}.
func (s *metricsServer) bytesTotal(t *testing.T, dir string) float64 {
	t.Helper()
	resp, err := http.Get(s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range fams["flowscope_server_bytes_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "direction" && l.GetValue() == dir {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s: no flowscope_server_bytes_total{direction=%q}", s.metrics, dir)
	return 0
}

// waitBytes waits until the server's scraped byte counter reaches want:
// the server reports a test's end just after the client has its results.
func (s *metricsServer) waitBytes(t *testing.T, dir string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.bytesTotal(t, dir)
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonTotal is one of the totals in the run's "sum" and in each server's
// "end", as the JSON states them.
type jsonTotal struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   *int64  `json:"retransmits,omitempty"`
	Packets       *uint64 `json:"packets,omitempty"`
	LostPackets   *int64  `json:"lost_packets,omitempty"`
	Sender        bool    `json:"sender"`
	Servers       int     `json:"servers"`
}

type fleetDoc struct {
	Servers []map[string]json.RawMessage `json:"servers"`
	Sum     struct {
		Servers, Succeeded, Failed int
		Errors                     []string
		SumSent                    *jsonTotal `json:"sum_sent"`
		SumReceived                *jsonTotal `json:"sum_received"`
		SumSentReverse             *jsonTotal `json:"sum_sent_bidir_reverse"`
		SumReceivedReverse         *jsonTotal `json:"sum_received_bidir_reverse"`
	} `json:"sum"`
}

type iperfEnd struct {
	SumSent            *jsonTotal `json:"sum_sent"`
	SumReceived        *jsonTotal `json:"sum_received"`
	SumSentReverse     *jsonTotal `json:"sum_sent_bidir_reverse"`
	SumReceivedReverse *jsonTotal `json:"sum_received_bidir_reverse"`
}

func runFleetCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// Three servers at once, one JSON document: each server's entry is its
// own iperf3 document, whose bytes equal what that server's metrics
// report; the sum adds them up.
func TestFleetJSONAgainstThreeServers(t *testing.T) {
	srvs := []*metricsServer{startMetricsServer(t), startMetricsServer(t), startMetricsServer(t)}
	var targets []string
	for _, s := range srvs {
		targets = append(targets, s.target())
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"forward", []string{"-P", "2"}},
		{"bidir", []string{"--bidir"}},
	} {
		before := make([][2]float64, len(srvs))
		for i, s := range srvs {
			before[i] = [2]float64{s.bytesTotal(t, "received"), s.bytesTotal(t, "sent")}
			if tc.name == "forward" && before[i] != [2]float64{} {
				t.Errorf("a fresh server reports %v bytes", before[i])
			}
		}
		args := append([]string{"-c", strings.Join(targets, ","), "-t", "1", "-i", "0.5", "-J"}, tc.args...)
		out, errOut, code := runFleetCLI(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d, stderr %s", tc.name, code, errOut)
		}
		var doc fleetDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", tc.name, err, head(out, 2000))
		}
		if len(doc.Servers) != 3 || doc.Sum.Servers != 3 || doc.Sum.Succeeded != 3 || doc.Sum.Failed != 0 {
			t.Fatalf("%s: %d servers, sum %+v", tc.name, len(doc.Servers), doc.Sum)
		}
		var sent, recv uint64
		var rate float64
		for i, entry := range doc.Servers {
			var tgt string
			_ = json.Unmarshal(entry["target"], &tgt)
			if tgt != targets[i] {
				t.Errorf("%s: servers[%d].target = %q, want %q", tc.name, i, tgt, targets[i])
			}
			for _, k := range []string{"start", "intervals", "end", "flowscope"} {
				if entry[k] == nil {
					t.Errorf("%s: servers[%d] lacks iperf3's %q", tc.name, i, k)
				}
			}
			if entry["error"] != nil {
				t.Errorf("%s: servers[%d] error %s", tc.name, i, entry["error"])
			}
			var end iperfEnd
			if err := json.Unmarshal(entry["end"], &end); err != nil || end.SumSent == nil || end.SumReceived == nil {
				t.Fatalf("%s: servers[%d].end: %v %s", tc.name, i, err, head(string(entry["end"]), 500))
			}
			// Forward streams: the server received what end.sum_received
			// says; bidir reverse streams: it sent what
			// sum_sent_bidir_reverse says.
			wantRecv := before[i][0] + float64(end.SumReceived.Bytes)
			if got := srvs[i].waitBytes(t, "received", wantRecv); got != wantRecv {
				t.Errorf("%s: %s metrics say %v bytes received, its JSON %d (+%v before)", tc.name, tgt, got, end.SumReceived.Bytes, before[i][0])
			}
			wantSent := before[i][1]
			if end.SumSentReverse != nil {
				wantSent += float64(end.SumSentReverse.Bytes)
			}
			if got := srvs[i].waitBytes(t, "sent", wantSent); got != wantSent {
				t.Errorf("%s: %s metrics say %v bytes sent, its JSON %v", tc.name, tgt, got, wantSent-before[i][1])
			}
			if (tc.name == "bidir") != (end.SumSentReverse != nil) {
				t.Errorf("%s: servers[%d] bidir keys: %v", tc.name, i, end.SumSentReverse)
			}
			sent += end.SumSent.Bytes
			recv += end.SumReceived.Bytes
			rate += end.SumSent.BitsPerSecond
		}
		if doc.Sum.SumSent == nil || doc.Sum.SumSent.Bytes != sent || doc.Sum.SumReceived.Bytes != recv || doc.Sum.SumSent.Servers != 3 {
			t.Errorf("%s: sum %+v / %+v, want sent %d received %d", tc.name, doc.Sum.SumSent, doc.Sum.SumReceived, sent, recv)
		}
		if d := doc.Sum.SumSent.BitsPerSecond - rate; d > 1 || d < -1 {
			t.Errorf("%s: sum rate %v, want the servers' rates added up: %v", tc.name, doc.Sum.SumSent.BitsPerSecond, rate)
		}
		if tc.name == "bidir" && (doc.Sum.SumSentReverse == nil || doc.Sum.SumReceivedReverse == nil) {
			t.Errorf("bidir: sum lacks the reverse totals: %+v", doc.Sum)
		}
	}
}

// Text output: interval lines labelled by server as they come, then each
// server's summary in turn, then the SUM over all; one server down makes
// the exit status 1 with one labelled line, and the others still report.
func TestFleetTextWithOneServerDown(t *testing.T) {
	a, b := startMetricsServer(t), startMetricsServer(t)
	down := "127.0.0.1:" + strconv.Itoa(closedPort(t))
	list := filepath.Join(t.TempDir(), "targets")
	if err := os.WriteFile(list, []byte(a.target()+"\n"+down+"\n# spare\n"+b.target()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runFleetCLI(t, "--targets", list, "-t", "1", "-i", "0.5")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFailed, errOut)
	}
	// Findings (warnings about the host, e.g. receive windows on a busy
	// machine) may come too; the errors are one line about the server down.
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.Contains(l, "warning: ") && !strings.Contains(l, "info: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "flowscope: "+down+": unable to connect") {
		t.Errorf("stderr %q, want one line about %s", errOut, down)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	summaryOf := map[string]int{}
	sumAt := -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "All 3 servers: 2 succeeded, 1 failed"):
			sumAt = i
		case sumAt >= 0 || l == strings.Repeat("- ", 24)+"-":
		case strings.HasPrefix(l, a.target()+":  "), strings.HasPrefix(l, b.target()+":  "):
			if strings.HasSuffix(l, "sender") {
				summaryOf[l[:strings.Index(l, ":  ")]] = i
			}
		default:
			t.Errorf("line %d has no server label: %q", i, l)
		}
	}
	if sumAt < 0 || summaryOf[a.target()] == 0 || summaryOf[b.target()] == 0 {
		t.Fatalf("missing summaries or overall sum:\n%s", out)
	}
	// a's summary comes whole before b's, whichever ended first.
	if summaryOf[a.target()] > summaryOf[b.target()] {
		t.Errorf("summaries out of target order:\n%s", out)
	}
	for _, l := range lines[summaryOf[a.target()]+1 : summaryOf[b.target()]] {
		if strings.Contains(l, "sec") && strings.HasPrefix(l, b.target()) && strings.HasSuffix(strings.TrimSpace(l), "sec") {
			t.Errorf("an interval line of %s inside the summaries: %q", b.target(), l)
		}
	}
	var sums []string
	for _, l := range lines[sumAt+1:] {
		if strings.HasPrefix(l, "[SUM]") {
			sums = append(sums, l)
		}
	}
	if len(sums) != 2 || !strings.HasSuffix(sums[0], "sender  (2 of 3 servers)") || !strings.HasSuffix(sums[1], "receiver  (2 of 3 servers)") {
		t.Errorf("overall SUM lines %q", sums)
	}
}

// --json-stream: every line names its server; the last is the sum.
func TestFleetJSONStream(t *testing.T) {
	a, b := startMetricsServer(t), startMetricsServer(t)
	out, errOut, code := runFleetCLI(t, "-c", a.target()+","+b.target(), "-t", "1", "-i", "0.5", "--json-stream")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	ends := map[string]int{}
	for i, l := range lines {
		var ev struct {
			Target string          `json:"target"`
			Event  string          `json:"event"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d not JSON: %v: %q", i, err, l)
		}
		if i == len(lines)-1 {
			var sum struct{ Servers, Succeeded int }
			if ev.Event != "sum" || ev.Target != "" || json.Unmarshal(ev.Data, &sum) != nil || sum.Servers != 2 || sum.Succeeded != 2 {
				t.Errorf("last line %q, want the sum event", l)
			}
			continue
		}
		if ev.Target != a.target() && ev.Target != b.target() {
			t.Errorf("line %d target %q", i, ev.Target)
		}
		if !strings.HasPrefix(l, `{"target":`) {
			t.Errorf("line %d does not start with the target: %q", i, head(l, 80))
		}
		if ev.Event == "end" {
			ends[ev.Target]++
		}
	}
	if ends[a.target()] != 1 || ends[b.target()] != 1 {
		t.Errorf("end events per server: %v", ends)
	}
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
