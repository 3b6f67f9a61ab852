package record

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/report"
)

// Opener opens the file a test is recorded to, once its Start is known
// (start is nil for a test that failed before it started).
type Opener func(start *engine.Start) (io.WriteCloser, error)

// Writer records engine events, one JSON line each, for one test or a
// sequence of tests (a client's, or a server's consecutive tests when every
// event goes to one writer). It is an engine event consumer: Handle may be
// called from any goroutine and does not wait for the encoding, which runs
// on the writer's own goroutine (events must not change once handed over,
// as for every front end); it waits only when the writer is queueLen events
// behind. Lines are buffered within an interval and written out at each
// Start, Sample and End, so a crash or a kill leaves a valid prefix: every
// complete line is a whole event.
type Writer struct {
	// sendMu orders Handle's sends with Close; closed: no more sends.
	sendMu sync.Mutex
	closed bool
	queue  chan item
	done   chan struct{} // closed when the goroutine has written everything

	mu      sync.Mutex // the goroutine's state below, and err
	open    Opener
	out     io.Writer
	closer  io.Closer // set when the writer opened out itself
	buf     *bufio.Writer
	iperf3  report.Reporter            // the iperf3 lines of untagged events
	targets map[string]report.Reporter // … and of each target's
	pending []tagged                   // events before the lazily opened file exists
	header  bool
	err     error
	now     func() time.Time
}

// queueLen is how many events a Writer holds before Handle waits.
const queueLen = 64

// NewWriter returns a Writer that records onto w. The caller closes w after
// Close.
func NewWriter(w io.Writer) *Writer {
	rw := &Writer{now: time.Now}
	rw.setOutput(w)
	return rw.run()
}

// NewOpenedWriter returns a Writer that opens its file with open at the
// test's Start (or at an End that came without one) and closes it after the
// End, which is the last event it takes; events before the Start wait in
// memory.
func NewOpenedWriter(open Opener) *Writer {
	return (&Writer{open: open, now: time.Now}).run()
}

// item is one queued event, or (ack set) a request to say when everything
// before it is written.
type item struct {
	target string
	ev     engine.Event
	ack    chan struct{}
}

func (w *Writer) run() *Writer {
	w.queue, w.done = make(chan item, queueLen), make(chan struct{})
	go func() {
		defer close(w.done)
		for it := range w.queue {
			if it.ack != nil {
				close(it.ack)
				continue
			}
			w.mu.Lock()
			w.record(it.target, it.ev)
			w.mu.Unlock()
		}
	}()
	return w
}

// sync waits until every event handed over so far is written.
func (w *Writer) sync() {
	w.sendMu.Lock()
	if w.closed {
		w.sendMu.Unlock()
		<-w.done
		return
	}
	ack := make(chan struct{})
	w.queue <- item{ack: ack}
	w.sendMu.Unlock()
	<-ack
}

func (w *Writer) setOutput(out io.Writer) {
	w.out = out
	w.buf = bufio.NewWriterSize(out, 64<<10)
	w.iperf3 = report.NewJSONStream(w.buf, report.Options{})
}

type tagged struct {
	target string
	ev     engine.Event
}

// Handle records one event.
func (w *Writer) Handle(ev engine.Event) { w.HandleTarget("", ev) }

// HandleTarget records one event of a multi-server run's target (the
// server it was measured against, as the fleet names it); target "" is
// Handle. Each target's tests are kept apart on reading.
func (w *Writer) HandleTarget(target string, ev engine.Event) {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	if w.closed {
		return
	}
	w.queue <- item{target: target, ev: ev}
	if _, ok := ev.(*engine.End); ok && w.open != nil {
		w.closed = true // an opened writer's last event
		close(w.queue)
	}
}

// record writes one event; it runs on the writer's goroutine.
func (w *Writer) record(target string, ev engine.Event) {
	if w.err != nil {
		return
	}
	if w.out == nil {
		start, isStart := ev.(*engine.Start)
		_, isEnd := ev.(*engine.End)
		if !isStart && !isEnd {
			w.pending = append(w.pending, tagged{target, ev})
			return
		}
		f, err := w.open(start)
		if err != nil {
			w.err = fmt.Errorf("record: %w", err)
			w.pending = nil
			return
		}
		w.setOutput(f)
		w.closer = f
		pending := w.pending
		w.pending = nil
		for _, p := range pending {
			w.write(p.target, p.ev)
		}
	}
	w.write(target, ev)
	switch ev.(type) {
	case *engine.Start, *engine.Sample, *engine.End:
		w.flush()
	}
	if _, ok := ev.(*engine.End); ok && w.closer != nil {
		if err := w.closer.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("record: %w", err)
		}
		w.closer, w.out = nil, nil
		w.header = false
		if w.err == nil {
			w.err = errClosed
		}
	}
}

var errClosed = errors.New("record: closed")

// write encodes one event as flowscope's line and iperf3's lines.
func (w *Writer) write(target string, ev engine.Event) {
	if !w.header {
		w.header = true
		w.line(eventRecording, "", jsonHeader{Format: FormatVersion, Producer: "flowscope " + engine.Version, Created: w.now().UTC()})
	}
	switch e := ev.(type) {
	case *engine.Connecting:
		w.line(eventConnecting, target, jsonConnecting{Host: e.Host, Port: e.Port, Streams: e.Streams})
	case *engine.Progress:
		w.line(eventProgress, target, jsonProgress{Side: sideName(e.Side), Test: e.Test, Connected: e.Connected, Total: e.Total})
	case *engine.Start:
		w.line(eventStart, target, encodeStart(e))
	case *engine.Sample:
		w.line(eventSample, target, encodeSample(e))
	case *engine.End:
		w.line(eventEnd, target, encodeEnd(e))
	default:
		return
	}
	rep := w.iperf3
	if target != "" {
		if rep = w.targets[target]; rep == nil {
			if w.targets == nil {
				w.targets = map[string]report.Reporter{}
			}
			rep = report.NewJSONStream(w.buf, report.Options{})
			w.targets[target] = rep
		}
	}
	rep.Handle(ev)
}

type jsonHeader struct {
	Format   int       `json:"format"`
	Producer string    `json:"producer"`
	Created  time.Time `json:"created"`
}

// jsonLine is one line of a recording. Target names the server of a
// multi-server run an event belongs to.
type jsonLine struct {
	Event  string `json:"event"`
	Target string `json:"target,omitempty"`
	Data   any    `json:"data"`
}

func (w *Writer) line(event, target string, data any) {
	b, err := json.Marshal(jsonLine{event, target, data})
	if err != nil {
		// Only a NaN or ±Inf can fail; keep the line's place.
		b, _ = json.Marshal(jsonLine{"flowscope.error", target, "cannot encode " + event + ": " + err.Error()})
	}
	b = append(b, '\n')
	if _, err := w.buf.Write(b); err != nil && w.err == nil {
		w.err = fmt.Errorf("record: %w", err)
	}
}

func (w *Writer) flush() {
	if err := w.buf.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("record: %w", err)
	}
}

// Err returns the first error writing the recording, nil while all is well
// (and after an opened file was closed at the End). It waits until the
// events handed over so far are written.
func (w *Writer) Err() error {
	w.sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errClosed) {
		return nil
	}
	return w.err
}

// Close writes out what is buffered and, for an opened file, closes it. A
// test that ended early still leaves everything measured until then.
func (w *Writer) Close() error {
	w.sendMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.sendMu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out != nil && w.err == nil {
		w.flush()
	}
	if w.closer != nil {
		if err := w.closer.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("record: %w", err)
		}
		w.closer, w.out = nil, nil
	}
	if w.err == nil || errors.Is(w.err, errClosed) {
		w.err = errClosed
		return nil
	}
	return w.err
}

// DirOpener returns an Opener that creates one file per test in dir, named
// by the time it opens and the peer: "20261207-134902-test3-127.0.0.1-51234.jsonl"
// (the test number is the server's; a test that never started is named
// "unknown" instead of a peer). It never overwrites a file.
func DirOpener(dir string, now func() time.Time) Opener {
	return func(s *engine.Start) (io.WriteCloser, error) {
		peer, test := "unknown", uint64(0)
		if s != nil {
			test = s.Test
			if s.Host != "" {
				peer = strings.NewReplacer(":", "_", "%", "_", "/", "_").Replace(s.Host)
				if s.Port != 0 {
					peer += "-" + fmt.Sprint(s.Port)
				}
			}
		}
		base := fmt.Sprintf("%s-test%d-%s", now().UTC().Format("20060102-150405"), test, peer)
		for i := 0; ; i++ {
			name := base + ".jsonl"
			if i > 0 {
				name = fmt.Sprintf("%s.%d.jsonl", base, i)
			}
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) && i < 100 {
				continue
			}
			return f, err
		}
	}
}
