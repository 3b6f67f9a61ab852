package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: any bytes give a recording or an error that says where the
// file stops, never a panic; a valid flowscope recording survives being
// written again.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, ev := range roundTripEvents() {
		w.Handle(ev)
	}
	w.Close()
	f.Add(b.Bytes())
	f.Add([]byte(`{"event":"start","data":{"connected":[{"socket":4}],"test_start":{"protocol":"UDP"}}}` + "\n" + `{"event":"interval","data":{"streams":[{"socket":4,"start":0,"end":1,"bytes":5,"packets":3,"sender":false}],"sum":{"start":0,"end":1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Decode(data)
		var fe *FormatError
		if errors.As(err, &fe) && (fe.Offset < 0 || fe.Offset > int64(len(data)) || fe.Line < 1) {
			t.Fatalf("error position out of the file: %v", fe)
		}
		if err != nil || rec.Format != Flowscope || len(rec.Events) == 0 {
			return
		}
		var again bytes.Buffer
		w := NewWriter(&again)
		for _, ev := range rec.Events {
			w.Handle(ev)
		}
		w.Close()
		rec2, err := Decode(again.Bytes())
		if err != nil {
			t.Fatalf("a decoded recording does not decode after writing it again: %v", err)
		}
		if len(rec2.Events) != len(rec.Events) {
			t.Fatalf("%d events, %d after writing them again", len(rec.Events), len(rec2.Events))
		}
	})
}
