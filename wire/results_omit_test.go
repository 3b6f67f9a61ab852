package wire

import (
	"strings"
	"testing"
)

// TestResultsCarryOmittedCounts: the results name the omitted seconds'
// datagrams and losses, as iperf3 >= 3.13 does (a 3.21 client reads a UDP
// sender's datagram count as 0 without them), and a peer's are read back.
func TestResultsCarryOmittedCounts(t *testing.T) {
	b, err := (&Results{Streams: []StreamResults{{ID: 1, Bytes: 10, Packets: 9, OmittedPackets: 2, Errors: 1, OmittedErrors: 1}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"errors":1,"omitted_errors":1,"packets":9,"omitted_packets":2`) {
		t.Fatalf("results %s: want iperf3's errors, omitted_errors, packets, omitted_packets", b)
	}
	r, err := UnmarshalResults(b)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Streams[0]; s.OmittedPackets != 2 || s.OmittedErrors != 1 {
		t.Fatalf("read back %+v", s)
	}
}
