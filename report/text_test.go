package report

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/units"
)

func runText(sc scenario, opts Options) string {
	var b bytes.Buffer
	feed(NewText(&b, opts), sc.events())
	return b.String()
}

// The whole report of a one-stream client test, in iperf3 3.12's layout
// (trailing blanks included).
func TestTextOneStreamGolden(t *testing.T) {
	got := runText(scenario{side: engine.SideClient, parallel: 1, intervals: 2}, Options{})
	want := `Connecting to host 127.0.0.1, port 5201
[  1] local 127.0.0.1 port 40002 connected to 127.0.0.1 port 5201
[ ID] Interval           Transfer     Bitrate         Retr  Cwnd
[  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec    0   1023 KBytes       
[  1]   1.00-2.00   sec  1.85 GBytes  15.9 Gbits/sec    1   1023 KBytes       
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate         Retr
[  1]   0.00-2.00   sec  2.78 GBytes  12.0 Gbits/sec    1             sender
[  1]   0.00-2.00   sec  2.78 GBytes  11.9 Gbits/sec                  receiver

flowscope done.
`
	if got != want {
		t.Errorf("text report differs\n got:\n%s\nwant:\n%s", got, want)
	}
}

// lines returns the report lines that start with prefix.
func lines(out, prefix string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			ls = append(ls, l)
		}
	}
	return ls
}

func TestTextScenarios(t *testing.T) {
	tests := []struct {
		name     string
		sc       scenario
		opts     Options
		contains []string
		absent   []string
		count    map[string]int // line prefix → number of lines
	}{
		{
			name: "three streams",
			sc:   scenario{side: engine.SideClient, parallel: 3, intervals: 2},
			contains: []string{
				"[  4] local 127.0.0.1 port 40004 connected to 127.0.0.1 port 5201",
				"[SUM]   0.00-2.00   sec  9.04 GBytes  38.8 Gbits/sec    9             sender",
				"[SUM]   0.00-2.00   sec  9.04 GBytes  38.8 Gbits/sec                  receiver",
				"flowscope done.",
			},
			// 3 streams + SUM per interval, then 4 sender + 4 receiver lines.
			count: map[string]int{"[SUM]": 4, "[  3]": 5, "- - -": 2, "[ ID]": 2},
		},
		{
			name: "reverse client",
			sc:   scenario{side: engine.SideClient, parallel: 1, intervals: 2, reverse: true},
			contains: []string{
				"Reverse mode, remote host 127.0.0.1 is sending",
				"[ ID] Interval           Transfer     Bitrate\n",
				"[  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec                  \n",
				// The sender line is the server's count and retransmits.
				"[  1]   0.00-2.00   sec  2.78 GBytes  11.9 Gbits/sec    7             sender",
			},
			absent: []string{"[SUM]", "Cwnd"},
		},
		{
			name: "bidir client",
			sc:   scenario{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true},
			contains: []string{
				"[ ID][Role] Interval           Transfer     Bitrate         Retr  Cwnd\n",
				"[  1][TX-C]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec    0   1023 KBytes       \n",
				"[  4][RX-C]   0.00-1.00   sec  1.16 GBytes  9.98 Gbits/sec                  \n",
				"[SUM][TX-C]   0.00-1.00   sec  1.98 GBytes  17.0 Gbits/sec    1             \n",
				"[SUM][RX-C]   0.00-1.00   sec  2.44 GBytes  20.9 Gbits/sec                  \n",
				"[ ID][Role] Interval           Transfer     Bitrate         Retr\n",
				"[SUM][RX-C]   0.00-2.00   sec  6.72 GBytes  28.8 Gbits/sec   49             sender",
			},
			count: map[string]int{"[SUM][TX-C]": 4, "[SUM][RX-C]": 4, "[  5][RX-C]": 4},
		},
		{
			name: "bidir server",
			sc:   scenario{side: engine.SideServer, parallel: 2, intervals: 2, bidir: true},
			contains: []string{
				"Accepted connection from 127.0.0.1, port 40000",
				"[  1] local 127.0.0.1 port 5201 connected to 127.0.0.1 port 40002",
				"[  1][RX-S]   0.00-1.00",
				"[SUM][TX-S]   0.00-1.00   sec  2.44 GBytes  20.9 Gbits/sec    5             \n",
				"[SUM][RX-S]   0.00-2.00   sec  5.79 GBytes  24.9 Gbits/sec                  receiver",
				"[SUM][TX-S]   0.00-2.00   sec  6.71 GBytes  28.8 Gbits/sec   12             sender",
			},
			// Like iperf3's server: only its own side in the summary, no "done".
			absent: []string{"[TX-C]", "done"},
			count:  map[string]int{"[  1][RX-S]": 3, "[  4][TX-S]": 3},
		},
		{
			name:     "server forward",
			sc:       scenario{side: engine.SideServer, parallel: 1, intervals: 1},
			contains: []string{"[ ID] Interval           Transfer     Bitrate\n", "receiver\n"},
			absent:   []string{"sender", "Retr"},
		},
		{
			name: "omitted interval",
			sc:   scenario{side: engine.SideClient, parallel: 1, intervals: 2, omitted: 1},
			contains: []string{
				"[  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec    0   1023 KBytes       (omitted)\n",
				"[  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec    0   1023 KBytes       \n",
			},
			count: map[string]int{"[  1]   0.00-1.00": 2},
		},
		{
			name: "omitted receiver sum",
			sc:   scenario{side: engine.SideServer, parallel: 2, intervals: 1, omitted: 1},
			contains: []string{
				"[SUM]   0.00-1.00   sec  1.98 GBytes  17.0 Gbits/sec                  (omitted)\n",
			},
		},
		{
			name:     "title and format",
			sc:       scenario{side: engine.SideClient, parallel: 1, intervals: 1},
			opts:     Options{Title: "lab", Format: 'm'},
			contains: []string{"lab:  Connecting to host", "lab:  [  1]   0.00-1.00   sec   954 MBytes  8000 Mbits/sec", "lab:  \nlab:  flowscope done.\n"},
		},
		{
			name: "verbose",
			sc:   scenario{side: engine.SideClient, parallel: 1, intervals: 1},
			opts: Options{Verbose: true},
			contains: []string{
				"flowscope " + engine.Version + "\n",
				"Time: Sat, 21 Nov 2026 23:58:20 GMT\n",
				"      Cookie: abcdefghijklmnopqrstuvwxyz2345672345\n",
				"Starting Test: protocol: TCP, 1 streams, 131072 byte blocks, omitting 0 seconds, 1 second test, tos 0\n",
				"Test Complete. Summary Results:\n",
				"CPU Utilization: local/sender 98.5% (0.5%u/98.0%s), remote/receiver 46.0% (1.0%u/45.0%s)\n",
				"snd_tcp_congestion cubic\nrcv_tcp_congestion bbr\n",
			},
		},
		{
			name:     "failure after start, no peer results",
			sc:       scenario{side: engine.SideClient, parallel: 2, intervals: 1, err: errRefused, noPeer: true},
			contains: []string{"[SUM]   0.00-1.00   sec  1.98 GBytes  17.0 Gbits/sec    1             sender\n"},
			absent:   []string{"receiver", "done", "refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runText(tt.sc, tt.opts)
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("report lacks %q\n%s", s, out)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out, s) {
					t.Errorf("report has %q\n%s", s, out)
				}
			}
			for prefix, n := range tt.count {
				if got := len(lines(out, prefix)); got != n {
					t.Errorf("%d lines start with %q, want %d\n%s", got, prefix, n, out)
				}
			}
		})
	}
}

// Every interval's [SUM] line shows the sum of that interval's stream bytes
// and the matching rate, per direction.
func TestTextSumIsStreamTotal(t *testing.T) {
	for _, sc := range []scenario{
		{side: engine.SideClient, parallel: 3, intervals: 3},
		{side: engine.SideServer, parallel: 4, intervals: 2, reverse: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true},
	} {
		out := runText(sc, Options{})
		for k := 0; k < sc.intervals; k++ {
			var sum [2]uint64
			for i, d := range sc.dirs() {
				sum[d] += streamBytes(i, k)
			}
			for d, n := range sum {
				if n == 0 {
					continue
				}
				want := fmt.Sprintf(" %6.2f-%-6.2f sec  %s  %s", float64(k), float64(k+1),
					units.FormatBytes(float64(n), 'A'), units.FormatRate(float64(n)*8, 'a'))
				found := false
				for _, l := range lines(out, "[SUM]") {
					role := ""
					if sc.bidir {
						role = map[engine.Dir]string{engine.Send: "[TX-C]", engine.Recv: "[RX-C]"}[engine.Dir(d)]
					}
					if strings.HasPrefix(l, "[SUM]"+role+want) {
						found = true
					}
				}
				if !found {
					t.Errorf("%+v: no [SUM] line %q for direction %v of interval %d\n%s", sc, want, engine.Dir(d), k, out)
				}
			}
		}
	}
}

func TestTextNoStart(t *testing.T) {
	var b bytes.Buffer
	r := NewText(&b, Options{})
	r.Handle(&engine.Progress{Side: engine.SideClient, Connected: 0, Total: 1})
	r.Handle(&engine.End{Side: engine.SideClient, Err: errRefused})
	if b.Len() != 0 {
		t.Errorf("End without Start printed %q", b.String())
	}
}

// A server reuses one reporter: the second test's report stands alone.
func TestTextReuse(t *testing.T) {
	var b bytes.Buffer
	r := NewText(&b, Options{})
	feed(r, scenario{side: engine.SideServer, parallel: 1, intervals: 1, reverse: true}.events())
	first := b.String()
	feed(r, scenario{side: engine.SideServer, parallel: 1, intervals: 1}.events())
	second := strings.TrimPrefix(b.String(), first)
	if strings.Contains(second, "sender") || !strings.Contains(second, "[ ID] Interval           Transfer     Bitrate\n") {
		t.Errorf("second report carries state of the first:\n%s", second)
	}
	if got := len(lines(second, "[ ID]")); got != 2 {
		t.Errorf("second report has %d headers, want 2:\n%s", got, second)
	}
}

func TestWriteListening(t *testing.T) {
	var b bytes.Buffer
	if err := WriteListening(&b, 5201, 2, Options{}); err != nil {
		t.Fatal(err)
	}
	bar := strings.Repeat("-", 59)
	if want := bar + "\nServer listening on 5201 (test #2)\n" + bar + "\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// Reporters may be driven from another goroutine, and their mutex makes even
// concurrent calls safe (run with -race).
func TestReportersConcurrentHandle(t *testing.T) {
	evs := scenario{side: engine.SideClient, parallel: 2, intervals: 3, bidir: true}.events()
	for name, mk := range map[string]func(w *bytes.Buffer) Reporter{
		"text":   func(w *bytes.Buffer) Reporter { return NewText(w, Options{}) },
		"json":   func(w *bytes.Buffer) Reporter { return NewJSON(w, Options{}) },
		"stream": func(w *bytes.Buffer) Reporter { return NewJSONStream(w, Options{}) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			r := mk(&b)
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					feed(r, evs)
				}()
			}
			wg.Wait()
			if b.Len() == 0 {
				t.Error("no output")
			}
		})
	}
}

// SummaryOnly leaves exactly the summary part of the full report: what a
// live UI prints to the scrollback when it exits.
func TestTextSummaryOnly(t *testing.T) {
	for _, sc := range []scenario{
		{side: engine.SideClient, parallel: 1, intervals: 2},
		{side: engine.SideClient, parallel: 3, intervals: 2},
		{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true},
		{side: engine.SideServer, parallel: 2, intervals: 3, reverse: true},
	} {
		full := runText(sc, Options{})
		got := runText(sc, Options{SummaryOnly: true})
		i := strings.LastIndex(full, "\n"+separator+"\n")
		if i < 0 {
			t.Fatalf("%+v: full report has no separator:\n%s", sc, full)
		}
		if want := full[i+1:]; got != want {
			t.Errorf("%+v: summary-only report\n got:\n%s\nwant (the tail of the full report):\n%s", sc, got, want)
		}
		if strings.Contains(got, "connected to") || strings.Contains(got, "0.00-1.00") {
			t.Errorf("%+v: summary-only report has start or interval lines:\n%s", sc, got)
		}
	}
}

// TestSkipRxNote: a test run with --skip-rx-copy says so, and warns when
// the receiving end is a stock iperf3 server that may ignore the request.
func TestSkipRxNote(t *testing.T) {
	start := func(side engine.Side, skip, reverse, flowscopePeer bool) *engine.Start {
		return &engine.Start{Side: side, PeerFlowscope: flowscopePeer,
			Params: engine.TestParams{Protocol: "TCP", SkipRxCopy: skip, Reverse: reverse}}
	}
	for _, tc := range []struct {
		name      string
		s         *engine.Start
		want      bool // a note at all
		warnStock bool
	}{
		{"off", start(engine.SideClient, false, false, true), false, false},
		{"flowscope server receives", start(engine.SideClient, true, false, true), true, false},
		{"stock server receives", start(engine.SideClient, true, false, false), true, true},
		{"stock server sends (-R)", start(engine.SideClient, true, true, false), true, false},
		{"on the server", start(engine.SideServer, true, false, false), true, false},
	} {
		note := skipRxNote(tc.s)
		if (note != "") != tc.want {
			t.Errorf("%s: note %q", tc.name, note)
		}
		if got := strings.Contains(note, "stock iperf3"); got != tc.warnStock {
			t.Errorf("%s: warns about stock iperf3 = %v: %q", tc.name, got, note)
		}
	}
}
