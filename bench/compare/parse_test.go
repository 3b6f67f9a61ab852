package main

import (
	"math"
	"strings"
	"testing"
)

// In the format of iperf 2.1.8 -s -e -f b (byte counts from a real run,
// client -P 2 -t 2). The [SUM] bytes must equal the flow lines' sum.
const iperf2Server2Flows = `------------------------------------------------------------
Server listening on TCP port 41041 with pid 22133
Binding to local address 127.0.0.1
Read buffer size: 131072 Byte (Dist bin width=16.0 KByte)
TCP congestion control set to cubic
TCP window size: 131072 Byte (default)
------------------------------------------------------------
[  1] local 127.0.0.1%lo port 41041 connected with 127.0.0.1 port 56954 (sock=4) (peer 2.1.8) (icwnd/mss/irtt=320/32768/21) on 2026-11-22 00:26:11 (UTC)
[  2] local 127.0.0.1%lo port 41041 connected with 127.0.0.1 port 56964 (sock=5) (peer 2.1.8) (icwnd/mss/irtt=320/32768/21) on 2026-11-22 00:26:11 (UTC)
[ ID] Interval            Transfer    Bandwidth       Reads=Dist
[  1] 0.0000-2.0006 sec  14072283196 Bytes  56271043264 bits/sec  104901=2396:0:0:247:125:3:1:102129
[  2] 0.0000-2.0000 sec  14672592956 Bytes  58690371824 bits/sec  109823=220:6:8:705:874:13:7:107990
[SUM] 0.0000-2.0010 sec  28744876152 Bytes  114924800403 bits/sec  214724=2616:6:8:952:999:16:8:210119
`

func TestParseIperf2Server(t *testing.T) {
	m, err := parseIperf2Server(iperf2Server2Flows, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.bytes != 28744876152 || m.bps != 114924800403 || math.Abs(m.seconds-2.001) > 1e-9 {
		t.Errorf("got %+v", m)
	}
	// Flow lines without the [SUM] line: the report is not complete yet.
	if _, err := parseIperf2Server(iperf2Server2Flows[:len(iperf2Server2Flows)-120], 2, false); err == nil {
		t.Error("incomplete report accepted")
	}
	// [SUM] present but a flow line missing: only accepted as partial.
	noFlow2 := strings.Replace(iperf2Server2Flows, "[  2] 0.0000-2.0000 sec", "[  2] dropped", 1)
	if _, err := parseIperf2Server(noFlow2, 2, false); err == nil {
		t.Error("missing flow line accepted")
	}
	if m, err := parseIperf2Server(noFlow2, 2, true); err != nil || m.bytes != 28744876152 || m.note == "" {
		t.Errorf("partial: %+v, %v", m, err)
	}
	// One flow: no [SUM] line, the flow line is the result.
	one := "[  1] 0.0000-4.0001 sec  27000000000 Bytes  53997000000 bits/sec  1=1:0:0:0:0:0:0:0\n"
	m, err = parseIperf2Server(one, 1, false)
	if err != nil || m.bps != 53997000000 || m.bytes != 27e9 {
		t.Errorf("one flow: %+v, %v", m, err)
	}
	// Three-digit flow IDs have no padding inside the brackets.
	if !iperf2Line.MatchString("[100] 0.0000-5.3871 sec  1242172 Bytes  1844661 bits/sec  10=1:0:0:0:0:0:0:0") {
		t.Error("[100] line not matched")
	}
}

func TestMedian(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("median")
	}
}
