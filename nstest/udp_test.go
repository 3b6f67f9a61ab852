//go:build linux

package nstest

// Acceptance test of the UDP-loss issue: across a tbf bottleneck between
// namespaces, a UDP client sending at twice the bottleneck's rate reports
// roughly half of its datagrams lost and a received rate close to the
// bottleneck; at half the bottleneck's rate it reports (almost) no loss.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// udpSum is one of end.sum, end.sum_sent and end.sum_received of a UDP -J
// document.
type udpSum struct {
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	JitterMs      float64 `json:"jitter_ms"`
	LostPackets   int64   `json:"lost_packets"`
	Packets       int64   `json:"packets"`
	LostPercent   float64 `json:"lost_percent"`
	Sender        bool    `json:"sender"`
}

func (s *udpSum) String() string {
	if s == nil {
		return "(missing)"
	}
	return fmt.Sprintf("%d bytes in %.3fs = %.2f Mbit/s, %d/%d lost (%.2f %%), jitter %.3f ms",
		s.Bytes, s.Seconds, s.BitsPerSecond/1e6, s.LostPackets, s.Packets, s.LostPercent, s.JitterMs)
}

// udpResult is the part of a UDP -J document the UDP test looks at.
type udpResult struct {
	End struct {
		Sum         *udpSum `json:"sum"`
		SumSent     *udpSum `json:"sum_sent"`
		SumReceived *udpSum `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

var tbfDropped = regexp.MustCompile(`dropped (\d+)`)

// tbfDrops returns the shaper's drop counter.
func tbfDrops(t *testing.T, tp *Topology) int64 {
	t.Helper()
	out, err := tp.QdiscStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := tbfDropped.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no drop counter in the shaper's statistics:\n%s", out)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUDPLossAcrossBottleneck(t *testing.T) {
	shape := TBF{Rate: "50mbit", Burst: "32kb", Latency: "25ms"}
	tp := Routed(t, &shape)
	cases := []struct {
		name    string
		port    int
		bitrate string
		// Bounds on end.sum_received.lost_percent and on the rate the
		// receiver saw, in Mbit/s.
		minLoss, maxLoss float64
		minRate, maxRate float64
		// noGSO: one datagram per write. The shaper's drop counter counts
		// what it was handed: with GSO (the default) a train of datagrams
		// is one packet to it, so lost datagrams are compared with its
		// drops only when every datagram travels alone.
		noGSO bool
	}{
		// 100 Mbit/s offered to 50 Mbit/s (of which 1400 of 1442 bytes per
		// frame are payload: 48.5 Mbit/s): about half is dropped.
		{"twice", port + 20, "100M", 35, 65, 40, 55, false},
		{"twice, one datagram per write", port + 22, "100M", 35, 65, 40, 55, true},
		// 25 Mbit/s fits: nothing is dropped. (The rate is a sanity check:
		// a client descheduled at the end of the test, as under -race on
		// a busy host, stretches the seconds a little.)
		{"half", port + 21, "25M", 0, 1, 20, 27, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tp.Server, tc.port, 60*time.Second, "-J")
			drops0 := tbfDrops(t, tp)
			args := []string{"-c", tp.ServerAddr, "-p", fmt.Sprint(tc.port), "-u", "-b", tc.bitrate, "-l", "1400", "-t", "3", "-J"}
			if tc.noGSO {
				args = append(args, "--no-gso")
			}
			cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 40 * time.Second}, args...)
			code := cli.wait()
			checkNoCrash(t, cli)
			t.Logf("client exit %d after %v", code, cli.elapsed.Round(time.Millisecond))
			if code != 0 {
				t.Fatalf("client failed:\n%s", cli.describe())
			}
			select {
			case <-srv.done:
			case <-time.After(15 * time.Second):
				t.Errorf("server (-1) still running 15 s after the client ended")
			}
			checkNoCrash(t, srv)
			drops := tbfDrops(t, tp) - drops0

			var res udpResult
			if err := json.Unmarshal([]byte(cli.stdout.String()), &res); err != nil {
				t.Fatalf("client stdout is not one JSON document: %v\n%s", err, cli.describe())
			}
			e := res.End
			t.Logf("end.sum:          %s", e.Sum)
			t.Logf("end.sum_sent:     %s", e.SumSent)
			t.Logf("end.sum_received: %s", e.SumReceived)
			t.Logf("shaper dropped %d packets during the test", drops)
			if e.Sum == nil || e.SumSent == nil || e.SumReceived == nil {
				t.Fatalf("end.sum, end.sum_sent or end.sum_received missing:\n%s", head(cli.stdout.String(), 4000))
			}
			if res.Error != "" {
				t.Errorf("error in the JSON document: %q", res.Error)
			}

			// The sender kept the asked rate: otherwise the loss says
			// nothing about the bottleneck.
			want, _ := strconv.ParseFloat(tc.bitrate[:len(tc.bitrate)-1], 64)
			if got := e.SumSent.BitsPerSecond / 1e6; got < 0.8*want {
				t.Fatalf("sender reached %.2f Mbit/s, asked for %s", got, tc.bitrate)
			}

			// The receiver's view, which end.sum repeats as iperf3 does.
			rx := e.SumReceived
			if rx.Sender || !e.SumSent.Sender {
				t.Errorf("sum_received.sender = %v, sum_sent.sender = %v", rx.Sender, e.SumSent.Sender)
			}
			if rx.LostPercent < tc.minLoss || rx.LostPercent > tc.maxLoss {
				t.Errorf("end.sum_received.lost_percent = %.2f, want %g–%g %%", rx.LostPercent, tc.minLoss, tc.maxLoss)
			}
			if e.Sum.LostPercent != rx.LostPercent || e.Sum.LostPackets != rx.LostPackets {
				t.Errorf("end.sum reports %d lost (%.2f %%), end.sum_received %d (%.2f %%)",
					e.Sum.LostPackets, e.Sum.LostPercent, rx.LostPackets, rx.LostPercent)
			}
			// As in iperf3 (3.12 too), lost_percent is of the datagrams
			// sent (sum_sent.packets), while sum_received.packets is the
			// receiver's count (the highest sequence number seen), which
			// misses the last datagrams still queued when the test ended.
			if n := e.SumSent.Packets; n > 0 {
				if pct := 100 * float64(rx.LostPackets) / float64(n); math.Abs(pct-rx.LostPercent) > 0.01 {
					t.Errorf("sum_received: %d lost of %d sent is %.2f %%, lost_percent says %.2f", rx.LostPackets, n, pct, rx.LostPercent)
				}
			}
			if rate := rx.BitsPerSecond / 1e6; rate < tc.minRate || rate > tc.maxRate {
				t.Errorf("end.sum_received.bits_per_second = %.2f Mbit/s, want %g–%g", rate, tc.minRate, tc.maxRate)
			}
			// Every datagram sent is received or counted lost, but for the
			// last few in flight when the test ended: the shaper queues at
			// most 25 ms at 50 Mbit/s, about 110 datagrams.
			if got := rx.Packets; got > e.SumSent.Packets || got < e.SumSent.Packets-250 {
				t.Errorf("receiver accounts for %d datagrams, the sender sent %d", got, e.SumSent.Packets)
			}
			if rcvd := rx.Packets - rx.LostPackets; rx.Bytes != uint64(rcvd)*1400 {
				t.Errorf("sum_received: %d bytes, but %d datagrams of 1400 bytes arrived", rx.Bytes, rcvd)
			}
			// The datagrams reported lost are the ones the shaper dropped
			// (it may also drop a few of the control connection's packets,
			// and a dropped datagram after the last one received is not
			// known lost).
			switch diff := math.Abs(float64(drops - rx.LostPackets)); {
			case tc.noGSO && diff > math.Max(50, 0.02*float64(drops)):
				t.Errorf("client reports %d datagrams lost, the shaper dropped %d packets", rx.LostPackets, drops)
			case (rx.LostPackets > 50) != (drops > 0):
				t.Errorf("client reports %d datagrams lost, the shaper dropped %d packets (trains)", rx.LostPackets, drops)
			}

			// The server's own report counts the same datagrams: its
			// end.sum_received is the client's, and its end.sum carries the
			// sender's bytes and datagrams as iperf3's does.
			var sres udpResult
			if err := json.Unmarshal([]byte(srv.stdout.String()), &sres); err != nil {
				t.Errorf("server stdout is not one JSON document: %v\n%s", err, srv.describe())
				return
			}
			se := sres.End
			t.Logf("server end.sum:          %s", se.Sum)
			t.Logf("server end.sum_received: %s", se.SumReceived)
			if !sameUDPCount(se.SumReceived, rx) {
				t.Errorf("server's end.sum_received %s differs from the client's %s", se.SumReceived, rx)
			}
			if !sameUDPCount(se.Sum, e.Sum) {
				t.Errorf("server's end.sum %s differs from the client's %s", se.Sum, e.Sum)
			}
		})
	}
}

// sameUDPCount reports whether a and b count the same bytes, datagrams
// and losses.
func sameUDPCount(a, b *udpSum) bool {
	return a != nil && b != nil && a.Bytes == b.Bytes && a.Packets == b.Packets && a.LostPackets == b.LostPackets
}

// TestUDPDatagramsLargerThanMTU: datagrams bigger than the path's MTU
// (1500 on the veth pair) cannot go out with UDP GSO, which will not
// fragment; the sender falls back to one datagram per write (the kernel
// fragments it) and the test runs as it would without GSO.
func TestUDPDatagramsLargerThanMTU(t *testing.T) {
	tp := Pair(t)
	for i, size := range []int{4000, 1400} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			p := port + 40 + i
			srv := startServer(t, tp.Server, p, 60*time.Second, "-J")
			cli := startFlowscope(t, "client", tp.Client, procOpts{timeout: 40 * time.Second},
				"-c", tp.ServerAddr, "-p", fmt.Sprint(p), "-u", "-b", "100M", "-l", fmt.Sprint(size), "-t", "2", "-J")
			if code := cli.wait(); code != 0 {
				t.Fatalf("client exit %d:\n%s", code, cli.describe())
			}
			checkNoCrash(t, cli)
			select {
			case <-srv.done:
			case <-time.After(15 * time.Second):
				t.Errorf("server (-1) still running 15 s after the client ended")
			}
			var res udpResult
			if err := json.Unmarshal([]byte(cli.stdout.String()), &res); err != nil {
				t.Fatalf("client stdout is not one JSON document: %v\n%s", err, cli.describe())
			}
			if res.Error != "" {
				t.Fatalf("error: %s", res.Error)
			}
			e := res.End
			if e.SumSent == nil || e.SumReceived == nil {
				t.Fatalf("end.sum_sent or end.sum_received missing:\n%s", head(cli.stdout.String(), 4000))
			}
			t.Logf("sent %s; received %s", e.SumSent, e.SumReceived)
			if got := e.SumSent.BitsPerSecond / 1e6; got < 80 {
				t.Errorf("sender reached %.1f Mbit/s, asked for 100", got)
			}
			if rx := e.SumReceived; rx.LostPackets != 0 || rx.Bytes == 0 {
				t.Errorf("receiver: %d bytes, %d datagrams lost; want all of them", rx.Bytes, rx.LostPackets)
			}
		})
	}
}
