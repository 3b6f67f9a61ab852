package interop

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRefusalsReachStockClients: a stock client refused by a flowscope
// server prints iperf3's own message for what happened (it got the iperf3
// error code for it, not flowscope's 1000 with no text).
func TestRefusalsReachStockClients(t *testing.T) {
	fs := peerFlowscope(t)
	clients := []peer{peerIperf312(t)}
	if v321, err := iperf321(); err == nil {
		clients = append(clients, v321)
	} else {
		t.Log(err)
	}
	cases := []struct {
		name    string
		server  []string
		client  []string
		want312 string
		want321 string
	}{
		{"too many streams", []string{"--max-streams", "1"}, []string{"-P", "2", "-t", "1"}, "parallel streams", "parallel streams"},
		{"duration limit", []string{"--max-duration", "1"}, []string{"-t", "3"}, "test duration", "exceeds the server's maximum"},
		{"bitrate limit", []string{"--max-bitrate", "1M"}, []string{"-b", "10M", "-t", "1"}, "bandwidth is larger than server", "bandwidth is larger than server"},
	}
	for _, c := range cases {
		for _, cl := range clients {
			t.Run(c.name+"/"+cl.name, func(t *testing.T) {
				srv, err := startServer(fs, "127.0.0.1", 30*time.Second, c.server...)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.wait(0)
				args := append([]string{"-c", "127.0.0.1", "-p", strconv.Itoa(srv.port)}, c.client...)
				r := runProcess(context.Background(), cl.bin, 20*time.Second, args...)
				want := c.want312
				if cl.name == "iperf3-3.21" {
					want = c.want321
				}
				out := string(r.stdout) + string(r.stderr)
				if r.code != 1 || !strings.Contains(out, want) {
					t.Errorf("exit %d, want 1 and iperf3's message with %q:\n%s", r.code, want, out)
				}
			})
		}
	}
}
