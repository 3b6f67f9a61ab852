package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
	"github.com/flowscope/flowscope/units"
)

// maxTargets bounds the servers of one multi-server run.
const maxTargets = 4096

// target is one server of a multi-server client run.
type target struct {
	Host string
	Port int // 0: the -p port
}

// addr is the target as host:port, with port filling in a missing port.
func (t target) addr(port int) string {
	if t.Port != 0 {
		port = t.Port
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(port))
}

// applyFleetFlags reads -c HOST,HOST… and --targets FILE into o.targets
// (left nil for a plain one-server client) and checks --metrics. Several
// servers, or a targets file, make a multi-server run: r.client becomes the
// first host so the rest of the parsing sees a client.
func applyFleetFlags(fs interface{ Changed(string) bool }, r *rawFlags, o *options) error {
	if r.metrics != "" {
		if !r.server {
			return errors.New("--metrics is a server option (-s)")
		}
		addr, err := metricsAddr(r.metrics)
		if err != nil {
			return err
		}
		o.metricsAddr = addr
	}
	var targets []target
	if strings.Contains(r.client, ",") {
		ts, err := parseTargetList(strings.Split(r.client, ","), "-c")
		if err != nil {
			return err
		}
		targets = ts
	}
	if fs.Changed("targets") {
		if r.targetsFile == "" {
			return errors.New("--targets needs a file name")
		}
		ts, err := readTargetsFile(r.targetsFile)
		if err != nil {
			return err
		}
		if targets == nil && r.client != "" {
			// -c HOST --targets FILE: HOST is one more target.
			one, err := parseTargetList([]string{r.client}, "-c")
			if err != nil {
				return err
			}
			targets = one
		}
		targets = append(targets, ts...)
	}
	if targets == nil {
		return nil
	}
	if len(targets) > maxTargets {
		return fmt.Errorf("%d servers given, at most %d per run", len(targets), maxTargets)
	}
	seen := map[string]bool{}
	for _, t := range targets {
		key := t.addr(r.port)
		if seen[key] {
			return fmt.Errorf("server %s is listed twice", key)
		}
		seen[key] = true
	}
	o.targets = targets
	r.client = targets[0].Host
	return nil
}

// readTargetsFile reads one HOST[:PORT] per line; blank lines and lines
// starting with # are skipped.
func readTargetsFile(path string) ([]target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read --targets: %w", err)
	}
	defer f.Close()
	var entries []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t,") {
			return nil, fmt.Errorf("--targets %s line %d: %q: one HOST[:PORT] per line", path, n, line)
		}
		if len(entries) >= maxTargets {
			return nil, fmt.Errorf("--targets %s: more than %d servers", path, maxTargets)
		}
		entries = append(entries, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read --targets %s: %w", path, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("--targets %s lists no server", path)
	}
	return parseTargetList(entries, "--targets")
}

// parseTargetList parses HOST, HOST:PORT, [V6ADDR]:PORT or a bare IPv6
// address for each entry.
func parseTargetList(entries []string, flag string) ([]target, error) {
	out := make([]target, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		t, err := parseTarget(e)
		if err != nil {
			return nil, fmt.Errorf("invalid %s server %q: %w", flag, e, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTarget(s string) (target, error) {
	switch {
	case s == "":
		return target{}, errors.New("empty server name")
	case strings.Contains(s, "%"):
		return target{}, errors.New("HOST%DEV is for one server: use --bind-dev DEV")
	case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
		if net.ParseIP(s) == nil {
			return target{}, errors.New("not an IPv6 address (write [ADDR]:PORT for a port)")
		}
		return target{Host: s}, nil
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		h := s[1 : len(s)-1]
		if net.ParseIP(h) == nil {
			return target{}, errors.New("not an IPv6 address")
		}
		return target{Host: h}, nil
	case strings.Contains(s, ":"):
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return target{}, errors.New("want HOST or HOST:PORT")
		}
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return target{}, fmt.Errorf("port %q out of range 1-65535", p)
		}
		if h == "" {
			return target{}, errors.New("empty host")
		}
		return target{Host: h, Port: port}, nil
	}
	return target{Host: s}, nil
}

// fleetRun is one server's test in a multi-server run.
type fleetRun struct {
	label  string // host:port
	cfg    engine.Config
	emit   func(engine.Event) // the outputs' handling of the test's events
	doc    bytes.Buffer
	held   *heldWriter
	logged bytes.Buffer // live UI: the findings, printed after it
	err    error
}

// heldWriter passes a reporter's output through to the shared output, one
// write at a time, until hold is set; from then on it keeps it (the
// summary, printed in target order once every test ended). hold is set
// from the reporter's own event goroutine, so it needs no lock.
type heldWriter struct {
	mu   *sync.Mutex
	out  io.Writer
	hold bool
	kept bytes.Buffer
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.hold {
		return h.kept.Write(p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out.Write(p)
}

// labelWriter inserts a server's label into each "flowscope: …" line.
type labelWriter struct {
	mu    *sync.Mutex
	w     io.Writer
	label string
}

func (l labelWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rest, ok := bytes.CutPrefix(p, []byte("flowscope: "))
	if !ok {
		return l.w.Write(p)
	}
	if _, err := fmt.Fprintf(l.w, "flowscope: %s: %s", l.label, rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

// streamLabeller adds "target" as the first key of each JSON line a
// --json-stream reporter writes (one line per Write).
type streamLabeller struct {
	mu    *sync.Mutex
	w     io.Writer
	field []byte // `{"target":"host:port",`
}

func (s streamLabeller) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) < 2 || p[0] != '{' {
		return s.w.Write(p)
	}
	line := append(append([]byte(nil), s.field...), p[1:]...)
	if _, err := s.w.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runFleet runs the same test against every target at once, one
// engine.Client each. On a terminal it shows the live UI of every server's
// test (runFleetTUI) and prints the text summaries after it. Text: each
// server's interval lines as they come, labelled by server, then each
// server's summary in turn and a SUM over all; -J: one document
// {"servers":[…],"sum":{…}} where each server's entry is its iperf3
// document with a "target" key; --json-stream: each line gets a "target"
// key, and a final "sum" event.
func runFleet(ctx context.Context, opts *options, stdout, stderr io.Writer) int {
	if !opts.noTUI && !opts.json && !opts.jsonStream && isTerminal(stdout) {
		return runFleetTUI(ctx, opts, stdout, stderr)
	}
	runs := newFleetRuns(opts, stdout, stderr, false)
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, run.err = engine.NewClient(run.cfg, run.emit).Run(ctx)
		}()
	}
	wg.Wait()
	return fleetResults(opts, runs, stdout, stderr)
}

// newFleetRuns sets up each target's test and its outputs. For the live UI
// (live) a server's text report is its summary only, kept for afterwards
// like its findings, since the UI owns the screen until every test ended.
func newFleetRuns(opts *options, stdout, stderr io.Writer, live bool) []*fleetRun {
	var outMu, errMu sync.Mutex
	runs := make([]*fleetRun, len(opts.targets))
	for i, tg := range opts.targets {
		cfg := opts.cfg
		cfg.Host = tg.Host
		if tg.Port != 0 {
			cfg.Port = tg.Port
		}
		run := &fleetRun{label: tg.addr(opts.cfg.Port), cfg: cfg}
		runs[i] = run
		ro := report.Options{Format: opts.format, Verbose: opts.verbose, Title: opts.out.title}
		doc := report.NewJSON(&run.doc, ro)
		var text report.Reporter
		switch {
		case opts.json:
		case opts.jsonStream:
			name, _ := json.Marshal(run.label)
			text = report.NewJSONStream(streamLabeller{&outMu, stdout, []byte(`{"target":` + string(name) + `,`)}, ro)
		default:
			run.held = &heldWriter{mu: &outMu, out: stdout, hold: live}
			ro.Title = strings.TrimSpace(opts.out.title + " " + run.label)
			ro.SummaryOnly = live
			text = report.NewText(run.held, ro)
		}
		errw := labelWriter{&errMu, stderr, run.label}
		if live {
			errw.w = &run.logged
		}
		handle := func(ev engine.Event) {
			doc.Handle(ev)
			if text == nil {
				return
			}
			if _, ok := ev.(*engine.End); ok && run.held != nil {
				run.held.hold = true
			}
			text.Handle(ev)
		}
		if opts.out.debug && !live {
			handle = withDebug(errw, handle)
		}
		run.emit = withFindings(errw, handle)
	}
	return runs
}

// fleetResults prints what the text, -J or --json-stream output prints
// once every test ended (each server's summary and the SUM over all of
// them, in text) and the servers' errors, and returns the exit code.
func fleetResults(opts *options, runs []*fleetRun, stdout, stderr io.Writer) int {
	sum := fleetSum(runs)
	switch {
	case opts.json:
		writeFleetJSON(stdout, runs, sum)
	case opts.jsonStream:
		b, _ := json.Marshal(struct {
			Event string        `json:"event"`
			Data  *fleetSummary `json:"data"`
		}{"sum", sum})
		_, _ = stdout.Write(append(b, '\n'))
	default:
		for _, r := range runs {
			_, _ = stdout.Write(r.held.kept.Bytes())
		}
		writeFleetText(stdout, sum, opts.format)
	}
	code := exitOK
	for _, r := range runs {
		if r.err != nil {
			fmt.Fprintf(stderr, "flowscope: %s: %v\n", r.label, r.err)
			code = exitFailed
		}
	}
	return code
}

// sumKeys are the totals of iperf3's "end" that the overall sum adds up,
// in output order.
var sumKeys = []string{"sum_sent", "sum_received", "sum_sent_bidir_reverse", "sum_received_bidir_reverse"}

// fleetTotal is one of the overall totals: bytes and retransmits and
// datagrams added up, the rates added up (the tests ran at once), the
// longest time.
type fleetTotal struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   *int64  `json:"retransmits,omitempty"`
	Packets       *uint64 `json:"packets,omitempty"`
	LostPackets   *int64  `json:"lost_packets,omitempty"`
	Sender        bool    `json:"sender"`
	Servers       int     `json:"servers"` // how many servers' results are in this total
}

// fleetSummary is the overall "sum" of a multi-server run.
type fleetSummary struct {
	Servers   int      `json:"servers"`
	Succeeded int      `json:"succeeded"`
	Failed    int      `json:"failed"`
	Errors    []string `json:"errors,omitempty"` // "host:port: error" per failed server
	totals    map[string]*fleetTotal
}

// MarshalJSON writes the counts, then the totals under iperf3's key names.
func (s *fleetSummary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	head, err := json.Marshal(struct {
		Servers   int      `json:"servers"`
		Succeeded int      `json:"succeeded"`
		Failed    int      `json:"failed"`
		Errors    []string `json:"errors,omitempty"`
	}{s.Servers, s.Succeeded, s.Failed, s.Errors})
	if err != nil {
		return nil, err
	}
	b.Write(head[:len(head)-1])
	for _, k := range sumKeys {
		t := s.totals[k]
		if t == nil {
			continue
		}
		v, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, ",%q:%s", k, v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// fleetSum adds up the servers' results as their iperf3 documents state
// them, so the overall sum always agrees with the per-server documents.
func fleetSum(runs []*fleetRun) *fleetSummary {
	s := &fleetSummary{Servers: len(runs), totals: map[string]*fleetTotal{}}
	for _, r := range runs {
		if r.err != nil {
			s.Failed++
			s.Errors = append(s.Errors, r.label+": "+r.err.Error())
		} else {
			s.Succeeded++
		}
		var doc struct {
			End map[string]json.RawMessage `json:"end"`
		}
		if json.Unmarshal(r.doc.Bytes(), &doc) != nil {
			continue
		}
		for _, k := range sumKeys {
			raw, ok := doc.End[k]
			if !ok {
				continue
			}
			var one fleetTotal
			if json.Unmarshal(raw, &one) != nil {
				continue
			}
			t := s.totals[k]
			if t == nil {
				t = &fleetTotal{Sender: one.Sender}
				s.totals[k] = t
			}
			t.Servers++
			t.Bytes += one.Bytes
			t.BitsPerSecond += one.BitsPerSecond
			t.End = max(t.End, one.End)
			t.Seconds = max(t.Seconds, one.Seconds)
			if one.Retransmits != nil {
				t.Retransmits = ptrTo(deref(t.Retransmits) + *one.Retransmits)
			}
			if one.Packets != nil {
				t.Packets = ptrTo(deref(t.Packets) + *one.Packets)
			}
			if one.LostPackets != nil {
				t.LostPackets = ptrTo(deref(t.LostPackets) + *one.LostPackets)
			}
		}
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// writeFleetJSON writes {"servers":[…],"sum":{…}}: each server's entry is
// exactly its iperf3 document (report.NewJSON's) with "target" added as
// the first key.
func writeFleetJSON(w io.Writer, runs []*fleetRun, sum *fleetSummary) {
	servers := make([]json.RawMessage, 0, len(runs))
	for _, r := range runs {
		doc := bytes.TrimSpace(r.doc.Bytes())
		name, _ := json.Marshal(r.label)
		if len(doc) < 2 || doc[0] != '{' {
			doc = []byte(`{"error":"no results"}`)
		}
		entry := []byte(`{"target":` + string(name))
		if rest := bytes.TrimSpace(doc[1:]); len(rest) > 0 && rest[0] != '}' {
			entry = append(entry, ',')
		}
		servers = append(servers, append(entry, doc[1:]...))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	err := enc.Encode(struct {
		Servers []json.RawMessage `json:"servers"`
		Sum     *fleetSummary     `json:"sum"`
	}{servers, sum})
	if err != nil {
		b.Reset()
		msg, _ := json.Marshal("flowscope: cannot encode the results: " + err.Error())
		b.WriteString(`{"servers":[],"sum":{},"error":` + string(msg) + "}\n")
	}
	_, _ = w.Write(b.Bytes())
}

// writeFleetText writes the overall [SUM] lines after the servers'
// summaries.
func writeFleetText(w io.Writer, s *fleetSummary, format byte) {
	if format == 0 {
		format = 'a'
	}
	fmt.Fprintf(w, "- - - - - - - - - - - - - - - - - - - - - - - - -\n")
	fmt.Fprintf(w, "All %d servers: %d succeeded, %d failed\n", s.Servers, s.Succeeded, s.Failed)
	bidir := s.totals["sum_sent_bidir_reverse"] != nil
	for _, k := range sumKeys {
		t := s.totals[k]
		if t == nil {
			continue
		}
		label := "[SUM]"
		if bidir {
			label += "[TX-C]"
			if strings.HasSuffix(k, "_reverse") {
				label = "[SUM][RX-C]"
			}
		}
		role := "receiver"
		if strings.HasPrefix(k, "sum_sent") {
			role = "sender"
		}
		retr := "      "
		if t.Retransmits != nil && role == "sender" {
			retr = fmt.Sprintf("  %4d", *t.Retransmits)
		}
		of := ""
		if t.Servers != s.Servers {
			of = fmt.Sprintf("  (%d of %d servers)", t.Servers, s.Servers)
		}
		fmt.Fprintf(w, "%s %6.2f-%-6.2f sec  %s  %s%s  %s%s\n", label, 0.0, t.Seconds,
			units.FormatBytes(float64(t.Bytes), 'A'), units.FormatRate(t.BitsPerSecond, format), retr, role, of)
	}
}
