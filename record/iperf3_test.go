package record

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/engine"
)

func readTestdata(t *testing.T, name string) *Recording {
	t.Helper()
	rec, err := ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// split returns a recording's Start, Samples and End, failing unless it is
// exactly one test.
func split(t *testing.T, rec *Recording) (*engine.Start, []*engine.Sample, *engine.End) {
	t.Helper()
	s, ok := rec.Events[0].(*engine.Start)
	e, ok2 := rec.Events[len(rec.Events)-1].(*engine.End)
	if !ok || !ok2 {
		t.Fatalf("events %T … %T, want Start … End", rec.Events[0], rec.Events[len(rec.Events)-1])
	}
	return s, rec.Samples(), e
}

// checkTotals: each stream's last Total is the sum of its interval bytes,
// and each sample's sums add up its streams per direction.
func checkTotals(t *testing.T, samples []*engine.Sample) map[int]uint64 {
	t.Helper()
	totals := map[int]uint64{}
	for _, s := range samples {
		var sent, recv uint64
		for _, st := range s.Streams {
			totals[st.ID] += st.Bytes
			if st.Total != totals[st.ID] {
				t.Errorf("interval %d stream %d: total %d, intervals add up to %d", s.Seq, st.ID, st.Total, totals[st.ID])
			}
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
	return totals
}

// iperf3 3.21 --json-stream, --bidir -P 2 (a real run against iperf3 -s).
func TestIperf3StreamBidir(t *testing.T) {
	rec := readTestdata(t, "iperf3_321_stream_bidir_P2.jsonl")
	if rec.Format != Iperf3Stream || rec.Producer != "iperf 3.21+" || rec.SystemInfo == "" {
		t.Errorf("format %v, producer %q, system %q", rec.Format, rec.Producer, rec.SystemInfo)
	}
	start, samples, end := split(t, rec)
	if !start.Params.Bidir || start.Side != engine.SideClient || start.Host != "127.0.0.1" || len(start.Streams) != 4 {
		t.Fatalf("start: %+v", start)
	}
	dirs := map[engine.Dir]int{}
	for _, s := range start.Streams {
		dirs[s.Dir]++
		if s.Local == nil || s.Remote == nil {
			t.Errorf("stream %d has no addresses", s.ID)
		}
	}
	if dirs[engine.Send] != 2 || dirs[engine.Recv] != 2 {
		t.Errorf("stream directions %v, want 2 each way", dirs)
	}
	if len(samples) != 2 || samples[0].Sent.Streams != 2 || samples[0].Received.Streams != 2 || !samples[0].Sent.HasTCP {
		t.Fatalf("%d samples, first sums %+v / %+v", len(samples), samples[0].Sent, samples[0].Received)
	}
	totals := checkTotals(t, samples)
	if len(end.Streams) != 4 || end.Congestion == "" || end.Seconds < 1.9 {
		t.Errorf("end: %+v", end)
	}
	for _, r := range end.Streams {
		// The client's own count of each stream: the sender's for what it
		// sent, the receiver's for what it read.
		if r.Dir == engine.Send && r.Bytes != totals[r.ID] {
			t.Errorf("stream %d: end %d bytes, intervals %d", r.ID, r.Bytes, totals[r.ID])
		}
		if !r.HasPeer || r.PeerBytes == 0 {
			t.Errorf("stream %d: no peer count", r.ID)
		}
	}
}

// iperf3 3.12 -J documents: -P 2, -u -b 10M, -R.
func TestIperf3JSON(t *testing.T) {
	t.Run("P2", func(t *testing.T) {
		rec := readTestdata(t, "iperf3_312_J_P2.json")
		start, samples, end := split(t, rec)
		if rec.Format != Iperf3JSON || rec.Producer != "iperf 3.12" || start.Params.Parallel != 2 || start.Params.Interval.Seconds() != 1 {
			t.Errorf("format %v, producer %q, params %+v", rec.Format, rec.Producer, start.Params)
		}
		if len(samples) != 3 || len(samples[2].Streams) != 2 || samples[2].Streams[0].TCP.RTT == 0 {
			t.Fatalf("%d samples: %+v", len(samples), samples[len(samples)-1])
		}
		totals := checkTotals(t, samples)
		for _, r := range end.Streams {
			if r.Dir != engine.Send || r.Bytes != totals[r.ID] || !r.HasTCPInfo || r.MaxSndCwnd == 0 || r.Retransmits < 0 {
				t.Errorf("stream %d: %+v, intervals %d", r.ID, r, totals[r.ID])
			}
		}
		if !end.HasRemote || end.LocalCPU.Total == 0 || end.Congestion == "" || end.PeerCongestion == "" {
			t.Errorf("end: cpu %+v remote %v, congestion %q/%q", end.LocalCPU, end.HasRemote, end.Congestion, end.PeerCongestion)
		}
	})
	t.Run("UDP", func(t *testing.T) {
		start, samples, end := split(t, readTestdata(t, "iperf3_312_J_udp.json"))
		if start.Params.Protocol != "UDP" || start.Params.Rate != 10_000_000 {
			t.Errorf("params %+v", start.Params)
		}
		if _, ok := start.Streams[0].Local.(interface{ Network() string }); !ok || start.Streams[0].Local.Network() != "udp" {
			t.Errorf("UDP stream address %v", start.Streams[0].Local)
		}
		if u := samples[0].Streams[0].UDP; u == nil || u.Packets == 0 || samples[0].Sent.UDP == nil {
			t.Errorf("first sample's UDP counts: %+v", samples[0])
		}
		if u := end.Streams[0].UDP; u == nil || u.Packets == 0 || end.Streams[0].Dir != engine.Send {
			t.Errorf("end: %+v", end.Streams[0])
		}
	})
	t.Run("reverse", func(t *testing.T) {
		start, samples, end := split(t, readTestdata(t, "iperf3_312_J_reverse.json"))
		if !start.Params.Reverse || start.Streams[0].Dir != engine.Recv {
			t.Errorf("start: %+v", start)
		}
		if samples[0].Received.Bytes == 0 || samples[0].Sent.Bytes != 0 {
			t.Errorf("sums %+v / %+v", samples[0].Sent, samples[0].Received)
		}
		totals := checkTotals(t, samples)
		r := end.Streams[0]
		if r.Dir != engine.Recv || r.Bytes != totals[r.ID] || r.Retransmits <= 0 || r.PeerBytes == 0 {
			// iperf3's receiver end sums exactly its intervals; the sender's
			// retransmits come from the server.
			t.Errorf("end stream %+v, intervals %d", r, totals[r.ID])
		}
	})
}

// A -J document cut inside its second interval replays its start and first
// interval; the error says where the file stops.
func TestIperf3JSONTruncated(t *testing.T) {
	data, err := os.ReadFile("testdata/iperf3_312_J_P2.json")
	if err != nil {
		t.Fatal(err)
	}
	second := strings.Index(string(data), `"start":	1.00`)
	if second < 0 {
		second = strings.Index(string(data), `1.001215`) + 200
	}
	cut := data[:second+40]
	rec, err := Decode(cut)
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "truncated") || fe.Offset != int64(len(cut)) {
		t.Fatalf("error %v", err)
	}
	if want := 1 + strings.Count(string(cut), "\n"); fe.Line != want {
		t.Errorf("error at line %d, the file ends on line %d", fe.Line, want)
	}
	if len(rec.Events) != 2 {
		t.Fatalf("%d events survive, want the start and one interval", len(rec.Events))
	}
	if _, ok := rec.Events[1].(*engine.Sample); !ok {
		t.Errorf("second event %T", rec.Events[1])
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "empty file"},
		{"blank", " \n\n", "empty file"},
		{"text", "hello\n", "line 1 (byte 0): not JSON"},
		{"array", "[1,2]", "not JSON"},
		{"no event", "{\"event\":\"start\",\"data\":{}}\n{\"x\":1}\n", `line 2 (byte 28): a line without an "event" name`},
		{"interval first", `{"event":"interval","data":{"streams":[]}}` + "\n", "line 1 (byte 0): interval 1 comes before the test's start"},
		{"sample first", `{"event":"flowscope.recording","data":{"format":1}}` + "\n" + `{"event":"flowscope.sample","data":{"side":"client","seq":0,"start":0,"end":1,"streams":[]}}` + "\n", "line 2 (byte 52): flowscope.sample: interval 0 of a test that has not started"},
		{"bad state", `{"event":"flowscope.recording","data":{"format":1}}` + "\n" + `{"event":"flowscope.start","data":{"side":"client","streams":[]}}` + "\n" + `{"event":"flowscope.sample","data":{"side":"client","seq":0,"start":0,"end":1,"streams":[{"id":1,"dir":"send","state":"happy"}]}}` + "\n", `unknown stream state "happy"`},
		{"object", `{"a":1}`, "no iperf3 test"},
	} {
		_, err := Decode([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
