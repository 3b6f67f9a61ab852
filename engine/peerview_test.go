package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// The sender-view extension: a client that receives (-R) sees the server's
// TCP_INFO on its rows; a UDP client that sends sees the server's counts of
// what arrived, while the test runs. The server reports at its own
// interval (1 s by default), so the test runs long enough for two.
func TestPeerViewReachesTheClient(t *testing.T) {
	t.Parallel()
	for _, udp := range []bool{false, true} {
		t.Run(fmt.Sprintf("udp=%v", udp), func(t *testing.T) {
			ts := startServer(t, ServerConfig{Interval: time.Second})
			cfg := clientConfig(ts, 2, 3500*time.Millisecond)
			if udp {
				cfg = udpConfig(ts, 2, 20_000_000, 3500*time.Millisecond)
			} else {
				cfg.Reverse = true
			}
			rec, _, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			<-ts.ends
			if peerViewsSeen(rec.samples, udp) == 0 {
				t.Errorf("no sample of %d carried the server's view of a stream", len(rec.samples))
			}
		})
	}
}

// peerViewsSeen counts the stream samples carrying the peer's view of
// what this side lacks: the sender's TCP_INFO on a TCP stream received,
// the receiver's counts on a UDP stream sent.
func peerViewsSeen(samples []*Sample, udp bool) int {
	seen := 0
	for _, smp := range samples {
		for _, ss := range smp.Streams {
			p := ss.Peer
			switch {
			case p == nil:
			case !udp && ss.Dir == Recv && p.TCP.Valid && p.TCP.RTT > 0 && p.TCP.SndCwnd > 0:
				seen++
			case udp && ss.Dir == Send && p.UDP != nil && p.UDP.Packets > 0:
				seen++
			}
		}
	}
	return seen
}

// TestClientViewReachesTheServer: the client-view extension, the other
// way: a server that receives (a forward TCP test) sees the client
// kernel's TCP_INFO on its streams; a server that sends UDP (-R) sees the
// client's counts of what arrived. Both before the test ends.
func TestClientViewReachesTheServer(t *testing.T) {
	t.Parallel()
	for _, udp := range []bool{false, true} {
		t.Run(fmt.Sprintf("udp=%v", udp), func(t *testing.T) {
			ts := startServer(t, ServerConfig{Interval: time.Second})
			cfg := clientConfig(ts, 2, 2500*time.Millisecond)
			if udp {
				cfg = udpConfig(ts, 2, 20_000_000, 2500*time.Millisecond)
				cfg.Reverse = true
			}
			rec, _, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			end := <-ts.ends
			var samples []*Sample
			for _, ev := range ts.eventsOf(end.Test) {
				if smp, ok := ev.(*Sample); ok {
					samples = append(samples, smp)
				}
			}
			if peerViewsSeen(samples, udp) == 0 {
				t.Errorf("no server sample of %d carried the client's view of a stream (client samples %d)", len(samples), len(rec.samples))
			}
		})
	}
}

// One telemetry message describes at most maxPeerViews streams: streams
// with a problem first, the rest in turn across messages.
func TestPeerViewsBounded(t *testing.T) {
	smp := &Sample{Streams: make([]StreamSample, 2500)}
	for i := range smp.Streams {
		smp.Streams[i] = StreamSample{ID: i + 1, Dir: Send, State: StateRunning, TCP: TCPStats{Valid: true, RTT: 100}}
	}
	smp.Streams[2400].State, smp.Streams[2400].Reason = StateStalled, "peer window 0: x"
	next := 0
	covered := map[int]bool{}
	for round := 0; round < 3; round++ {
		vs := peerViews(smp, &next)
		if len(vs) != maxPeerViews {
			t.Fatalf("round %d: %d views, want %d", round, len(vs), maxPeerViews)
		}
		if vs[0].ID != 2401 || vs[0].Reason == "" {
			t.Errorf("round %d: the stalled stream is not first: %+v", round, vs[0])
		}
		for _, v := range vs {
			covered[v.ID] = true
		}
	}
	if len(covered) != 2500 {
		t.Errorf("three messages covered %d of 2500 streams", len(covered))
	}
	var tbl peerTable
	tbl.update(peerViews(smp, &next))
	if v := tbl.snapshot()[2401]; v == nil || v.State != StateStalled || !v.TCP.Valid {
		t.Errorf("table entry for the stalled stream: %+v", v)
	}
}

// BenchmarkPeerViewMessage measures one interval's sender-view telemetry at
// 1,000 and 10,000 streams: building the views and encoding the message
// (bytes/msg is its size on the control connection).
func BenchmarkPeerViewMessage(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			smp := &Sample{Streams: make([]StreamSample, n)}
			for i := range smp.Streams {
				smp.Streams[i] = StreamSample{ID: i + 1, Dir: Send, State: StateRunning, TCP: TCPStats{Valid: true,
					Retransmits: 3, SndCwnd: 1 << 20, SndWnd: 3 << 20, RTT: 1234, RTTVar: 321, RTO: 204000, Unacked: 40,
					DeliveryRate: 1 << 27, BusyTime: 5_000_000, RwndLimited: 1000}}
			}
			next, size := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				msg, err := wire.EncodeTelemetry(&wire.TelemetryMsg{Phase: "interval", Streams: peerViews(smp, &next)})
				if err != nil {
					b.Fatal(err)
				}
				size = len(msg)
			}
			b.ReportMetric(float64(size), "bytes/msg")
		})
	}
}
