package record

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// fill sets every exported field of v (recursively) to a distinct non-zero
// value, so a round trip shows any field the codec forgets — including
// fields added to the engine's events later.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		switch v.Type() {
		case reflect.TypeOf(time.Time{}):
			v.Set(reflect.ValueOf(time.Unix(1796651413, int64(*n)*1000).UTC()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`{"k":1}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.String:
		v.SetString("s" + strings.Repeat("x", *n%5))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Uint8:
		v.SetUint(uint64(*n % 2)) // Side, Dir, severities: small enums
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Interface:
		switch v.Type() {
		case reflect.TypeOf((*net.Addr)(nil)).Elem():
			v.Set(reflect.ValueOf(&net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(*n)), Port: 5000 + *n}))
		case reflect.TypeOf((*error)(nil)).Elem():
			v.Set(reflect.ValueOf(&recordedError{"failed " + strings.Repeat("y", *n%3)}))
		}
	}
}

func filled[T any]() *T {
	var t T
	n := 0
	fill(reflect.ValueOf(&t).Elem(), &n)
	return &t
}

// roundTripEvents is one event of each type with every field set.
func roundTripEvents() []engine.Event {
	start := filled[engine.Start]()
	start.Params.Protocol = "TCP"
	for i := range start.Streams {
		start.Streams[i].Dir = engine.Dir(i % 2)
	}
	smp := filled[engine.Sample]()
	smp.Test = start.Test
	smp.Side = start.Side
	smp.Start, smp.End = 2*time.Second, 3*time.Second+7
	for i := range smp.Streams {
		smp.Streams[i].State = engine.StateStalled
	}
	end := filled[engine.End]()
	end.Test = start.Test
	end.Side = start.Side
	progress := filled[engine.Progress]()
	progress.Test = start.Test
	return []engine.Event{filled[engine.Connecting](), progress, start, smp, end}
}

// TestRoundTripEveryField records an event of each type with every field
// set and reads it back unchanged.
func TestRoundTripEveryField(t *testing.T) {
	events := roundTripEvents()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, ev := range events {
		w.Handle(ev)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Format != Flowscope || rec.Producer != "flowscope "+engine.Version {
		t.Errorf("format %v, producer %q", rec.Format, rec.Producer)
	}
	if len(rec.Events) != len(events) {
		t.Fatalf("read %d events, want %d", len(rec.Events), len(events))
	}
	for i, want := range events {
		if got := rec.Events[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("event %d (%T) changed in the round trip:\n got %+v\nwant %+v", i, want, got, want)
		}
	}
	// Every engine event is followed by iperf3's line for it.
	for _, name := range []string{`"event":"start"`, `"event":"interval"`, `"event":"end"`, `"event":"error"`} {
		if !bytes.Contains(b.Bytes(), []byte(name)) {
			t.Errorf("recording has no iperf3 %s line", name)
		}
	}
}

// TestWriterErrors: a failing output is reported once, by Err and Close.
func TestWriterErrors(t *testing.T) {
	w := NewWriter(failWriter{})
	w.Handle(&engine.Start{})
	w.Handle(&engine.Sample{})
	if err := w.Err(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Err() = %v, want the write error", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a write error returned nil")
	}

	opened := NewOpenedWriter(func(*engine.Start) (io.WriteCloser, error) { return nil, errors.New("permission denied") })
	opened.Handle(&engine.Start{})
	if err := opened.Err(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Err() = %v, want the open error", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestTargets: a multi-server run's events, interleaved, read back with
// the server each belongs to.
func TestTargets(t *testing.T) {
	events := roundTripEvents()[2:] // Start, Sample, End of the same test id
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, ev := range events {
		w.HandleTarget("10.0.0.1", ev)
		w.HandleTarget("10.0.0.2", ev)
	}
	w.Close()
	rec, err := Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Events) != 6 || len(rec.Targets) != 6 {
		t.Fatalf("%d events, %d targets", len(rec.Events), len(rec.Targets))
	}
	for i, want := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2"} {
		if rec.Targets[i] != want || !reflect.DeepEqual(rec.Events[i], events[i/2]) {
			t.Errorf("event %d: target %q, want %q", i, rec.Targets[i], want)
		}
	}
	if names := rec.TargetNames(); !reflect.DeepEqual(names, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Errorf("TargetNames() = %v", names)
	}
}
