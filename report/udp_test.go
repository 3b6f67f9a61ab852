package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/units"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// udpScenarios are the UDP tests the text and JSON tests run: both sides
// of forward, reverse and bidir tests, with loss (negative in one
// interval), late datagrams and an omitted interval.
var udpScenarios = []struct {
	name string
	sc   scenario
	opts Options
}{
	{"client_P2", scenario{side: engine.SideClient, parallel: 2, intervals: 2, udp: true}, Options{}},
	{"server_P2", scenario{side: engine.SideServer, parallel: 2, intervals: 2, udp: true}, Options{}},
	{"client_reverse", scenario{side: engine.SideClient, parallel: 1, intervals: 2, udp: true, reverse: true}, Options{}},
	{"server_reverse_verbose", scenario{side: engine.SideServer, parallel: 2, intervals: 2, udp: true, reverse: true}, Options{Verbose: true}},
	{"client_bidir_P2", scenario{side: engine.SideClient, parallel: 2, intervals: 2, udp: true, bidir: true}, Options{}},
	{"server_bidir_verbose", scenario{side: engine.SideServer, parallel: 1, intervals: 2, udp: true, bidir: true}, Options{Verbose: true}},
	{"client_omitted", scenario{side: engine.SideClient, parallel: 1, intervals: 1, omitted: 1, udp: true}, Options{}},
	{"client_no_peer", scenario{side: engine.SideClient, parallel: 2, intervals: 1, udp: true, noPeer: true, err: errRefused}, Options{}},
}

// The whole text report of each UDP scenario, in iperf3 3.12's layout
// (checked against real iperf3 output, trailing blanks included). The
// verbose reports' system and version lines depend on the host and the
// build, so they are masked.
func TestTextUDPGolden(t *testing.T) {
	for _, tt := range udpScenarios {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Replace(runText(tt.sc, tt.opts), systemInfo()+"\n", "SYSTEM\n", 1)
			got = strings.Replace(got, "flowscope "+engine.Version+"\n", "flowscope VERSION\n", 1)
			golden(t, "udp_"+tt.name+".txt", got)
		})
	}
}

// Spot checks of the UDP text layout that the golden files pin down, so a
// regenerated golden file cannot silently drop them.
func TestTextUDPLines(t *testing.T) {
	client := runText(udpScenarios[0].sc, Options{})
	server := runText(udpScenarios[1].sc, Options{})
	bidir := runText(udpScenarios[4].sc, Options{})
	for _, c := range []struct{ out, want string }{
		{client, "[ ID] Interval           Transfer     Bitrate         Total Datagrams\n"},
		{client, "[  1]   0.00-1.00   sec  11.0 MBytes  92.7 Mbits/sec  8000  \n"},
		{client, "[SUM]   0.00-1.00   sec  22.2 MBytes   187 Mbits/sec  16100  \n"},
		{client, "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n"},
		// The sender's line has no loss; the receiver's is the server's.
		{client, "[  1]   0.00-2.00   sec  22.1 MBytes  92.7 Mbits/sec  0.000 ms  0/16010 (0%)  sender\n"},
		{client, "[  1]   0.00-2.00   sec  22.1 MBytes  92.7 Mbits/sec  0.135 ms  1/16010 (0.0062%)  receiver\n"},
		{client, "[SUM]   0.00-2.00   sec  44.5 MBytes   187 Mbits/sec  0.198 ms  12/32220 (0.037%)  receiver\n"},
		{server, "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n"},
		{server, "[  1]   0.00-1.00   sec  11.0 MBytes  92.6 Mbits/sec  0.125 ms  2/8000 (0.025%)  \n"},
		// Negative interval loss, printed as iperf3 prints it.
		{server, "[  1]   1.00-2.00   sec  11.1 MBytes  92.8 Mbits/sec  0.135 ms  -1/8010 (-0.012%)  \n"},
		{server, "[SUM]   0.00-1.00   sec  22.2 MBytes   186 Mbits/sec  0.188 ms  7/16100 (0.043%)  \n"},
		{server, "[SUM]  0.0- 2.0 sec  1 datagrams received out-of-order\n[  1]   0.00-2.00"},
		{bidir, "[ ID][Role] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n"},
		{bidir, "[  1][TX-C]   0.00-1.00   sec  11.0 MBytes  92.7 Mbits/sec            8000  \n"},
		{bidir, "[SUM][TX-C]   0.00-1.00   sec  22.2 MBytes   187 Mbits/sec            16100  \n"},
		{bidir, "[SUM][RX-C]  0.0- 2.0 sec  2 datagrams received out-of-order\n[  5][RX-C]   0.00-2.00"},
	} {
		if !strings.Contains(c.out, c.want) {
			t.Errorf("report lacks %q\n%s", c.want, c.out)
		}
	}
	for _, out := range []string{client, server, bidir} {
		for _, bad := range []string{"Retr", "Cwnd", "tcp_congestion"} {
			if strings.Contains(out, bad) {
				t.Errorf("UDP report has %q\n%s", bad, out)
			}
		}
	}
	// The server shows only its own side; verbose, it says so like iperf3.
	if strings.Contains(server, "sender\n") || strings.Contains(server, "not available") {
		t.Errorf("server report has a sender line or a note\n%s", server)
	}
	verbose := runText(udpScenarios[5].sc, Options{Verbose: true})
	for _, want := range []string{
		"      Target Bitrate: 100000000\n",
		"Starting Test: protocol: UDP, 1 streams, 1448 byte blocks",
		"[  1] (sender statistics not available)\n[SUM][RX-S]  0.0- 2.0 sec  1 datagrams received out-of-order\n[  1][RX-S]   0.00-2.00",
		"0/16210 (0%)  sender\n[  3] (receiver statistics not available)\n",
	} {
		if !strings.Contains(verbose, want) {
			t.Errorf("verbose server report lacks %q\n%s", want, verbose)
		}
	}
	if strings.Contains(verbose, "TCP MSS") || strings.Contains(verbose, "[SUM] (") {
		t.Errorf("verbose UDP report has TCP lines or a [SUM] note\n%s", verbose)
	}
}

// Every interval's [SUM] line carries the totals of that interval's
// streams: bytes, rate, datagrams, and for receivers the mean jitter, the
// lost count and its share; the final [SUM] lines the streams' totals.
func TestTextUDPSums(t *testing.T) {
	for _, sc := range []scenario{
		{side: engine.SideClient, parallel: 3, intervals: 3, udp: true},
		{side: engine.SideServer, parallel: 3, intervals: 3, udp: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, udp: true, bidir: true},
		{side: engine.SideServer, parallel: 2, intervals: 2, udp: true, bidir: true},
	} {
		out := runText(sc, Options{})
		dirs := sc.dirs()
		role := func(d engine.Dir) string {
			if !sc.bidir {
				return ""
			}
			r := map[engine.Dir]string{engine.Send: "TX", engine.Recv: "RX"}[d]
			return "[" + r + "-" + map[engine.Side]string{engine.SideClient: "C", engine.SideServer: "S"}[sc.side] + "]"
		}
		for k := 0; k < sc.intervals; k++ {
			for _, d := range []engine.Dir{engine.Send, engine.Recv} {
				var n, bytes, packets uint64
				var lost int64
				var jitter float64
				for i, di := range dirs {
					if di != d {
						continue
					}
					n++
					bytes += sc.sampleBytes(i, k, d)
					if d == engine.Send {
						packets += udpSent(i, k)
					} else {
						packets += udpSent(i, k) // received + lost
						lost += udpLost(i, k)
						jitter += udpJitter(i, k)
					}
				}
				if n == 0 {
					continue
				}
				want := fmt.Sprintf("[SUM]%s %6.2f-%-6.2f sec  %s  %s", role(d), float64(k), float64(k+1),
					units.FormatBytes(float64(bytes), 'A'), units.FormatRate(float64(bytes)*8, 'a'))
				if d == engine.Send {
					want += fmt.Sprintf("%s%d  \n", map[bool]string{false: "  ", true: "            "}[sc.bidir], packets)
				} else {
					want += fmt.Sprintf("  %5.3f ms  %d/%d (%.2g%%)  \n", jitter/float64(n)*1000, lost, packets, 100*float64(lost)/float64(packets))
				}
				if !strings.Contains(out, want) {
					t.Errorf("%+v: no [SUM] line %q for direction %v of interval %d\n%s", sc, want, d, k, out)
				}
			}
		}
	}
}

// udpSchema lists the keys of iperf3 3.12's UDP document with their JSON
// types: the TCP schema's common keys, without TCP-only ones, plus the
// datagram keys.
func udpSchema(bidir bool) map[string]string {
	s := map[string]string{}
	for k, v := range schema {
		if strings.HasPrefix(k, "end.streams[].sender") || strings.HasPrefix(k, "end.streams[].receiver") ||
			strings.HasPrefix(k, "end.sum_") || k == "start.tcp_mss_default" {
			continue
		}
		s[k] = v
	}
	s["intervals[].streams[].packets"] = "int"
	s["intervals[].sum.packets"] = "int"
	for _, k := range []string{"socket", "bytes", "lost_packets", "packets", "out_of_order"} {
		s["end.streams[].udp."+k] = "int"
	}
	for _, k := range []string{"start", "end", "seconds", "bits_per_second", "jitter_ms", "lost_percent"} {
		s["end.streams[].udp."+k] = "number"
	}
	s["end.streams[].udp.sender"] = "bool"
	sums := []string{"sum", "sum_sent", "sum_received"}
	if bidir {
		sums = append(sums, "sum_bidir_reverse", "sum_sent_bidir_reverse", "sum_received_bidir_reverse")
		s["intervals[].sum_bidir_reverse.packets"] = "int"
	}
	for _, sum := range sums {
		for _, k := range []string{"bytes", "lost_packets", "packets"} {
			s["end."+sum+"."+k] = "int"
		}
		for _, k := range []string{"start", "end", "seconds", "bits_per_second", "jitter_ms", "lost_percent"} {
			s["end."+sum+"."+k] = "number"
		}
		s["end."+sum+".sender"] = "bool"
	}
	return s
}

var udpReceiverKeys = []string{"jitter_ms", "lost_packets", "lost_percent"}

func TestJSONUDPScenarios(t *testing.T) {
	for _, tt := range udpScenarios {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.sc
			var b bytes.Buffer
			feed(NewJSON(&b, tt.opts), sc.events())
			doc := decodeDoc(t, b.Bytes())
			raw := b.String()
			checkKinds(t, doc, udpSchema(sc.bidir))
			for _, bad := range []string{`"tcp_mss_default"`, `"retransmits"`, `"sender_tcp_congestion"`, `"receiver_tcp_congestion"`, `"snd_cwnd"`, `"acked_bytes"`} {
				if strings.Contains(raw, bad) {
					t.Errorf("UDP document has %s", bad)
				}
			}
			checkUDPRates(t, doc)
			checkUDPSums(t, doc, sc)
			// Datagram keys by role, as iperf3: a sender's interval entries
			// count datagrams only.
			for _, p := range []string{"intervals[].streams[]", "intervals[].sum", "intervals[].sum_bidir_reverse"} {
				for _, o := range find(doc, p) {
					m := o.(map[string]any)
					if _, ok := m["packets"]; !ok {
						t.Errorf("%s lacks packets: %v", p, sideKeys(t, m))
					}
					if m["sender"].(bool) && !hasNone(m, udpReceiverKeys) || !m["sender"].(bool) && !hasAll(m, udpReceiverKeys) {
						t.Errorf("%s keys %v (sender %v)", p, sideKeys(t, m), m["sender"])
					}
				}
			}
			// The sums' fixed sender flags.
			for _, k := range []string{"sum_sent", "sum_sent_bidir_reverse"} {
				for _, v := range find(doc, "end."+k+".sender") {
					if v != true {
						t.Errorf("%s.sender = %v", k, v)
					}
				}
			}
			for _, k := range []string{"sum_received", "sum_received_bidir_reverse"} {
				for _, v := range find(doc, "end."+k+".sender") {
					if v != false {
						t.Errorf("%s.sender = %v", k, v)
					}
				}
			}
			// flowscope's own UDP counts, by direction.
			for _, s := range find(doc, "flowscope.streams[]") {
				m := s.(map[string]any)
				u, _ := m["udp"].(map[string]any)
				want := []string{"duplicates", "malformed"}
				if m["dir"] == "send" {
					want = []string{"max_behind_datagrams", "send_errors"}
				}
				if u == nil || fmt.Sprint(sideKeys(t, u)) != fmt.Sprint(want) {
					t.Errorf("flowscope stream %v: udp %v, want keys %v", m["socket"], u, want)
				}
			}
		})
	}
}

// checkUDPRates asserts bits_per_second = bytes*8/seconds, except in "sum"
// where iperf3 divides the sender's bytes by the sender's time while
// "seconds" is the receiver's.
func checkUDPRates(t *testing.T, doc map[string]any) {
	t.Helper()
	for _, p := range []string{"intervals[].streams[]", "intervals[].sum", "intervals[].sum_bidir_reverse",
		"end.streams[].udp", "end.sum_sent", "end.sum_received", "end.sum_sent_bidir_reverse", "end.sum_received_bidir_reverse",
		"end.sum", "end.sum_bidir_reverse"} {
		for _, o := range find(doc, p) {
			m := o.(map[string]any)
			secs := num(t, m["seconds"])
			if p == "end.sum" || p == "end.sum_bidir_reverse" {
				sent := strings.Replace(p, "sum", "sum_sent", 1)
				secs = num(t, find(doc, sent+".seconds")[0])
			}
			bytes, bps := num(t, m["bytes"]), num(t, m["bits_per_second"])
			want := 0.0
			if secs > 0 {
				want = bytes * 8 / secs
			}
			if !near(bps, want) {
				t.Errorf("%s: bits_per_second %v, want %v*8/%v = %v", p, bps, bytes, secs, want)
			}
		}
	}
}

// checkUDPSums asserts that every sum is the total of its streams: per
// interval and direction bytes, datagrams, loss, mean jitter and the loss
// share; at the end the "udp" entries' bytes, datagrams, loss and jitter,
// and the scenario's own totals for what the entries do not show.
func checkUDPSums(t *testing.T, doc map[string]any, sc scenario) {
	t.Helper()
	for i, iv := range find(doc, "intervals[]") {
		m := iv.(map[string]any)
		for _, key := range []string{"sum", "sum_bidir_reverse"} {
			s, ok := m[key].(map[string]any)
			if !ok {
				if key == "sum" || sc.bidir {
					t.Errorf("interval %d lacks %s", i, key)
				}
				continue
			}
			var n, bytes, packets, lost, jitter float64
			for _, st := range find(m, "streams[]") {
				sm := st.(map[string]any)
				if sm["sender"] != s["sender"] {
					continue
				}
				n++
				bytes += num(t, sm["bytes"])
				packets += num(t, sm["packets"])
				if sm["sender"] == false {
					lost += num(t, sm["lost_packets"])
					jitter += num(t, sm["jitter_ms"])
				}
			}
			if num(t, s["bytes"]) != bytes || num(t, s["packets"]) != packets {
				t.Errorf("interval %d %s: bytes %v packets %v, want the streams' %v and %v", i, key, s["bytes"], s["packets"], bytes, packets)
			}
			if s["sender"] == false {
				if got := num(t, s["lost_packets"]); got != lost {
					t.Errorf("interval %d %s.lost_packets = %v, want %v", i, key, got, lost)
				}
				if got := num(t, s["jitter_ms"]); !near(got, jitter/n) {
					t.Errorf("interval %d %s.jitter_ms = %v, want the mean %v", i, key, got, jitter/n)
				}
				if got, want := num(t, s["lost_percent"]), 100*lost/packets; !near(got, want) {
					t.Errorf("interval %d %s.lost_percent = %v, want %v", i, key, got, want)
				}
			}
		}
	}
	end := find(doc, "end")[0].(map[string]any)
	fwdSender := end["sum"].(map[string]any)["sender"]
	type total struct{ n, bytes, packets, lost, jitter float64 }
	totals := map[string]*total{"": {}, "_bidir_reverse": {}}
	for _, s := range find(end, "streams[]") {
		u := s.(map[string]any)["udp"].(map[string]any)
		suffix := ""
		if sc.bidir && u["sender"] != fwdSender {
			suffix = "_bidir_reverse"
		}
		tt := totals[suffix]
		tt.n++
		tt.bytes += num(t, u["bytes"])
		tt.packets += num(t, u["packets"])
		tt.lost += num(t, u["lost_packets"])
		tt.jitter += num(t, u["jitter_ms"])
		if got, want := num(t, u["lost_percent"]), 100*num(t, u["lost_packets"])/num(t, u["packets"]); !near(got, want) {
			t.Errorf("stream %v lost_percent = %v, want %v", u["socket"], got, want)
		}
	}
	for suffix, tt := range totals {
		if tt.n == 0 {
			continue
		}
		sum := end["sum"+suffix].(map[string]any)
		sent := end["sum_sent"+suffix].(map[string]any)
		recv := end["sum_received"+suffix].(map[string]any)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"sum.bytes", num(t, sum["bytes"]), tt.bytes},
			{"sum_sent.bytes", num(t, sent["bytes"]), tt.bytes},
			{"sum.packets", num(t, sum["packets"]), tt.packets},
			{"sum.lost_packets", num(t, sum["lost_packets"]), tt.lost},
			{"sum_received.lost_packets", num(t, recv["lost_packets"]), tt.lost},
			{"sum.jitter_ms", num(t, sum["jitter_ms"]), tt.jitter / tt.n},
			{"sum_received.jitter_ms", num(t, recv["jitter_ms"]), tt.jitter / tt.n},
			{"sum.lost_percent", num(t, sum["lost_percent"]), 100 * tt.lost / tt.packets},
			{"sum_received.lost_percent", num(t, recv["lost_percent"]), 100 * tt.lost / tt.packets},
			{"sum_sent.jitter_ms", num(t, sent["jitter_ms"]), 0},
			{"sum_sent.lost_packets", num(t, sent["lost_packets"]), 0},
		} {
			if !near(c.got, c.want) {
				t.Errorf("end.%s%s = %v, want the streams' %v", c.name, suffix, c.got, c.want)
			}
		}
		// What the entries do not show, from the scenario: the senders'
		// and receivers' datagram totals and the received bytes.
		var sentN, recvTotal, recvBytes float64
		for i, d := range sc.dirs() {
			if inFwd := !sc.bidir || (d == engine.Send) == (fwdSender == true); inFwd != (suffix == "") {
				continue
			}
			for k := 0; k < sc.intervals; k++ {
				if !sc.noPeer || d == engine.Send {
					sentN += float64(udpSent(i, k))
				}
				if !sc.noPeer || d == engine.Recv {
					recvTotal += float64(udpSent(i, k)) // received + lost
					recvBytes += float64(udpReceived(i, k) * udpSize)
				}
			}
		}
		if got := num(t, sent["packets"]); got != sentN {
			t.Errorf("end.sum_sent%s.packets = %v, want %v", suffix, got, sentN)
		}
		if got := num(t, recv["packets"]); got != recvTotal {
			t.Errorf("end.sum_received%s.packets = %v, want %v", suffix, got, recvTotal)
		}
		if got := num(t, recv["bytes"]); got != recvBytes {
			t.Errorf("end.sum_received%s.bytes = %v, want %v", suffix, got, recvBytes)
		}
	}
}

// Exact values of a two-stream forward test, on both sides.
func TestJSONUDPValues(t *testing.T) {
	client := runJSON(t, scenario{side: engine.SideClient, parallel: 2, intervals: 2, udp: true}, Options{})
	server := runJSON(t, scenario{side: engine.SideServer, parallel: 2, intervals: 2, udp: true}, Options{})
	for _, c := range []struct {
		doc  map[string]any
		path string
		want []float64
	}{
		{client, "start.target_bitrate", []float64{100_000_000}},
		{client, "intervals[].streams[].packets", []float64{8000, 8100, 8010, 8110}},
		{client, "intervals[].sum.packets", []float64{16100, 16120}},
		// The client's entries: its own sent count, the server's loss and
		// jitter.
		{client, "end.streams[].udp.packets", []float64{16010, 16210}},
		{client, "end.streams[].udp.lost_packets", []float64{1, 11}},
		{client, "end.streams[].udp.jitter_ms", []float64{0.135, 0.26}},
		{client, "end.streams[].udp.out_of_order", []float64{0, 0}},
		{client, "end.streams[].udp.bytes", []float64{16010 * udpSize, 16210 * udpSize}},
		{client, "end.sum.end", []float64{2.0005}},
		{client, "end.sum_sent.end", []float64{2}},
		{client, "end.sum_received.bytes", []float64{(16010 - 1 + 16210 - 11) * udpSize}},
		{client, "flowscope.streams[].udp.send_errors", []float64{2, 2}},
		{client, "flowscope.streams[].udp.max_behind_datagrams", []float64{5, 5}},
		// The server's: the loss of each interval, negative when late
		// datagrams filled earlier gaps, over received + lost.
		{server, "intervals[].streams[].lost_packets", []float64{2, 5, -1, 6}},
		{server, "intervals[].streams[].packets", []float64{8000, 8100, 8010, 8110}},
		{server, "intervals[].streams[].lost_percent", []float64{100 * 2.0 / 8000, 100 * 5.0 / 8100, -100.0 / 8010, 100 * 6.0 / 8110}},
		{server, "intervals[].sum.lost_packets", []float64{7, 5}},
		{server, "end.streams[].udp.packets", []float64{16010, 16210}},
		{server, "end.streams[].udp.out_of_order", []float64{1, 2}},
		{server, "end.streams[].udp.end", []float64{2.0005, 2.0005}},
		{server, "flowscope.streams[].udp.duplicates", []float64{4, 4}},
		{server, "flowscope.streams[].udp.malformed", []float64{1, 1}},
	} {
		var got []float64
		for _, v := range find(c.doc, c.path) {
			got = append(got, num(t, v))
		}
		ok := len(got) == len(c.want)
		for i := range got {
			ok = ok && near(got[i], c.want[i])
		}
		if !ok {
			t.Errorf("%s = %v, want %v", c.path, got, c.want)
		}
	}
	if l := find(server, "intervals[].streams[].lost_packets")[2]; !isInt(l) {
		t.Errorf("negative interval loss %v is not an integer", l)
	}
}

// The UDP start object has iperf3's UDP key order, without tcp_mss_default.
func TestJSONUDPStartKeys(t *testing.T) {
	for side, want := range map[engine.Side]string{
		engine.SideClient: "[connected version system_info timestamp connecting_to cookie target_bitrate fq_rate sock_bufsize sndbuf_actual rcvbuf_actual test_start]",
		engine.SideServer: "[connected version system_info target_bitrate timestamp accepted_connection cookie fq_rate sock_bufsize sndbuf_actual rcvbuf_actual test_start]",
	} {
		var b bytes.Buffer
		feed(NewJSON(&b, Options{}), scenario{side: side, parallel: 1, intervals: 1, udp: true}.events())
		if got := fmt.Sprint(objectShapes(b.Bytes(), ownKey)["/start"]); got != want {
			t.Errorf("%v start keys\n %s\nwant\n %s", side, got, want)
		}
	}
}

// The JSON stream's events have the shapes of the UDP document's parts.
func TestJSONStreamUDP(t *testing.T) {
	sc := scenario{side: engine.SideServer, parallel: 2, intervals: 1, udp: true, bidir: true}
	var s, d bytes.Buffer
	feed(NewJSONStream(&s, Options{}), sc.events())
	feed(NewJSON(&d, Options{}), sc.events())
	full := decodeDoc(t, d.Bytes())
	lines := strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d events, want start, interval, flowscope, end:\n%s", len(lines), s.String())
	}
	for i, part := range []any{full["start"], find(full, "intervals[]")[0], full["flowscope"], full["end"]} {
		ev := decodeDoc(t, []byte(lines[i]))
		if a, b := keyPaths(ev["data"]), keyPaths(part); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("event %v keys %v\ndocument keys %v", ev["event"], a, b)
		}
	}
}
