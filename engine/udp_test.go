package engine

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func udpConfig(ts *testServer, parallel int, rate uint64, d time.Duration) Config {
	cfg := clientConfig(ts, parallel, d)
	cfg.UDP = true
	cfg.Rate = rate
	cfg.BlockSize = 1470
	cfg.Congestion = ""
	return cfg
}

func TestUDPModes(t *testing.T) {
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
				if sender.Packets < 1000 {
					t.Errorf("stream %d: only %d datagrams sent at 20 Mbit/s for 1 s", s.ID, sender.Packets)
				}
				if receiver.Lost != 0 {
					t.Errorf("stream %d: %d datagrams lost on loopback", s.ID, receiver.Lost)
				}
			}
			<-ts.ends
		})
	}
}

// TestUDPRateAccuracy: the receiver measures the target rate within 2 %
// over 3 s, with no loss.
func TestUDPRateAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s per rate")
	}
	for _, rate := range []uint64{10_000_000, 200_000_000, 1_000_000_000} {
		t.Run(fmt.Sprintf("%dM", rate/1_000_000), func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := udpConfig(ts, 1, rate, 3*time.Second)
			_, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := end.Streams[0]
			got := float64(s.PeerBytes) * 8 / s.PeerSeconds
			perMS := float64(rate) / float64(cfg.BlockSize*8) / 1000
			starved := float64(s.UDP.Behind) > 5*perMS // more than 5 ms behind its own schedule
			if math.Abs(got-float64(rate))/float64(rate) > 0.02 || s.PeerUDP.Lost != 0 {
				msg := fmt.Sprintf("receiver measured %.1f Mbit/s for a %d Mbit/s target, %d lost; the sender was behind its schedule by %d datagrams at worst", got/1e6, rate/1_000_000, s.PeerUDP.Lost, s.UDP.Behind)
				if starved {
					// The pacer reported that it got no CPU: the machine, not
					// the pacing, missed the rate. Nothing to judge here.
					t.Skip(msg + " (CPU-starved: rate accuracy cannot be judged on this machine right now)")
				}
				t.Error(msg)
			}
			<-ts.ends
		})
	}
}

// TestUDPAccounting: a sequence with gaps, duplicates and swaps gives
// exactly the expected lost, out-of-order and duplicate counts.
func TestUDPAccounting(t *testing.T) {
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
