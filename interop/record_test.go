package interop

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
)

// Stock iperf3's own JSON, made now, reads back as the engine's events:
// -J from both versions, --json-stream from 3.21 (3.12 has none). Every
// stream's intervals add up to its total at the end, and each interval's
// sums to its streams.
func TestReadIperf3JSON(t *testing.T) {
	forEachStock(t, func(t *testing.T, s stockIperf3) {
		modes := []string{"-J"}
		if s.version == "3.21" {
			modes = append(modes, "--json-stream")
		}
		for _, mode := range modes {
			for _, dir := range []string{"", "-R", "--bidir"} {
				name := mode + dir
				t.Run(name, func(t *testing.T) {
					port := startStockServer(t, s.bin)
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					args := []string{"-c", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "2", "-P", "2", mode}
					if dir != "" {
						args = append(args, dir)
					}
					out, err := exec.CommandContext(ctx, s.bin, args...).Output()
					if err != nil {
						t.Fatalf("iperf3 %v: %v", args, err)
					}
					rec, err := record.Decode(out)
					if err != nil {
						t.Fatalf("read: %v\n%s", err, out)
					}
					checkIperf3Recording(t, rec, dir)
				})
			}
		}
	})
}

func checkIperf3Recording(t *testing.T, rec *record.Recording, dir string) {
	t.Helper()
	start, ok := rec.Events[0].(*engine.Start)
	end, ok2 := rec.Events[len(rec.Events)-1].(*engine.End)
	if !ok || !ok2 || end.Err != nil {
		t.Fatalf("events %T … %T (%v)", rec.Events[0], rec.Events[len(rec.Events)-1], end)
	}
	want := map[string]int{"": 2, "-R": 2, "--bidir": 4}[dir]
	if len(start.Streams) != want || len(end.Streams) != want {
		t.Fatalf("%d streams at the start, %d at the end, want %d", len(start.Streams), len(end.Streams), want)
	}
	totals, largest := map[int]uint64{}, map[int]uint64{}
	samples := rec.Samples()
	if len(samples) < 2 {
		t.Fatalf("%d intervals in a 2 s test", len(samples))
	}
	for _, s := range samples {
		var sent, recv uint64
		for _, st := range s.Streams {
			totals[st.ID] += st.Bytes
			largest[st.ID] = max(largest[st.ID], st.Bytes)
			if st.Dir == engine.Send {
				sent += st.Bytes
			} else {
				recv += st.Bytes
			}
		}
		if s.Sent.Bytes != sent || s.Received.Bytes != recv {
			t.Errorf("interval %d: sums %d/%d, streams %d/%d", s.Seq, s.Sent.Bytes, s.Received.Bytes, sent, recv)
		}
	}
	sends := 0
	for _, r := range end.Streams {
		if r.Dir == engine.Send {
			sends++
			// The sender's own count is its intervals' sum, give or take
			// the last moments of the test that iperf3 sometimes reports
			// in no interval (3.21's --json-stream).
			if r.Bytes < totals[r.ID] || r.Bytes-totals[r.ID] > largest[r.ID] {
				t.Errorf("stream %d: end %d bytes, intervals %d", r.ID, r.Bytes, totals[r.ID])
			}
		}
	}
	if wantSends := map[string]int{"": 2, "-R": 0, "--bidir": 2}[dir]; sends != wantSends {
		t.Errorf("%d sending streams, want %d", sends, wantSends)
	}
}
