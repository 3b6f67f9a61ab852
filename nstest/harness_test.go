//go:build linux

package nstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

// flowscopeBin is the flowscope command built with -race for these tests.
func flowscopeBin(t *testing.T) string { return testbin.Flowscope(t) }

// capture collects a process's stdout or stderr and hands every complete
// line to onLine (if set) as it arrives.
type capture struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	part   []byte
	onLine func(string)
}

func (o *capture) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.onLine == nil {
		return len(p), nil
	}
	o.part = append(o.part, p...)
	for {
		i := bytes.IndexByte(o.part, '\n')
		if i < 0 {
			break
		}
		o.onLine(string(o.part[:i]))
		o.part = o.part[i+1:]
	}
	return len(p), nil
}

func (o *capture) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// proc is a flowscope process running inside a namespace.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *capture
	done           chan struct{}
	waitErr        error
	elapsed        time.Duration
}

type procOpts struct {
	// wrap is prepended to the flowscope command line, e.g. prlimit.
	wrap []string
	// onStdoutLine sees every stdout line as it arrives.
	onStdoutLine func(string)
	// timeout bounds the process; it is killed after it.
	timeout time.Duration
}

// startFlowscope runs flowscope args inside ns. The process is killed
// after o.timeout and in t.Cleanup.
func startFlowscope(t *testing.T, name string, ns Namespace, o procOpts, args ...string) *proc {
	t.Helper()
	bin := flowscopeBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	argv := append(append(append([]string(nil), o.wrap...), bin), args...)
	p := &proc{
		name:   name,
		cmd:    ns.Command(ctx, argv[0], argv[1:]...),
		stdout: &capture{onLine: o.onStdoutLine},
		stderr: &capture{},
		done:   make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	t.Logf("%s: ip netns exec %s %s", name, ns.Name, strings.Join(argv, " "))
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.elapsed = time.Since(start)
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) alive() bool { return !p.exited() }

// kill ends the process now (SIGKILL).
func (p *proc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
}

// wait waits for the process to end and returns its exit code, or -1 if
// it was killed (timeout) or could not run.
func (p *proc) wait() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// describe is the exit status and both outputs, for failure messages.
func (p *proc) describe() string {
	<-p.done
	return fmt.Sprintf("%s: exit %v after %v\n--- stderr:\n%s\n--- stdout (first 4000 bytes):\n%s",
		p.name, p.waitErr, p.elapsed.Round(time.Millisecond), tail(p.stderr.String(), 4000), head(p.stdout.String(), 4000))
}

func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[…]"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[…]\n" + s[len(s)-n:]
}

// crashMarkers are printed by the Go runtime and the race detector.
var crashMarkers = []string{"panic:", "fatal error:", "WARNING: DATA RACE", "goroutine 1 [", "SIGSEGV"}

// checkNoCrash fails t if p's stderr shows a panic, a runtime fatal error
// or a data race.
func checkNoCrash(t *testing.T, p *proc) {
	t.Helper()
	<-p.done
	errOut := p.stderr.String()
	for _, m := range crashMarkers {
		if strings.Contains(errOut, m) {
			t.Errorf("%s crashed or raced (%q in stderr):\n%s", p.name, m, tail(errOut, 6000))
			return
		}
	}
}

// startServer runs `flowscope -s -p port -1` (plus extra) in ns and waits
// until it listens.
func startServer(t *testing.T, ns Namespace, port int, timeout time.Duration, extra ...string) *proc {
	t.Helper()
	args := append([]string{"-s", "-p", fmt.Sprint(port), "-1"}, extra...)
	srv := startFlowscope(t, "server", ns, procOpts{timeout: timeout}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ns.WaitListening(ctx, port, srv.alive); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.describe())
	}
	return srv
}

// Finding is one entry of flowscope.findings (the contract of the
// kernel-diagnosis issue).
type Finding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	What     string `json:"what"`
	Evidence string `json:"evidence"`
	Fix      string `json:"fix"`
	// Origin is the side that made it: "client" or "server".
	Origin string `json:"origin"`
	// Direction: "client-to-server", "server-to-client" or "" (the test).
	Direction string `json:"direction"`
	Streams   []int  `json:"streams"`
	// Start and End are seconds since the test started; End is null while
	// the finding still holds.
	Start *float64 `json:"start"`
	End   *float64 `json:"end"`
}

func (f Finding) String() string {
	span := "no span"
	switch {
	case f.Start != nil && f.End != nil:
		span = fmt.Sprintf("%.1f–%.1f s", *f.Start, *f.End)
	case f.Start != nil:
		span = fmt.Sprintf("since %.1f s", *f.Start)
	}
	return fmt.Sprintf("[%s %s %s %v] %s %s: %s (%s). Fix: %s", span, f.Origin, f.Direction, f.Streams, f.Severity, f.Kind, f.What, f.Evidence, f.Fix)
}

// StreamDiag is one entry of flowscope.streams.
type StreamDiag struct {
	ID     int    `json:"socket"`
	State  string `json:"state"`
	Reason string `json:"reason"`
}

// Extras is the top-level "flowscope" object of -J output, and the data of
// the "flowscope" event of --json-stream.
type Extras struct {
	Findings     []Finding       `json:"findings"`
	Streams      []StreamDiag    `json:"streams"`
	ConnectTimes json.RawMessage `json:"connect_time_us"`
	// Raw is the whole object, for messages and for keys outside the
	// contract.
	Raw map[string]json.RawMessage `json:"-"`
}

// Result is the part of a -J document the tests look at.
type Result struct {
	End struct {
		Streams     []json.RawMessage `json:"streams"`
		SumReceived *struct {
			Bytes uint64 `json:"bytes"`
		} `json:"sum_received"`
		SumSent *struct {
			Bytes uint64 `json:"bytes"`
		} `json:"sum_sent"`
	} `json:"end"`
	Error     string          `json:"error"`
	Flowscope json.RawMessage `json:"flowscope"`
}

// parseResult decodes p's -J document.
func parseResult(t *testing.T, p *proc) (*Result, *Extras) {
	t.Helper()
	out := p.stdout.String()
	var r Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%s: stdout is not one JSON document: %v\n%s", p.name, err, p.describe())
	}
	return &r, parseExtras(t, p.name, r.Flowscope)
}

// parseExtras decodes a "flowscope" object; it fails t when it is absent.
func parseExtras(t *testing.T, who string, raw json.RawMessage) *Extras {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		t.Errorf("%s: no top-level \"flowscope\" object in the JSON output", who)
		return &Extras{}
	}
	var x Extras
	if err := json.Unmarshal(raw, &x); err != nil {
		t.Errorf("%s: \"flowscope\" object does not match the contract: %v\n%s", who, err, head(string(raw), 2000))
		return &Extras{}
	}
	_ = json.Unmarshal(raw, &x.Raw)
	return &x
}

// findingsOf returns the findings of the given kinds.
func (x *Extras) findingsOf(kinds ...string) []Finding {
	var out []Finding
	for _, f := range x.Findings {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, f)
			}
		}
	}
	return out
}

// summary lists findings and the keys present, for failure messages.
func (x *Extras) summary() string {
	var b strings.Builder
	keys := make([]string, 0, len(x.Raw))
	for k := range x.Raw {
		keys = append(keys, k)
	}
	fmt.Fprintf(&b, "flowscope keys %v; %d finding(s)", keys, len(x.Findings))
	for _, f := range x.Findings {
		fmt.Fprintf(&b, "\n  %s", f)
	}
	reasons := map[string]int{}
	for _, s := range x.Streams {
		r, _, _ := strings.Cut(s.Reason, " (") // drop per-stream numbers
		reasons[s.State+"/"+r]++
	}
	if len(reasons) > 0 {
		fmt.Fprintf(&b, "\n  stream state/reason counts: %v", reasons)
	}
	return b.String()
}

// checkStreamKeys fails t unless every flowscope.streams entry carries the
// contract's keys "socket" and "state".
func checkStreamKeys(t *testing.T, x *Extras) {
	t.Helper()
	var entries []map[string]json.RawMessage
	if raw, ok := x.Raw["streams"]; !ok || json.Unmarshal(raw, &entries) != nil || len(entries) == 0 {
		t.Errorf("flowscope.streams is missing or empty\n%s", x.summary())
		return
	}
	for _, e := range entries {
		for _, k := range []string{"socket", "state"} {
			if _, ok := e[k]; !ok {
				keys := make([]string, 0, len(e))
				for k := range e {
					keys = append(keys, k)
				}
				t.Errorf("flowscope.streams entries lack the key %q (keys: %v)", k, keys)
				return
			}
		}
	}
}

var severities = map[string]bool{"info": true, "warning": true, "critical": true}

// checkFinding fails t unless f is well formed: a known severity and a
// non-empty what, evidence and fix.
func checkFinding(t *testing.T, f Finding) {
	t.Helper()
	if !severities[f.Severity] {
		t.Errorf("finding %s: severity %q is not info, warning or critical", f.Kind, f.Severity)
	}
	for field, v := range map[string]string{"what": f.What, "evidence": f.Evidence, "fix": f.Fix} {
		if strings.TrimSpace(v) == "" {
			t.Errorf("finding %s has an empty %q (every finding names what, its evidence and the fix): %s", f.Kind, field, f)
		}
	}
}

// findingLine is the text-mode form of a finding on stderr.
var findingLine = regexp.MustCompile(`^flowscope: (info|warning|critical): (.+) \((.*)\)\. Fix: (.+)$`)

// findingLines returns the stderr lines in the text-mode finding format.
func findingLines(stderr string) [][]string {
	var out [][]string
	for _, line := range strings.Split(stderr, "\n") {
		if m := findingLine.FindStringSubmatch(line); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errNoEvent = errors.New("no such event")

// streamEvent is one line of --json-stream output.
type streamEvent struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// events decodes --json-stream output, skipping lines that are not JSON.
func events(out string) []streamEvent {
	var evs []streamEvent
	for _, line := range strings.Split(out, "\n") {
		var ev streamEvent
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Event != "" {
			evs = append(evs, ev)
		}
	}
	return evs
}

// lastEvent returns the data of the last event named name.
func lastEvent(evs []streamEvent, name string) (json.RawMessage, error) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == name {
			return evs[i].Data, nil
		}
	}
	return nil, fmt.Errorf("%q: %w", name, errNoEvent)
}
