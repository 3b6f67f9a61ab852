// Package fleet runs one test against several servers at once (-c A,B,C or
// --targets FILE), one engine.Client each, and writes what the text, -J and
// --json-stream outputs show of such a run: each server's report, labelled
// by server, and the sum over all of them (report.FleetSum).
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
)

// Format is the output a run writes.
type Format int

// The outputs of a run.
const (
	Text       Format = iota // interval lines as they come, then each server's summary and the SUM
	JSON                     // one document {"servers":[…],"sum":{…}}
	JSONStream               // each line with a "target" key, then a "sum" event
)

// Options describe a run.
type Options struct {
	// Config is the test; each target's Host and Port replace its own.
	Config  engine.Config
	Targets []Target
	Report  report.Options // units, -V, title
	Output  Format
	// Debug logs every event on stderr (-d).
	Debug bool
	// Live: a live view owns the screen until every test ended, so the text
	// output keeps only each server's summary and stderr's lines are kept,
	// all printed by Finish.
	Live bool
}

// Fleet is one multi-server run.
type Fleet struct {
	opts           Options
	stdout, stderr io.Writer
	runs           []*run
}

// run is one server's test.
type run struct {
	label  string // host:port
	cfg    engine.Config
	handle func(engine.Event) // the outputs' handling of the test's events
	doc    bytes.Buffer       // its iperf3 document (-J)
	held   *heldWriter        // text: its summary, kept for Finish
	logged bytes.Buffer       // live: its stderr lines, kept for Finish
	start  *engine.Start
	end    *engine.End
	err    error
	panic  string // a panic in the test's goroutine, with its stack
}

// New sets up every target's test and its outputs on stdout and stderr.
func New(opts Options, stdout, stderr io.Writer) *Fleet {
	f := &Fleet{opts: opts, stdout: stdout, stderr: stderr}
	var outMu, errMu sync.Mutex
	for _, tg := range opts.Targets {
		cfg := opts.Config
		cfg.Host = tg.Host
		if tg.Port != 0 {
			cfg.Port = tg.Port
		}
		r := &run{label: tg.Addr(opts.Config.Port), cfg: cfg}
		f.runs = append(f.runs, r)
		r.handle = f.outputs(r, &outMu, &errMu)
	}
	return f
}

// outputs is how one test's events reach the run's outputs.
func (f *Fleet) outputs(r *run, outMu, errMu *sync.Mutex) func(engine.Event) {
	ro := f.opts.Report
	doc := report.NewJSON(&r.doc, ro)
	var text report.Reporter
	switch f.opts.Output {
	case JSON:
	case JSONStream:
		name, _ := json.Marshal(r.label)
		text = report.NewJSONStream(streamLabeller{outMu, f.stdout, []byte(`{"target":` + string(name) + `,`)}, ro)
	default:
		r.held = &heldWriter{mu: outMu, out: f.stdout, hold: f.opts.Live}
		ro.Title = strings.TrimSpace(ro.Title + " " + r.label)
		ro.SummaryOnly = f.opts.Live
		text = report.NewText(r.held, ro)
	}
	errw := labelWriter{errMu, f.stderr, r.label}
	if f.opts.Live {
		errw.w = &r.logged
	}
	handle := func(ev engine.Event) {
		switch e := ev.(type) {
		case *engine.Start:
			r.start = e
		case *engine.End:
			r.end = e
			if r.held != nil {
				r.held.hold = true
			}
		}
		doc.Handle(ev)
		if text != nil {
			text.Handle(ev)
		}
	}
	if f.opts.Debug && !f.opts.Live {
		handle = report.Debug(errw, handle)
	}
	return report.PrintFindings(errw, handle)
}

// Labels are the servers as host:port, in target order.
func (f *Fleet) Labels() []string {
	labels := make([]string, len(f.runs))
	for i, r := range f.runs {
		labels[i] = r.label
	}
	return labels
}

// Run runs the test against every target at once and returns when every
// test ended. tap, when not nil, also gets each test's events with its
// target's index. A panic in a test's goroutine fails that test only.
func (f *Fleet) Run(ctx context.Context, tap func(target int, ev engine.Event)) {
	var wg sync.WaitGroup
	for i, r := range f.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					r.err = fmt.Errorf("internal error: %v", p)
					r.panic = fmt.Sprintf("%v\n%s", p, debug.Stack())
				}
			}()
			emit := r.handle
			if tap != nil {
				emit = func(ev engine.Event) { r.handle(ev); tap(i, ev) }
			}
			_, r.err = engine.NewClient(r.cfg, emit).Run(ctx)
		}()
	}
	wg.Wait()
}

// Finish writes what is written once every test ended: the kept stderr
// lines (live), each server's summary and the SUM over all of them (text),
// the document (-J) or the "sum" event (--json-stream), then each failed
// server's error on stderr. It reports whether every test succeeded.
func (f *Fleet) Finish() bool {
	var sum report.FleetSum
	for _, r := range f.runs {
		_, _ = f.stderr.Write(r.logged.Bytes())
		sum.Add(r.label, report.Totals(r.start, r.end), r.err)
	}
	switch f.opts.Output {
	case JSON:
		docs := make([]report.FleetDoc, len(f.runs))
		for i, r := range f.runs {
			docs[i] = report.FleetDoc{Label: r.label, Doc: r.doc.Bytes()}
		}
		report.WriteFleetJSON(f.stdout, docs, &sum)
	case JSONStream:
		report.WriteFleetStreamSum(f.stdout, &sum)
	default:
		for _, r := range f.runs {
			_, _ = f.stdout.Write(r.held.kept.Bytes())
		}
		sum.WriteText(f.stdout, f.opts.Report.Format)
	}
	ok := true
	for _, r := range f.runs {
		if r.err != nil {
			fmt.Fprintf(f.stderr, "flowscope: %s: %v\n", r.label, r.err)
			ok = false
		}
		if r.panic != "" {
			fmt.Fprintf(f.stderr, "flowscope: %s: panic: %s", r.label, r.panic)
		}
	}
	return ok
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
