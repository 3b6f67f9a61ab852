package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/flowscope/flowscope/engine"
)

// MaxFileSize bounds what Read accepts: larger files are refused rather
// than read into memory.
const MaxFileSize = 4 << 30

// ReadFile reads a recording or an iperf3 JSON file (see Read); errors name
// the file.
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec, err := Read(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return rec, err
}

// Read reads a flowscope recording, iperf3 --json-stream output or one or
// more iperf3 -J documents, telling them apart by their first line. On a bad
// or truncated file it returns a *FormatError that says where the file
// stops, together with a Recording holding every event before that point
// (nil only when nothing could be read at all).
func Read(r io.Reader) (*Recording, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d GiB", MaxFileSize>>30)
	}
	return Decode(data)
}

// Decode is Read on bytes in memory.
func Decode(data []byte) (*Recording, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("empty file: no events")
	}
	skipped := len(data) - len(trimmed)
	if trimmed[0] != '{' {
		return nil, &FormatError{Line: 1 + bytes.Count(data[:skipped], []byte{'\n'}), Offset: int64(skipped),
			Err: errors.New("not JSON: a recording starts with '{'")}
	}
	first, _, _ := bytes.Cut(trimmed, []byte{'\n'})
	var probe struct {
		Event *string `json:"event"`
	}
	if bytes.HasPrefix(first, []byte(`{"event"`)) || json.Unmarshal(first, &probe) == nil && probe.Event != nil {
		return decodeLines(data)
	}
	return decodeDocuments(data)
}

type rawLine struct {
	Event  string          `json:"event"`
	Target string          `json:"target"`
	Data   json.RawMessage `json:"data"`
}

// decodeLines reads a file of {"event":…,"data":…} lines: a flowscope
// recording when its first event is flowscope.recording, else iperf3's
// --json-stream.
func decodeLines(data []byte) (*Recording, error) {
	rec := &Recording{}
	conv := newIperf3Converter(rec)
	var fs *flowscopeLines
	line, off := 0, 0
	for off < len(data) {
		line++
		raw := data[off:]
		next := len(data)
		complete := false
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw, next, complete = raw[:i], off+i+1, true
		}
		fail := func(err error) (*Recording, error) {
			return rec, &FormatError{Line: line, Offset: int64(off), Err: err}
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			off = next
			continue
		}
		var l rawLine
		if err := json.Unmarshal(raw, &l); err != nil {
			if !complete {
				return fail(fmt.Errorf("truncated: the file ends inside an event (%v)", err))
			}
			return fail(fmt.Errorf("not a JSON event: %v", err))
		}
		if l.Event == "" {
			return fail(errors.New(`a line without an "event" name`))
		}
		if rec.Format == 0 {
			rec.Format = Iperf3Stream
			if l.Event == eventRecording {
				rec.Format = Flowscope
				fs = &flowscopeLines{rec: rec, open: map[testKey]bool{}}
			}
		}
		var err error
		if fs != nil {
			err = fs.handle(l)
		} else {
			err = conv.handle(l)
		}
		if err != nil {
			return fail(err)
		}
		off = next
	}
	if fs == nil {
		if err := conv.finish(); err != nil {
			return rec, &FormatError{Line: line, Offset: int64(off), Err: err}
		}
	}
	return rec, nil
}

// handle converts one line of iperf3's --json-stream.
func (c *iperf3Converter) handle(l rawLine) error {
	if len(l.Data) == 0 && l.Event != "end" {
		switch l.Event {
		case "start", "interval", "error", "flowscope":
			return fmt.Errorf("%s: %w", l.Event, errNoData)
		}
	}
	switch l.Event {
	case "start":
		return c.onStart(l.Data)
	case "interval":
		return c.onInterval(l.Data)
	case "error":
		return c.onError(l.Data)
	case "flowscope":
		return c.onExtras(l.Data)
	case "end":
		if len(l.Data) > 0 {
			if err := c.onEnd(l.Data); err != nil {
				return err
			}
		}
		return c.finish()
	}
	return nil // server_output_*, and names of later versions
}

// flowscopeLines reads a flowscope recording's lines.
type flowscopeLines struct {
	rec  *Recording
	open map[testKey]bool // tests started and not yet ended
}

type testKey struct {
	target string
	test   uint64
}

func (f *flowscopeLines) handle(l rawLine) error {
	decode := func(v any) error {
		if len(l.Data) == 0 {
			return fmt.Errorf("%s: %w", l.Event, errNoData)
		}
		if err := json.Unmarshal(l.Data, v); err != nil {
			return fmt.Errorf("%s: %w", l.Event, err)
		}
		return nil
	}
	var ev engine.Event
	switch l.Event {
	case eventRecording:
		var h jsonHeader
		if err := decode(&h); err != nil {
			return err
		}
		if f.rec.Producer == "" {
			f.rec.Producer = h.Producer
		}
		return nil
	case "start":
		// iperf3's start line: the host description.
		var s struct {
			SystemInfo string `json:"system_info"`
		}
		if err := decode(&s); err != nil {
			return err
		}
		if f.rec.SystemInfo == "" {
			f.rec.SystemInfo = s.SystemInfo
		}
		return nil
	case eventConnecting:
		var j jsonConnecting
		if err := decode(&j); err != nil {
			return err
		}
		ev = &engine.Connecting{Host: j.Host, Port: j.Port, Streams: j.Streams}
	case eventProgress:
		var j jsonProgress
		if err := decode(&j); err != nil {
			return err
		}
		side, err := parseSide(j.Side)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Event, err)
		}
		ev = &engine.Progress{Side: side, Test: j.Test, Connected: j.Connected, Total: j.Total}
	case eventStart:
		var j jsonStart
		if err := decode(&j); err != nil {
			return err
		}
		s, err := decodeStart(&j)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Event, err)
		}
		if f.open[testKey{l.Target, s.Test}] {
			return fmt.Errorf("%s: test %d starts again before it ended", l.Event, s.Test)
		}
		f.open[testKey{l.Target, s.Test}] = true
		if f.rec.Title == "" {
			f.rec.Title = s.Params.Title
		}
		ev = s
	case eventSample:
		var j jsonSample
		if err := decode(&j); err != nil {
			return err
		}
		s, err := decodeSample(&j)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Event, err)
		}
		if !f.open[testKey{l.Target, s.Test}] {
			return fmt.Errorf("%s: interval %d of a test that has not started", l.Event, s.Seq)
		}
		ev = s
	case eventEnd:
		var j jsonEnd
		if err := decode(&j); err != nil {
			return err
		}
		e, err := decodeEnd(&j)
		if err != nil {
			return fmt.Errorf("%s: %w", l.Event, err)
		}
		delete(f.open, testKey{l.Target, e.Test})
		ev = e
	default:
		return nil // iperf3's lines, and names of later versions
	}
	if l.Target != "" && f.rec.Targets == nil {
		f.rec.Targets = make([]string, len(f.rec.Events), cap(f.rec.Events))
	}
	f.rec.Events = append(f.rec.Events, ev)
	if f.rec.Targets != nil {
		f.rec.Targets = append(f.rec.Targets, l.Target)
	}
	return nil
}

// decodeDocuments reads one or more iperf3 -J documents (a server's log
// holds one per test). A truncated document still yields its start and every
// complete interval.
func decodeDocuments(data []byte) (*Recording, error) {
	rec := &Recording{Format: Iperf3JSON}
	conv := newIperf3Converter(rec)
	dec := json.NewDecoder(bytes.NewReader(data))
	fail := func(err error) (*Recording, error) {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			off = int64(len(data))
			err = fmt.Errorf("truncated: the file ends inside the document (%v)", err)
		}
		off = min(max(off, 0), int64(len(data)))
		_ = conv.finish()
		return rec, &FormatError{Line: 1 + bytes.Count(data[:off], []byte{'\n'}), Offset: off, Err: err}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		if tok != json.Delim('{') {
			return fail(fmt.Errorf("expected a JSON object, found %v", tok))
		}
		if err := conv.document(dec); err != nil {
			return fail(err)
		}
		if err := conv.finish(); err != nil {
			return fail(err)
		}
	}
	if len(rec.Events) == 0 {
		return rec, &FormatError{Line: 1, Offset: 0, Err: errors.New(`no iperf3 test in the file (no "start", "intervals" or "end")`)}
	}
	return rec, nil
}

// document reads one -J document's keys after its opening brace.
func (c *iperf3Converter) document(dec *json.Decoder) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		switch key {
		case "start", "end", "error", "flowscope", "title":
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			switch key {
			case "start":
				err = c.onStart(raw)
			case "end":
				if len(bytes.TrimSpace(raw)) > 2 { // not {}
					err = c.onEnd(raw)
				}
			case "error":
				err = c.onError(raw)
			case "flowscope":
				err = c.onExtras(raw)
			case "title":
				var t string
				if json.Unmarshal(raw, &t) == nil && c.rec.Title == "" {
					c.rec.Title = t
				}
			}
			if err != nil {
				return err
			}
		case "intervals":
			if tok, err := dec.Token(); err != nil {
				return err
			} else if tok != json.Delim('[') {
				return fmt.Errorf(`"intervals" is not an array`)
			}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return err
				}
				if err := c.onInterval(raw); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		}
	}
	_, err := dec.Token() // the closing brace
	return err
}
