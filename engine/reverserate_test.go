package engine

import (
	"testing"
	"time"
)

// --reverse-bitrate paces the server's senders in --bidir at their own rate,
// TCP and UDP: the two directions' sums keep the ratio asked for (40 and
// 10 Mbit/s here). Rates are paced, so the ratio holds on a loaded machine
// too; a server that ignored the field would send at 40 both ways.
func TestReverseBitrate(t *testing.T) {
	t.Parallel()
	for _, udp := range []bool{false, true} {
		name := "tcp"
		if udp {
			name = "udp"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, 1, 2*time.Second)
			if udp {
				cfg = udpConfig(ts, 1, 40_000_000, 2*time.Second)
			} else {
				cfg.Rate = 40_000_000
			}
			cfg.Bidir, cfg.ReverseRate = true, 10_000_000
			_, end, err := runClient(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			<-ts.ends
			var up, down uint64
			for _, s := range end.Streams {
				if s.Dir == Send {
					up += s.Bytes
				} else {
					down += s.Bytes
				}
			}
			if up == 0 || down == 0 {
				t.Fatalf("sent %d, received %d bytes: want both directions to move", up, down)
			}
			if ratio := float64(down) / float64(up); ratio < 0.15 || ratio > 0.4 {
				t.Errorf("server→client %d bytes, client→server %d: ratio %.2f, want about 0.25 (10 against 40 Mbit/s)", down, up, ratio)
			}
		})
	}
}
