package engine

import (
	"fmt"
	"math"
	"net"
	"testing"
	"time"
)

func udpConfig(ts *testServer, parallel int, rate uint64, d time.Duration) Config {
	cfg := clientConfig(ts, parallel, d)
	cfg.Protocol = ProtoUDP
	cfg.Rate = rate
	cfg.BlockSize = 1470
	cfg.Congestion = ""
	return cfg
}

func TestUDPModes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		parallel       int
		reverse, bidir bool
		c64            bool
	}{
		{"forward", 1, false, false, false},
		{"P3", 3, false, false, false},
		{"reverse", 2, true, false, false},
		{"bidir", 2, false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := udpConfig(ts, c.parallel, 20_000_000, time.Second)
			cfg.Reverse, cfg.Bidir, cfg.Counters64 = c.reverse, c.bidir, c.c64
			rec, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rec.start.Params.Protocol != "UDP" || !rec.start.PeerFlowscope {
				t.Errorf("start params %+v", rec.start.Params)
			}
			checkSums(t, rec)
			checkDirections(t, end, cfg)
			for _, s := range end.Streams {
				if s.UDP == nil || s.PeerUDP == nil {
					t.Fatalf("stream %d: no UDP stats: %+v", s.ID, s)
				}
				sender, receiver := s.UDP, s.PeerUDP
				if s.Dir == Recv {
					sender, receiver = s.PeerUDP, s.UDP
				}
				// A starved pacer may fall behind, never ahead: 20 Mbit/s of
				// 1470-byte datagrams is 1701 a second.
				secs := s.Seconds // the sender's own measured time
				if s.Dir == Recv {
					secs = s.PeerSeconds
				}
				if sender.Packets == 0 || float64(sender.Packets) > 20e6/(1470*8)*secs+2 {
					t.Errorf("stream %d: %d datagrams sent at 20 Mbit/s in %.3f s", s.ID, sender.Packets, secs)
				}
				if receiver.Lost != 0 {
					t.Errorf("stream %d: %d datagrams lost on loopback", s.ID, receiver.Lost)
				}
			}
			<-ts.ends
		})
	}
}

// TestUDPPacing: the UDP sender never runs ahead of its schedule, and
// every datagram it sent is accounted for at the receiver (received or
// lost). How close it comes to the rate on a given machine is measured by
// BenchmarkUDPRate, not judged here: a starved pacer falls behind.
func TestUDPPacing(t *testing.T) {
	for _, rate := range []uint64{10_000_000, 200_000_000} {
		t.Run(fmt.Sprintf("%dM", rate/1_000_000), func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, ServerConfig{})
			cfg := udpConfig(ts, 1, rate, time.Second)
			_, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := end.Streams[0]
			// Due by the end: rate × seconds, plus the one due at the start
			// and what the debt allowance lets a late sender catch up.
			due := float64(rate)*end.Seconds/float64(cfg.BlockSize*8) + 1
			if float64(s.UDP.Packets) > due+1 {
				t.Errorf("sent %d datagrams in %.3f s, the schedule of %d Mbit/s allows %.0f", s.UDP.Packets, end.Seconds, rate/1_000_000, due)
			}
			// The receiver accounts for datagrams up to the last it saw
			// (received or lost before it); the last ones may still be in
			// its socket buffer when the test ends.
			if got := s.PeerUDP.Packets; got == 0 || got > s.UDP.Packets {
				t.Errorf("sent %d datagrams, the receiver accounts for %d (received + lost)", s.UDP.Packets, got)
			}
			<-ts.ends
		})
	}
}

// TestUDPAccounting: a sequence with gaps, duplicates and swaps gives
// exactly the expected lost, out-of-order and duplicate counts.
func TestUDPAccounting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name              string
		seqs              []uint64
		lost              int64
		ooo, dup, packets uint64
	}{
		{"in order", []uint64{1, 2, 3, 4}, 0, 0, 0, 4},
		{"gap", []uint64{1, 2, 5, 6}, 2, 0, 0, 4},
		{"swap", []uint64{1, 3, 2, 4}, 0, 1, 0, 4},
		{"duplicate", []uint64{1, 2, 2, 3}, 0, 0, 1, 4},
		{"late after gap", []uint64{1, 4, 2, 5}, 1, 1, 0, 4},
		{"duplicate of late", []uint64{1, 3, 2, 2}, 0, 1, 1, 4},
		{"first lost", []uint64{2, 3}, 1, 0, 0, 2},
		{"big jump", []uint64{1, 10000, 2}, 9997, 1, 0, 3},
	}
	for _, c := range cases {
		u := &udpFlow{}
		r := &udpReceiver{u: u}
		for i, s := range c.seqs {
			ts := time.Duration(i) * time.Millisecond
			r.add(ts, ts+time.Millisecond, s)
		}
		got := u.snapshot()
		if got.Lost != c.lost || got.OutOfOrder != c.ooo || got.Duplicates != c.dup || got.Packets != c.packets {
			t.Errorf("%s: lost %d ooo %d dup %d packets %d, want %d %d %d %d", c.name, got.Lost, got.OutOfOrder, got.Duplicates, got.Packets, c.lost, c.ooo, c.dup, c.packets)
		}
	}
}

func TestUDPJitter(t *testing.T) {
	t.Parallel()
	u := &udpFlow{}
	r := &udpReceiver{u: u}
	// Transit alternates 1 ms and 3 ms: |ΔTransit| = 2 ms every time, so
	// the estimate climbs towards 2 ms.
	for i := range 200 {
		ts := time.Duration(i) * 10 * time.Millisecond
		transit := time.Millisecond
		if i%2 == 1 {
			transit = 3 * time.Millisecond
		}
		r.add(ts, ts+transit, uint64(i+1))
	}
	if j := u.snapshot().Jitter; math.Abs(j-0.002) > 0.0001 {
		t.Errorf("jitter %.6f s, want about 0.002", j)
	}
}

func TestParseUDPHeader(t *testing.T) {
	t.Parallel()
	b := make([]byte, 16)
	putUDPHeader(b, 90*time.Second+1500*time.Microsecond, 1<<40+7, true)
	ts, seq, err := ParseUDPHeader(b, true)
	if err != nil || ts != 90*time.Second+1500*time.Microsecond || seq != 1<<40+7 {
		t.Errorf("%v %d %v", ts, seq, err)
	}
	putUDPHeader(b, time.Second, 1<<32+5, false)
	if _, seq, _ := ParseUDPHeader(b, false); seq != 5 {
		t.Errorf("32-bit counter wraps: %d", seq)
	}
	if _, _, err := ParseUDPHeader(b[:11], false); err == nil {
		t.Error("short datagram accepted")
	}
}

func FuzzParseUDPHeader(f *testing.F) {
	f.Add(make([]byte, 16), true)
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, false)
	f.Add([]byte{1, 2, 3}, false)
	f.Fuzz(func(t *testing.T, b []byte, c64 bool) {
		ts, seq, err := ParseUDPHeader(b, c64)
		if err != nil {
			if len(b) >= udpHeaderSize(c64) {
				t.Fatalf("rejected a full header: %v", err)
			}
			return
		}
		out := make([]byte, udpHeaderSize(c64))
		putUDPHeader(out, ts, seq, c64)
		if string(out) != string(b[:len(out)]) && ts%time.Microsecond == 0 {
			// Microseconds ≥ 1e6 are normalised; everything else round-trips.
			if us := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]); us < 1_000_000 {
				t.Fatalf("round trip %x → %x", b[:len(out)], out)
			}
		}
	})
}

// TestUDPSendsNothingAtTheEnd: a UDP sender sends the datagrams due
// within the test and none at its end, where a stock receiver has stopped
// counting (a 3.12 client counted 9 sent, 8 received, at -t 2): at 4
// datagrams a second for 1 s it sends 4, even when the stop comes late.
func TestUDPSendsNothingAtTheEnd(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	f := newUDPFlow(1, Send, tx, &udpFlow{size: 1400, rate: 4 * 1400 * 8, noGSO: true})
	flowSet{f}.sendUntil(time.Now().Add(time.Second))
	go f.run(newPayload(1400, false), nil)
	late := time.AfterFunc(1300*time.Millisecond, f.stop) // the test's end, 300 ms late
	defer late.Stop()
	<-f.done
	if n := f.udp.sent.Load(); n != 4 || f.err != nil {
		t.Fatalf("%d datagrams sent (err %v), want 4: none at or after the end", n, f.err)
	}
}

// TestUDPEndGrace: a client waits one datagram's gap (bounded) between its
// senders' stop and TEST_END when it sends UDP, and not at all for TCP or
// when it only receives.
func TestUDPEndGrace(t *testing.T) {
	for _, c := range []struct {
		name string
		tr   transport
		p    Params
		want time.Duration
	}{
		{"tcp", tcpTransport{}, Params{Rate: 1000}, 0},
		{"udp 1 Mbit/s 1250 B", udpTransport{}, Params{Rate: 1_000_000, BlockSize: 1250}, 10 * time.Millisecond},
		{"udp 1 Mbit/s 32 KiB: bounded", udpTransport{}, Params{Rate: 1_000_000, BlockSize: 32768}, maxUDPEndGrace},
		{"udp 10 Gbit/s: at least 1 ms", udpTransport{}, Params{Rate: 10_000_000_000, BlockSize: 1460}, time.Millisecond},
		{"udp unlimited", udpTransport{}, Params{BlockSize: 1460}, time.Millisecond},
		{"udp reverse: the client only receives", udpTransport{}, Params{Rate: 1_000_000, BlockSize: 1250, Reverse: true}, 0},
		{"udp bidir", udpTransport{}, Params{Rate: 1_000_000, BlockSize: 1250, Reverse: true, Bidir: true}, 10 * time.Millisecond},
	} {
		if got := c.tr.endGrace(&c.p); got != c.want {
			t.Errorf("%s: endGrace %v, want %v", c.name, got, c.want)
		}
	}
}
