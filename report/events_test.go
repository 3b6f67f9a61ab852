package report

import (
	"errors"
	"net"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// scenario describes a synthetic test whose events the reporters consume.
type scenario struct {
	side      engine.Side
	parallel  int
	reverse   bool
	bidir     bool
	intervals int // measured intervals of one second
	omitted   int // omitted intervals before them
	err       error
	noPeer    bool // the peer's results never arrived
	udp       bool // a UDP test: datagram counts instead of TCP_INFO
	// opts are the test's iperf3 options beyond the basics: -T,
	// --extra-data, -S, -k, --fq-rate.
	opts testOptions
	// serverText and serverJSON are the server's report the client asked
	// for (--get-server-output), carried by the client's End.
	serverText string
	serverJSON []byte
}

type testOptions struct {
	title, extraData string
	tos              int
	blocks           int64
	fqRate           uint64
}

// optionsScenario is a one-stream TCP test with every option of
// testOptions, as run with iperf3 -T mytitle --extra-data hello -S 16
// -k 100 --fq-rate 1G.
func optionsScenario(side engine.Side) scenario {
	return scenario{side: side, parallel: 1, intervals: 2, opts: testOptions{
		title: "mytitle", extraData: "hello", tos: 16, blocks: 100, fqRate: 1_000_000_000,
	}}
}

const testPort = 5201

func (sc scenario) dirs() []engine.Dir {
	n := sc.parallel
	var dirs []engine.Dir
	first := engine.Send
	if sc.side == engine.SideServer {
		first = engine.Recv // the server accepts the client's senders first
	}
	if sc.reverse && !sc.bidir {
		first = 1 - first
	}
	for i := 0; i < n; i++ {
		dirs = append(dirs, first)
	}
	if sc.bidir {
		for i := 0; i < n; i++ {
			dirs = append(dirs, 1-first)
		}
	}
	return dirs
}

// streamBytes is the deterministic byte count of stream idx in interval k.
func streamBytes(idx, k int) uint64 {
	return uint64(1_000_000_000 + idx*123_456_789 + k*987_654_321)
}

// UDP datagram counts of stream idx in interval k: sent, lost (negative
// in the second interval of stream 0: a late datagram filled an earlier
// gap), received and out of order (the late one, plus one more on odd
// streams).
const udpSize = 1448

func udpSent(idx, k int) uint64 { return uint64(8000 + 100*idx + 10*k) }

func udpLost(idx, k int) int64 {
	if idx == 0 && k == 1 {
		return -1
	}
	return int64(2 + 3*idx + k)
}

func udpReceived(idx, k int) uint64 { return uint64(int64(udpSent(idx, k)) - udpLost(idx, k)) }

func udpOutOfOrder(idx, k int) uint64 {
	n := uint64(idx % 2)
	if udpLost(idx, k) < 0 {
		n++
	}
	return n
}

func udpJitter(idx, k int) float64 { return 0.000125*float64(idx+1) + 0.00001*float64(k) }

// sampleBytes is the bytes stream idx moved in interval k: what it sent or
// received.
func (sc scenario) sampleBytes(idx, k int, d engine.Dir) uint64 {
	if !sc.udp {
		return streamBytes(idx, k)
	}
	if d == engine.Send {
		return udpSent(idx, k) * udpSize
	}
	return udpReceived(idx, k) * udpSize
}

func (sc scenario) start() *engine.Start {
	dirs := sc.dirs()
	s := &engine.Start{
		Side:          sc.side,
		Version:       engine.Version,
		PeerFlowscope: false,
		Cookie:        "abcdefghijklmnopqrstuvwxyz2345672345",
		Host:          "127.0.0.1",
		Port:          testPort,
		Params: engine.TestParams{
			Protocol: "TCP", Parallel: sc.parallel, BlockSize: 131072,
			Omit: time.Duration(sc.omitted) * time.Second, Duration: time.Duration(sc.intervals) * time.Second,
			Reverse: sc.reverse, Bidir: sc.bidir, Interval: time.Second,
		},
		Timestamp: time.Date(2026, 11, 21, 23, 58, 20, 0, time.UTC),
		MSS:       32768,
		SndBuf:    16384,
		RcvBuf:    131072,
	}
	if sc.side == engine.SideServer {
		s.Port = 40000
	}
	o := sc.opts
	p := &s.Params
	p.Title, p.ExtraData, p.TOS, p.Blocks, p.FQRate = o.title, o.extraData, o.tos, o.blocks, o.fqRate
	if o.blocks > 0 {
		// As the engine does: a -k test has no duration, and the client
		// counts the blocks' bytes (the server is told blocks only).
		p.Duration = 0
		if sc.side == engine.SideClient {
			p.Bytes = o.blocks * int64(p.BlockSize)
		}
	}
	if sc.udp {
		s.Params.Protocol, s.Params.BlockSize, s.Params.Rate = "UDP", udpSize, 100_000_000
		s.SndBuf, s.RcvBuf = 212992, 212992
	}
	for i, d := range dirs {
		var local, remote net.Addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40002 + i}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: testPort}
		if sc.udp {
			local, remote = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40002 + i}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: testPort}
		}
		if sc.side == engine.SideServer {
			local, remote = remote, local
		}
		s.Streams = append(s.Streams, engine.StreamInfo{ID: engine.StreamID(i), Dir: d, Local: local, Remote: remote})
		if sc.side == engine.SideClient {
			s.ConnectTimes = append(s.ConnectTimes, time.Duration(100+10*i)*time.Microsecond)
		}
	}
	return s
}

func (sc scenario) sample(seq, k int, omitted bool) *engine.Sample {
	dirs := sc.dirs()
	s := &engine.Sample{
		Side: sc.side, Seq: seq, Omitted: omitted,
		Start: time.Duration(k) * time.Second, End: time.Duration(k+1) * time.Second,
	}
	for i, d := range dirs {
		st := engine.StreamSample{ID: engine.StreamID(i), Dir: d, Bytes: sc.sampleBytes(i, k, d), State: engine.StateRunning}
		if sc.udp {
			u := &engine.UDPStats{Packets: udpSent(i, k), Behind: 1}
			if d == engine.Recv {
				u = &engine.UDPStats{Packets: udpReceived(i, k), Lost: udpLost(i, k), OutOfOrder: udpOutOfOrder(i, k), Jitter: udpJitter(i, k)}
			}
			st.UDP = u
			sum := &s.Sent
			if d == engine.Recv {
				sum = &s.Received
			}
			sum.Streams++
			sum.Bytes += st.Bytes
			if sum.UDP == nil {
				sum.UDP = &engine.UDPStats{}
			}
			sum.UDP.Packets += u.Packets
			sum.UDP.Lost += u.Lost
			sum.UDP.OutOfOrder += u.OutOfOrder
			sum.UDP.Jitter += u.Jitter / float64(sc.parallel)
			s.Streams = append(s.Streams, st)
			continue
		}
		if d == engine.Send {
			st.Acked = st.Bytes - 1000
			st.TCP = engine.TCPStats{Valid: true, Retransmits: uint64(i + k), Reorder: uint64(k), SndCwnd: 1047728, SndWnd: 4431872, RTT: 75, RTTVar: 26, PMTU: 65535}
			s.Sent.Streams++
			s.Sent.Bytes += st.Bytes
		} else {
			s.Received.Streams++
			s.Received.Bytes += st.Bytes
		}
		s.Streams = append(s.Streams, st)
	}
	return s
}

func (sc scenario) end() *engine.End {
	e := &engine.End{
		Side: sc.side, Seconds: float64(sc.intervals),
		LocalCPU: engine.CPU{Total: 98.5, User: 0.5, System: 98}, RemoteCPU: engine.CPU{Total: 46, User: 1, System: 45},
		HasRemote: !sc.noPeer, Congestion: "cubic", PeerCongestion: "bbr", Err: sc.err,
		ServerOutputText: sc.serverText, ServerOutputJSON: sc.serverJSON,
	}
	for i, d := range sc.dirs() {
		r := engine.StreamResult{ID: engine.StreamID(i), Dir: d, Seconds: float64(sc.intervals), Retransmits: -1}
		if sc.udp {
			e.Congestion, e.PeerCongestion = "", ""
			sc.udpResult(&r, i)
			e.Streams = append(e.Streams, r)
			continue
		}
		for k := 0; k < sc.intervals; k++ {
			r.Bytes += streamBytes(i, k)
			if d == engine.Send {
				r.Retransmits = max(r.Retransmits, 0) + int64(i+k)
				r.Reorder += uint64(k)
			}
		}
		if !sc.noPeer {
			r.HasPeer = true
			r.PeerSeconds = float64(sc.intervals) + 0.0005
			if d == engine.Send {
				r.PeerBytes = r.Bytes - 262144 // still in flight at the end
			} else {
				r.PeerBytes = r.Bytes + 262144
				r.Retransmits = int64(7 * (i + 1))
			}
		}
		if d == engine.Send {
			r.HasTCPInfo = true
			r.MaxSndCwnd, r.MaxSndWnd, r.MinRTT, r.MaxRTT, r.MeanRTT = 1047728, 4431872, 27, 75, 51
		}
		e.Streams = append(e.Streams, r)
	}
	return e
}

// udpResult fills a UDP stream's totals over the measured intervals: this
// side's, and the peer's as it reports them (a receiver's total is its
// received + lost).
func (sc scenario) udpResult(r *engine.StreamResult, idx int) {
	var sent, recv uint64
	var lost int64
	var ooo uint64
	for k := 0; k < sc.intervals; k++ {
		sent += udpSent(idx, k)
		recv += udpReceived(idx, k)
		lost += udpLost(idx, k)
		ooo += udpOutOfOrder(idx, k)
	}
	jitter := udpJitter(idx, sc.intervals-1)
	if r.Dir == engine.Send {
		r.Bytes = sent * udpSize
		r.UDP = &engine.UDPStats{Packets: sent, SendErrors: 2, Behind: 5}
		if !sc.noPeer {
			r.PeerBytes = recv * udpSize
			r.PeerUDP = &engine.UDPStats{Packets: recv + uint64(lost), Lost: lost, Jitter: jitter}
		}
	} else {
		r.Bytes = recv * udpSize
		r.UDP = &engine.UDPStats{Packets: recv, Lost: lost, OutOfOrder: ooo, Jitter: jitter, Duplicates: 4, Malformed: 1}
		if !sc.noPeer {
			r.PeerBytes = sent * udpSize
			r.PeerUDP = &engine.UDPStats{Packets: sent}
		}
	}
	if !sc.noPeer {
		r.HasPeer = true
		r.PeerSeconds = float64(sc.intervals) + 0.0005
	}
}

// events is the whole event sequence of the scenario.
func (sc scenario) events() []engine.Event {
	evs := []engine.Event{&engine.Progress{Side: sc.side, Connected: 1, Total: 1}, sc.start()}
	seq := 0
	for k := 0; k < sc.omitted; k++ {
		evs = append(evs, sc.sample(seq, k, true))
		seq++
	}
	for k := 0; k < sc.intervals; k++ {
		evs = append(evs, sc.sample(seq, k, false))
		seq++
	}
	return append(evs, sc.end())
}

func feed(r Reporter, evs []engine.Event) {
	for _, ev := range evs {
		r.Handle(ev)
	}
}

var errRefused = errors.New("unable to connect to server: connection refused")
