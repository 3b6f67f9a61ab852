package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/termsafe"
)

// PrintFindings prints each finding as one line on w, control characters
// escaped, before handing the event on: "flowscope: warning: since 5.1 s:
// what (evidence). Fix: fix" when it starts, and "flowscope: info:
// 5.1–8.3 s: recovered: what" when it ends; changes in between are not
// printed again, so a test prints a line or two per finding however often
// its numbers change. Setup facts (instants at 0 s) carry no time. A
// finding is printed once per test, whether it came with the Start, a
// Sample or, for a test that failed before it started, the End. A server's
// refusal (engine.KindRejected) is not printed: it is the test's error,
// which the caller prints.
func PrintFindings(w io.Writer, next func(engine.Event)) func(engine.Event) {
	type entry struct {
		kind   string
		dir    diagnose.Direction
		origin engine.Origin
		start  time.Duration
	}
	var mu sync.Mutex
	started, ended := map[entry]bool{}, map[entry]bool{}
	print := func(viewer engine.Origin, fs []engine.Finding) {
		for _, f := range fs {
			if f.Kind == engine.KindRejected {
				continue // the test's error says it, on its own line
			}
			k := entry{f.Kind, f.Direction, f.Origin, f.Span.Start}
			if k.origin == "" {
				k.origin = viewer
			}
			instant := f.Span.Ended && f.Span.End == f.Span.Start
			if !started[k] {
				started[k] = true
				line := f.StringFor(viewer)
				if !(instant && f.Span.Start == 0) {
					sev, rest, _ := strings.Cut(line, ": ")
					line = sev + ": " + f.Span.String() + ": " + rest
				}
				fmt.Fprintf(w, "flowscope: %s\n", termsafe.String(line)) // the peer's findings are its text
			}
			if f.Span.Ended && !instant && !ended[k] {
				ended[k] = true
				fmt.Fprintf(w, "flowscope: info: %s: recovered: %s\n", f.Span, termsafe.String(f.Headline(viewer)))
			}
		}
	}
	return func(ev engine.Event) {
		mu.Lock()
		switch e := ev.(type) {
		case *engine.Start:
			print(e.Side.Origin(), e.Findings)
		case *engine.Sample:
			print(e.Side.Origin(), e.Findings)
		case *engine.End:
			print(e.Side.Origin(), e.Findings)
			clear(started)
			clear(ended)
		}
		mu.Unlock()
		next(ev)
	}
}

// Debug logs every event's kind on w (-d) before handing it on.
func Debug(w io.Writer, next func(engine.Event)) func(engine.Event) {
	return func(ev engine.Event) {
		switch e := ev.(type) {
		case *engine.Connecting:
			fmt.Fprintf(w, "flowscope: debug: connecting to %s port %d, %d streams\n", e.Host, e.Port, e.Streams)
		case *engine.Progress:
			fmt.Fprintf(w, "flowscope: debug: %d of %d streams connected\n", e.Connected, e.Total)
		case *engine.Start:
			fmt.Fprintf(w, "flowscope: debug: test %d started, %d streams, peer flowscope=%v\n", e.Test, len(e.Streams), e.PeerFlowscope)
		case *engine.Sample:
			fmt.Fprintf(w, "flowscope: debug: interval %d %.3f-%.3f s\n", e.Seq, e.Start.Seconds(), e.End.Seconds())
		case *engine.End:
			fmt.Fprintf(w, "flowscope: debug: test %d ended: %s\n", e.Test, termsafe.String(fmt.Sprint(e.Err)))
		}
		next(ev)
	}
}

// lineStamper prefixes every line written through it with the time, as
// iperf3's --timestamps does.
type lineStamper struct {
	mu     sync.Mutex
	w      io.Writer
	layout string
	mid    bool // inside a line: no stamp before the next byte
}

// Timestamped returns a writer that prefixes each line written to w with
// the time in the strftime-style format (iperf3's --timestamps).
func Timestamped(w io.Writer, strftime string) io.Writer {
	return &lineStamper{w: w, layout: strftimeLayout(strftime)}
}

func (s *lineStamper) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	var out bytes.Buffer
	for len(p) > 0 {
		if !s.mid {
			out.WriteString(time.Now().Format(s.layout))
			s.mid = true
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			out.Write(p)
			break
		}
		out.Write(p[:i+1])
		p = p[i+1:]
		s.mid = false
	}
	if _, err := s.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}

// strftimeLayout converts the strftime conversions iperf3 users write into
// a Go time layout; other text is kept as is.
func strftimeLayout(f string) string {
	repl := map[byte]string{
		'c': "Mon Jan _2 15:04:05 2006", 'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04",
		'S': "05", 'y': "06", 'b': "Jan", 'a': "Mon", 'e': "_2", 'T': "15:04:05", 'F': "2006-01-02",
		'Z': "MST", 'z': "-0700", 'p': "PM", 'I': "03", 'j': "002", '%': "%",
	}
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+1 < len(f) {
			if r, ok := repl[f[i+1]]; ok {
				b.WriteString(r)
				i++
				continue
			}
		}
		b.WriteByte(f[i])
	}
	return b.String()
}
