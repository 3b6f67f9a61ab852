package main

import (
	"math"
	"testing"
	"time"
)

// From iperf3 3.12 -u -l 1470 -b 2G -t 2 -J on loopback, trimmed.
const iperf3UDP = `{"start":{},"intervals":[],"end":{"streams":[],
"sum":{"start":0,"end":2.000039,"seconds":2.000039,"bytes":462457590,"bits_per_second":1849816486.3763523,"jitter_ms":0.0053,"lost_packets":111498,"packets":314597,"lost_percent":35.44,"sender":true},
"sum_sent":{"start":0,"end":2.000015,"seconds":2.000015,"bytes":462457590,"bits_per_second":1849816486.3763523,"jitter_ms":0,"lost_packets":0,"packets":314597,"lost_percent":0,"sender":true},
"sum_received":{"start":0,"end":2.000039,"seconds":2.000039,"bytes":298551120,"bits_per_second":1194181193.4667273,"jitter_ms":0.0053,"lost_packets":111498,"packets":314594,"lost_percent":35.44,"sender":false}}}`

func TestParseUDPJSON(t *testing.T) {
	m, err := parseUDPJSON(clientResult{stdout: iperf3UDP})
	if err != nil {
		t.Fatal(err)
	}
	if m.lost != 111498 || m.packets != 314594 || m.recvBps != 1194181193.4667273 || m.sentBps != 1849816486.3763523 {
		t.Errorf("got %+v", m)
	}
	if _, err := parseUDPJSON(clientResult{stdout: `{"end":{"sum_received":{"packets":3}}}`}); err == nil {
		t.Error("sum_received without lost_packets accepted")
	}
	if _, err := parseUDPJSON(clientResult{stdout: `{"error":"unable to connect"}`}); err == nil || err.Error() != "unable to connect" {
		t.Errorf("error document: %v", err)
	}
}

func TestUDPSearch(t *testing.T) {
	u := &udpSearch{lo: udpLo, hi: udpHi}
	first := u.next()
	if want := math.Round(math.Sqrt(udpLo*udpHi)/1e6) * 1e6; first != want || fmtRate(first) != "1414M" {
		t.Fatalf("first step %v (%s), want %v", first, fmtRate(first), want)
	}
	// Zero loss but the sender fell short: not a pass, the search goes down,
	// yet the received rate counts as a zero-loss rate.
	u.record(udpStep{target: first, m: udpMeasure{recvBps: 0.9e9, packets: 1}})
	if u.hi != first || u.lo != udpLo {
		t.Fatalf("after a short step: lo %v hi %v", u.lo, u.hi)
	}
	second := u.next()
	u.record(udpStep{target: second, m: udpMeasure{recvBps: second, packets: 1}})
	if u.lo != second {
		t.Fatalf("after a pass: lo %v, want %v", u.lo, second)
	}
	third := u.next()
	u.record(udpStep{target: third, m: udpMeasure{recvBps: third, lost: 3, packets: 1}})
	if u.hi != third {
		t.Fatalf("after a loss: hi %v, want %v", u.hi, third)
	}
	bps, target, ok := u.best()
	if !ok || bps != 0.9e9 || target != first {
		t.Errorf("best %v at %v (%v), want 0.9e9 at %v", bps, target, ok, first)
	}
}

// A pane after `flowscope --loopback -P 8 -t 4 -C cubic; times`, trimmed.
const tuiPane = `- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate         Retr
[  1]   0.00-4.00   sec  1.73 GBytes  3.71 Gbits/sec   10             sender
[  1]   0.00-4.26   sec  1.73 GBytes  3.49 Gbits/sec                  receiver
[SUM]   0.00-4.00   sec  14.5 GBytes  31.0 Gbits/sec  121             sender
[SUM]   0.00-4.26   sec  14.5 GBytes  29.1 Gbits/sec                  receiver

flowscope done.
0m0.002s 0m0.004s
0m1.100s 0m2.999s
`

func TestParseTUIPane(t *testing.T) {
	r, ok := parseTUIPane(tuiPane)
	if !ok {
		t.Fatal("not parsed")
	}
	if r.recvBps != 29.1e9 || math.Abs(r.recvSecs-4.26) > 1e-9 || r.sendBps != 31.0e9 {
		t.Errorf("got %+v", r)
	}
	if want := 4099 * time.Millisecond; r.cpu != want {
		t.Errorf("cpu %v, want %v", r.cpu, want)
	}
	// Before `times` has run the summary is not complete.
	if _, ok := parseTUIPane(tuiPane[:len(tuiPane)-len("0m1.100s 0m2.999s\n")]); ok {
		t.Error("pane without the children's times accepted")
	}
	if got := unitRate("950", "M"); got != 950e6 {
		t.Errorf("unitRate: %v", got)
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{start: time.Now(), onLine: func(_ time.Duration, l []byte) { lines = append(lines, string(l)) }}
	for _, chunk := range []string{`{"event":"st`, "art\"}\n{\"event\"", ":\"end\"}\nrest"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatal(n, err)
		}
	}
	if len(lines) != 2 || lines[0] != `{"event":"start"}` || lines[1] != `{"event":"end"}` || string(w.buf) != "rest" {
		t.Errorf("lines %q, left %q", lines, w.buf)
	}
}
