package record

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// runLoopback runs a real test on 127.0.0.1: the client's events go to
// client, the server's to server.
func runLoopback(t *testing.T, cfg engine.Config, client, server func(engine.Event)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := engine.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- engine.NewServer(engine.ServerConfig{OneOff: true, Interval: cfg.Interval}, server).Serve(ctx, ln)
	}()
	cfg.Host, cfg.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	if _, err := engine.NewClient(cfg, client).Run(ctx); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-served; err != nil && !errors.Is(err, engine.ErrServerClosed) {
		t.Fatalf("server: %v", err)
	}
}

type eventLog struct {
	mu     sync.Mutex
	events []engine.Event
}

func (l *eventLog) Handle(ev engine.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// TestRecordRealTest records both ends of a real bidir test: the client to
// a file, the server into a directory (one file per test, named by the
// peer), and reads both back as the events the engine emitted.
func TestRecordRealTest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "client.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cw := NewWriter(f)
	var clientLog eventLog
	srvDir := filepath.Join(dir, "server")
	if err := os.Mkdir(srvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sw := NewOpenedWriter(DirOpener(srvDir, time.Now))
	cfg := engine.DefaultConfig()
	cfg.Parallel, cfg.Bidir, cfg.Duration, cfg.Interval = 2, true, 1200*time.Millisecond, 300*time.Millisecond
	runLoopback(t, cfg, func(ev engine.Event) { clientLog.Handle(ev); cw.Handle(ev) }, sw.Handle)
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := sw.Err(); err != nil {
		t.Fatal(err)
	}

	rec, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Format != Flowscope || !strings.HasPrefix(rec.SystemInfo, "Linux") {
		t.Errorf("format %v, system info %q", rec.Format, rec.SystemInfo)
	}
	if len(rec.Events) != len(clientLog.events) {
		t.Fatalf("read %d events, the engine emitted %d", len(rec.Events), len(clientLog.events))
	}
	for i, ev := range clientLog.events {
		got, want := mustJSON(rec.Events[i]), mustJSON(ev)
		if got != want {
			t.Errorf("event %d (%T) differs:\n got %s\nwant %s", i, ev, got, want)
		}
	}
	samples := rec.Samples()
	if len(samples) < 3 {
		t.Fatalf("%d samples in a 1.2 s test at 0.3 s intervals", len(samples))
	}
	last := samples[len(samples)-1]
	if len(last.Streams) != 4 || last.Sent.Bytes == 0 || last.Received.Bytes == 0 {
		t.Errorf("last sample: %d streams, sent %d, received %d bytes", len(last.Streams), last.Sent.Bytes, last.Received.Bytes)
	}

	// The same file read as iperf3's stream (flowscope's lines dropped)
	// gives the same intervals: the iperf3 lines are complete.
	var iperfOnly bytes.Buffer
	data, _ := os.ReadFile(path)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes()[:min(len(sc.Bytes()), 40)], []byte(`"flowscope.`)) {
			iperfOnly.Write(sc.Bytes())
			iperfOnly.WriteByte('\n')
		}
	}
	irec, err := Decode(iperfOnly.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	isamples := irec.Samples()
	if irec.Format != Iperf3Stream || len(isamples) != len(samples) {
		t.Fatalf("as iperf3 stream: %v with %d samples, want %d", irec.Format, len(isamples), len(samples))
	}
	if isamples[1].Sent.Bytes != samples[1].Sent.Bytes || isamples[1].Received.Bytes != samples[1].Received.Bytes {
		t.Errorf("iperf3 lines' sums %d/%d, flowscope's %d/%d", isamples[1].Sent.Bytes, isamples[1].Received.Bytes, samples[1].Sent.Bytes, samples[1].Received.Bytes)
	}

	// The server wrote one file for its one test, named by the client.
	files, _ := filepath.Glob(filepath.Join(srvDir, "*"))
	if len(files) != 1 || !strings.Contains(filepath.Base(files[0]), "-test1-127.0.0.1-") {
		t.Fatalf("server files %v, want one named by test 1 and 127.0.0.1", files)
	}
	srec, err := ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := srec.Events[len(srec.Events)-1].(*engine.End); !ok || len(srec.Samples()) < 3 {
		t.Errorf("server recording: %d samples, last event %T", len(srec.Samples()), srec.Events[len(srec.Events)-1])
	}
	for _, ev := range srec.Events {
		if s, ok := ev.(*engine.Start); ok && (s.Side != engine.SideServer || s.Test != 1) {
			t.Errorf("server start: side %v test %d", s.Side, s.Test)
		}
	}
}

// TestTruncated cuts a recording inside every line and checks that the
// error names that line and that every event before it still reads.
func TestTruncated(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	cfg := engine.DefaultConfig()
	cfg.Duration, cfg.Interval = 900*time.Millisecond, 300*time.Millisecond
	runLoopback(t, cfg, w.Handle, func(engine.Event) {})
	w.Close()
	data := b.Bytes()
	lines := bytes.SplitAfter(data, []byte{'\n'})
	full, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	off, events := 0, 0
	for i, l := range lines {
		if len(l) == 0 {
			continue
		}
		cut := off + len(l)/2
		rec, err := Decode(data[:cut])
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("cut inside line %d: error %v, want a FormatError", i+1, err)
		}
		if fe.Line != i+1 || fe.Offset != int64(off) || !strings.Contains(fe.Error(), "truncated") {
			t.Errorf("cut inside line %d (byte %d): %v", i+1, off, fe)
		}
		if rec == nil || len(rec.Events) != events {
			t.Errorf("cut inside line %d: %d events survive, want %d", i+1, len(rec.Events), events)
		}
		// What comes before the cut is the same events as in the whole file.
		for j := range rec.Events {
			if a, b := mustJSON(rec.Events[j]), mustJSON(full.Events[j]); a != b {
				t.Fatalf("event %d differs after a cut", j)
			}
		}
		if strings.HasPrefix(string(l), `{"event":"flowscope.`) && !strings.HasPrefix(string(l), `{"event":"flowscope.recording"`) {
			events++
		}
		off += len(l)
	}
	if events != len(full.Events) {
		t.Fatalf("counted %d flowscope events, the file has %d", events, len(full.Events))
	}
	// A line that is complete but not JSON says so.
	bad := append(append([]byte{}, lines[0]...), "garbage\n"...)
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "line 2 (byte") || !strings.Contains(err.Error(), "not a JSON event") {
		t.Errorf("garbage line: %v", err)
	}
}

// mustJSON is an event as JSON, an empty list of findings as none.
func mustJSON(v any) string {
	switch e := v.(type) {
	case *engine.Start:
		if len(e.Findings) == 0 {
			c := *e
			c.Findings = nil
			v = &c
		}
	case *engine.Sample:
		if len(e.Findings) == 0 {
			c := *e
			c.Findings = nil
			v = &c
		}
	case *engine.End:
		if len(e.Findings) == 0 {
			c := *e
			c.Findings = nil
			v = &c
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
