package interop

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// TestUDPDefaultDatagramSize: without -l, a UDP test's datagrams are the
// control connection's MSS as iperf3 reads it, after the cookie went out
// (on loopback 32,768 bytes; flowscope read 32,741 before any data).
func TestUDPDefaultDatagramSize(t *testing.T) {
	v312, fs := peerIperf312(t), peerFlowscope(t)
	blksize := func(client peer) int64 {
		t.Helper()
		srv, err := startServer(v312, "127.0.0.1", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.wait(10 * time.Second)
		r := runProcess(context.Background(), client.bin, 20*time.Second, "-c", "127.0.0.1", "-p", strconv.Itoa(srv.port), "-u", "-t", "1", "-J")
		var doc struct {
			Start struct {
				TestStart struct {
					Blksize int64 `json:"blksize"`
				} `json:"test_start"`
			} `json:"start"`
		}
		if err := json.Unmarshal(jsonPart(r.stdout), &doc); err != nil || r.code != 0 {
			t.Fatalf("%s: exit %d, %v:\n%s", client.name, r.code, err, r.stdout)
		}
		return doc.Start.TestStart.Blksize
	}
	if stock, ours := blksize(v312), blksize(fs); stock != ours || ours == 0 {
		t.Errorf("default UDP datagram: iperf3 %d bytes, flowscope %d", stock, ours)
	}
}
