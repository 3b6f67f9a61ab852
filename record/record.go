// Package record keeps a test: a Writer records the engine's events as they
// happen, one JSON event per line, and Read turns a recording — or iperf3's
// own --json-stream output (3.17+) or -J document (3.x) — back into the
// engine's event sequence (Start, Sample…, End), so the live view and the
// HTML report can show a finished test.
//
// A flowscope recording is a superset of iperf3's --json-stream: every line
// is {"event":NAME,"data":…}. The first line is "flowscope.recording" (the
// format version and when it was made); then, for each engine event, a
// "flowscope.EVENT" line (connecting, progress, start, sample, end) that
// keeps everything the engine reported, followed by the lines iperf3 3.17+
// writes for it (start, interval, error, server_output_*, flowscope, end),
// so tools that read iperf3's stream read a recording too. A reader of a
// flowscope recording uses the flowscope.* lines; it ignores names it does
// not know, and within a line keys it does not know, so later versions add
// to the format without breaking older readers.
package record

import (
	"fmt"

	"github.com/flowscope/flowscope/engine"
)

// FormatVersion is the version of the flowscope.* lines this package writes.
const FormatVersion = 1

// Event names of flowscope's own lines.
const (
	eventRecording  = "flowscope.recording"
	eventConnecting = "flowscope.connecting"
	eventProgress   = "flowscope.progress"
	eventStart      = "flowscope.start"
	eventSample     = "flowscope.sample"
	eventEnd        = "flowscope.end"
)

// Format says what kind of file a recording was read from.
type Format uint8

const (
	// Flowscope is a recording made with --record.
	Flowscope Format = iota + 1
	// Iperf3Stream is iperf3 --json-stream output (3.17+), or flowscope's.
	Iperf3Stream
	// Iperf3JSON is one or more iperf3 -J documents (3.x), or flowscope's.
	Iperf3JSON
)

func (f Format) String() string {
	switch f {
	case Flowscope:
		return "flowscope recording"
	case Iperf3Stream:
		return "iperf3 --json-stream"
	case Iperf3JSON:
		return "iperf3 -J"
	}
	return "unknown"
}

// Recording is a test (or, from a server's log, several tests) as events.
type Recording struct {
	Format Format
	// Producer is the program and version that wrote the file, e.g.
	// "flowscope 0.1.0" or "iperf 3.21+", when the file says.
	Producer string
	// SystemInfo is the recording host's "uname -a" line, when known.
	SystemInfo string
	// Title is the test's title (-T), when known.
	Title string
	// Events are the engine's events in order: for each test Start, the
	// Samples, End; a truncated file may end before a test's End.
	Events []engine.Event
	// Targets, for a multi-server run, name the server of each event (the
	// same length as Events); nil otherwise.
	Targets []string
}

// TargetNames are the servers of a multi-server recording in the order
// they first appear; nil for one test.
func (r *Recording) TargetNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, t := range r.Targets {
		if !seen[t] {
			seen[t] = true
			names = append(names, t)
		}
	}
	return names
}

// Side is the side the recording was made on: its first Start's, Sample's
// or End's (a client's when it has none).
func (r *Recording) Side() engine.Side {
	for _, ev := range r.Events {
		switch e := ev.(type) {
		case *engine.Start:
			return e.Side
		case *engine.Sample:
			return e.Side
		case *engine.End:
			return e.Side
		}
	}
	return engine.SideClient
}

// Samples returns the recording's interval samples in order.
func (r *Recording) Samples() []*engine.Sample {
	var out []*engine.Sample
	for _, ev := range r.Events {
		if s, ok := ev.(*engine.Sample); ok {
			out = append(out, s)
		}
	}
	return out
}

// FormatError says where a file stops being a valid recording. The events
// before that point are still returned.
type FormatError struct {
	Line   int   // 1-based line of the first bad byte
	Offset int64 // byte offset of the line (or of the bad byte in a -J document)
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("line %d (byte %d): %v", e.Line, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }
