package record

import (
	"io"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// BenchmarkWriterSample: recording one interval of 10,000 TCP streams
// (flowscope's line and iperf3's), the cost --record adds per interval.
func BenchmarkWriterSample(b *testing.B) {
	const n = 10000
	start := &engine.Start{Side: engine.SideClient, Params: engine.TestParams{Protocol: "TCP", Parallel: n, Duration: time.Hour, Interval: time.Second}}
	smp := &engine.Sample{Side: engine.SideClient, End: time.Second}
	for i := 0; i < n; i++ {
		id := engine.StreamID(i)
		start.Streams = append(start.Streams, engine.StreamInfo{ID: id, Dir: engine.Send})
		smp.Streams = append(smp.Streams, engine.StreamSample{ID: id, Dir: engine.Send, Bytes: 123456789, Total: 987654321, Acked: 123456000,
			State: engine.StateRunning, TCP: engine.TCPStats{Valid: true, Retransmits: 3, SndCwnd: 4 << 20, SndWnd: 6 << 20, RTT: 1234, RTTVar: 321, PMTU: 65535}})
	}
	w := NewWriter(io.Discard)
	w.Handle(start)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		smp.Seq = i
		smp.Start, smp.End = time.Duration(i)*time.Second, time.Duration(i+1)*time.Second
		w.Handle(smp)
	}
	_ = w.Err() // everything written
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/stream")
}
