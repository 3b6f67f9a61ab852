package record

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// stallWindow is how long a stream in an iperf3 file must move nothing to
// be shown as stalled: the engine's default (iperf3 files carry no state).
const stallWindow = time.Second

// iperf3's JSON, the keys the conversion reads (3.x; flowscope's -J and
// --json-stream output has the same shape plus a "flowscope" object).

type i3Connected struct {
	Socket     int    `json:"socket"`
	LocalHost  string `json:"local_host"`
	LocalPort  int    `json:"local_port"`
	RemoteHost string `json:"remote_host"`
	RemotePort int    `json:"remote_port"`
}

type i3HostPort struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

type i3Start struct {
	Connected  []i3Connected `json:"connected"`
	Version    string        `json:"version"`
	SystemInfo string        `json:"system_info"`
	Timestamp  struct {
		Timesecs      int64 `json:"timesecs"`
		Timemillisecs int64 `json:"timemillisecs"`
	} `json:"timestamp"`
	ConnectingTo       *i3HostPort `json:"connecting_to"`
	AcceptedConnection *i3HostPort `json:"accepted_connection"`
	Cookie             string      `json:"cookie"`
	MSS                int         `json:"tcp_mss_default"`
	SockBufsize        int         `json:"sock_bufsize"`
	SndbufActual       int         `json:"sndbuf_actual"`
	RcvbufActual       int         `json:"rcvbuf_actual"`
	TestStart          struct {
		Protocol      string  `json:"protocol"`
		NumStreams    int     `json:"num_streams"`
		Blksize       int     `json:"blksize"`
		Omit          float64 `json:"omit"`
		Duration      float64 `json:"duration"`
		Bytes         int64   `json:"bytes"`
		Blocks        int64   `json:"blocks"`
		Reverse       int     `json:"reverse"`
		Tos           int     `json:"tos"`
		TargetBitrate uint64  `json:"target_bitrate"`
		Bidir         int     `json:"bidir"`
		Fqrate        uint64  `json:"fqrate"`
		Interval      float64 `json:"interval"`
	} `json:"test_start"`
}

type i3IntervalStream struct {
	Socket      int      `json:"socket"`
	Start       float64  `json:"start"`
	End         float64  `json:"end"`
	Bytes       uint64   `json:"bytes"`
	Retransmits *uint64  `json:"retransmits"`
	SndCwnd     uint64   `json:"snd_cwnd"`
	SndWnd      uint64   `json:"snd_wnd"`
	RTT         uint32   `json:"rtt"`
	RTTVar      uint32   `json:"rttvar"`
	PMTU        uint32   `json:"pmtu"`
	Reorder     uint64   `json:"reorder"` // iperf3 3.21
	Omitted     bool     `json:"omitted"`
	Sender      bool     `json:"sender"`
	JitterMS    *float64 `json:"jitter_ms"`
	LostPackets *int64   `json:"lost_packets"`
	Packets     *uint64  `json:"packets"`
}

type i3IntervalSum struct {
	Start       float64  `json:"start"`
	End         float64  `json:"end"`
	Bytes       uint64   `json:"bytes"`
	Retransmits *uint64  `json:"retransmits"`
	Omitted     bool     `json:"omitted"`
	Sender      bool     `json:"sender"`
	JitterMS    *float64 `json:"jitter_ms"`
	LostPackets *int64   `json:"lost_packets"`
	Packets     *uint64  `json:"packets"`
}

type i3Interval struct {
	Streams         []i3IntervalStream `json:"streams"`
	Sum             *i3IntervalSum     `json:"sum"`
	SumBidirReverse *i3IntervalSum     `json:"sum_bidir_reverse"`
}

type i3EndSide struct {
	Socket      int     `json:"socket"`
	Seconds     float64 `json:"seconds"`
	Bytes       uint64  `json:"bytes"`
	Retransmits *int64  `json:"retransmits"`
	Reorder     uint64  `json:"reorder"` // iperf3 3.21
	MaxSndCwnd  *uint64 `json:"max_snd_cwnd"`
	MaxSndWnd   uint64  `json:"max_snd_wnd"`
	MaxRTT      uint32  `json:"max_rtt"`
	MinRTT      uint32  `json:"min_rtt"`
	MeanRTT     uint32  `json:"mean_rtt"`
	Sender      bool    `json:"sender"`
}

type i3EndUDP struct {
	Socket      int     `json:"socket"`
	Seconds     float64 `json:"seconds"`
	Bytes       uint64  `json:"bytes"`
	JitterMS    float64 `json:"jitter_ms"`
	LostPackets int64   `json:"lost_packets"`
	Packets     uint64  `json:"packets"`
	OutOfOrder  uint64  `json:"out_of_order"`
	Sender      bool    `json:"sender"`
}

type i3EndStream struct {
	Sender   *i3EndSide `json:"sender"`
	Receiver *i3EndSide `json:"receiver"`
	UDP      *i3EndUDP  `json:"udp"`
}

type i3EndSum struct {
	Seconds float64 `json:"seconds"`
}

type i3CPU struct {
	HostTotal    float64 `json:"host_total"`
	HostUser     float64 `json:"host_user"`
	HostSystem   float64 `json:"host_system"`
	RemoteTotal  float64 `json:"remote_total"`
	RemoteUser   float64 `json:"remote_user"`
	RemoteSystem float64 `json:"remote_system"`
}

type i3End struct {
	Streams     []i3EndStream `json:"streams"`
	Sum         *i3EndSum     `json:"sum"`
	SumSent     *i3EndSum     `json:"sum_sent"`
	SumReceived *i3EndSum     `json:"sum_received"`
	CPU         *i3CPU        `json:"cpu_utilization_percent"`
	SenderCC    string        `json:"sender_tcp_congestion"`
	ReceiverCC  string        `json:"receiver_tcp_congestion"`
}

// i3Extras is flowscope's "flowscope" object in its -J and --json-stream
// output: the peer, the findings and the streams' last state.
type i3Extras struct {
	Peer     string        `json:"peer"`
	Findings []jsonFinding `json:"findings"`
	Streams  []struct {
		Socket int    `json:"socket"`
		State  string `json:"state"`
		Reason string `json:"reason"`
		Error  string `json:"error"`
	} `json:"streams"`
}

// iperf3Converter turns iperf3's start, interval and end objects into
// engine events, one test after another.
type iperf3Converter struct {
	rec   *Recording
	tests uint64 // tests started, to number a server's tests

	// The test being converted.
	start   *engine.Start
	side    engine.Side
	test    uint64
	seq     int
	udp     bool
	totals  map[int]uint64
	idle    map[int]time.Duration // how long each stream moved nothing
	end     *engine.End
	errMsg  string
	extras  *i3Extras
	started bool // a start or interval was seen for this test
}

func newIperf3Converter(rec *Recording) *iperf3Converter {
	return &iperf3Converter{rec: rec}
}

// onStart begins a test (finishing one still open).
func (c *iperf3Converter) onStart(data json.RawMessage) error {
	if err := c.finish(); err != nil {
		return err
	}
	var s i3Start
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if c.rec.Producer == "" {
		c.rec.Producer = s.Version
	}
	if c.rec.SystemInfo == "" {
		c.rec.SystemInfo = s.SystemInfo
	}
	c.side = engine.SideClient
	if s.ConnectingTo == nil && s.AcceptedConnection != nil {
		c.side = engine.SideServer
	}
	c.tests++
	if c.side == engine.SideServer {
		c.test = c.tests
	}
	c.totals, c.idle = map[int]uint64{}, map[int]time.Duration{}
	c.started = true
	ts := s.TestStart
	if len(s.Connected) == 0 && ts.Protocol == "" {
		return nil // the test failed before it started: an End follows
	}
	proto := ts.Protocol
	if proto == "" {
		proto = "TCP"
	}
	c.udp = proto == "UDP"
	st := &engine.Start{
		Side: c.side, Test: c.test, Version: s.Version, Cookie: s.Cookie, MSS: s.MSS,
		SndBuf: s.SndbufActual, RcvBuf: s.RcvbufActual,
		Params: engine.TestParams{
			Protocol: engine.Protocol(proto), Parallel: ts.NumStreams, BlockSize: ts.Blksize, Omit: dur(ts.Omit),
			Duration: dur(ts.Duration), Bytes: ts.Bytes, Blocks: ts.Blocks, Reverse: ts.Reverse != 0,
			Bidir: ts.Bidir != 0, Rate: ts.TargetBitrate, Window: s.SockBufsize, TOS: ts.Tos,
			FQRate: ts.Fqrate, Interval: dur(ts.Interval), ServerAffinity: -1,
		},
	}
	switch {
	case s.Timestamp.Timemillisecs > 0:
		st.Timestamp = time.UnixMilli(s.Timestamp.Timemillisecs).UTC()
	case s.Timestamp.Timesecs > 0:
		st.Timestamp = time.Unix(s.Timestamp.Timesecs, 0).UTC()
	}
	if hp := s.ConnectingTo; hp != nil {
		st.Host, st.Port = hp.Host, hp.Port
	} else if hp := s.AcceptedConnection; hp != nil {
		st.Host, st.Port = hp.Host, hp.Port
	}
	// The direction a stream has when nothing says otherwise: bidir
	// streams get theirs from the intervals' "sender" flags.
	dir := engine.Send
	if (c.side == engine.SideServer) != st.Params.Reverse {
		dir = engine.Recv
	}
	for _, cn := range s.Connected {
		st.Streams = append(st.Streams, engine.StreamInfo{
			ID: cn.Socket, Dir: dir,
			Local:  hostAddr(cn.LocalHost, cn.LocalPort, c.udp),
			Remote: hostAddr(cn.RemoteHost, cn.RemotePort, c.udp),
		})
	}
	c.start = st
	c.rec.Events = append(c.rec.Events, st)
	return nil
}

func hostAddr(host string, port int, udp bool) net.Addr {
	ip := net.ParseIP(host)
	if ip == nil {
		return nil
	}
	if udp {
		return &net.UDPAddr{IP: ip, Port: port}
	}
	return &net.TCPAddr{IP: ip, Port: port}
}

// setDir records a stream's direction in the test's Start.
func (c *iperf3Converter) setDir(id int, d engine.Dir) {
	if c.start == nil {
		return
	}
	for i := range c.start.Streams {
		if c.start.Streams[i].ID == id {
			c.start.Streams[i].Dir = d
		}
	}
}

func dirOf(sender bool) engine.Dir {
	if sender {
		return engine.Send
	}
	return engine.Recv
}

func msToSeconds(ms *float64) float64 {
	if ms == nil || math.IsNaN(*ms) || math.IsInf(*ms, 0) {
		return 0
	}
	return *ms / 1000
}

func (c *iperf3Converter) onInterval(data json.RawMessage) error {
	var iv i3Interval
	if err := json.Unmarshal(data, &iv); err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	if c.start == nil {
		return fmt.Errorf("interval %d comes before the test's start", c.seq+1)
	}
	smp := &engine.Sample{Side: c.side, Test: c.test, Seq: c.seq}
	c.seq++
	switch {
	case iv.Sum != nil:
		smp.Start, smp.End, smp.Omitted = dur(iv.Sum.Start), dur(iv.Sum.End), iv.Sum.Omitted
	case len(iv.Streams) > 0:
		smp.Start, smp.End, smp.Omitted = dur(iv.Streams[0].Start), dur(iv.Streams[0].End), iv.Streams[0].Omitted
	}
	if smp.End < smp.Start {
		return fmt.Errorf("interval %d ends before it starts", smp.Seq+1)
	}
	length := smp.End - smp.Start
	if c.start.Params.Interval == 0 && length > 0 {
		c.start.Params.Interval = length.Round(100 * time.Millisecond)
	}
	for _, is := range iv.Streams {
		d := dirOf(is.Sender)
		c.setDir(is.Socket, d)
		ss := engine.StreamSample{ID: is.Socket, Dir: d, Bytes: is.Bytes, State: engine.StateRunning}
		if !smp.Omitted {
			c.totals[is.Socket] += is.Bytes
		}
		ss.Total = c.totals[is.Socket]
		if is.Bytes == 0 {
			c.idle[is.Socket] += length
		} else {
			c.idle[is.Socket] = 0
		}
		if idle := c.idle[is.Socket]; idle >= stallWindow {
			ss.State, ss.StalledFor = engine.StateStalled, idle
		}
		if is.Retransmits != nil && is.Sender {
			ss.TCP = engine.TCPStats{Valid: true, Retransmits: *is.Retransmits, Reorder: is.Reorder, SndCwnd: is.SndCwnd, SndWnd: is.SndWnd, RTT: is.RTT, RTTVar: is.RTTVar, PMTU: is.PMTU}
		}
		if is.Packets != nil {
			c.udp = true
			u := &engine.UDPStats{Packets: *is.Packets, Jitter: msToSeconds(is.JitterMS)}
			if is.LostPackets != nil {
				u.Lost = *is.LostPackets
			}
			ss.UDP = u
		}
		smp.Streams = append(smp.Streams, ss)
	}
	for _, sum := range []*i3IntervalSum{iv.Sum, iv.SumBidirReverse} {
		if sum == nil {
			continue
		}
		es := engine.Sum{Bytes: sum.Bytes}
		for i := range smp.Streams {
			if smp.Streams[i].Dir == dirOf(sum.Sender) {
				es.Streams++
			}
		}
		if sum.Retransmits != nil {
			es.HasTCP, es.Retransmits = true, *sum.Retransmits
		}
		if sum.Packets != nil {
			es.UDP = &engine.UDPStats{Packets: *sum.Packets, Jitter: msToSeconds(sum.JitterMS)}
			if sum.LostPackets != nil {
				es.UDP.Lost = *sum.LostPackets
			}
		}
		if sum.Sender {
			smp.Sent = es
		} else {
			smp.Received = es
		}
	}
	c.rec.Events = append(c.rec.Events, smp)
	return nil
}

func (c *iperf3Converter) onEnd(data json.RawMessage) error {
	var e i3End
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("end: %w", err)
	}
	c.started = true
	end := &engine.End{Side: c.side, Test: c.test}
	for _, s := range e.Streams {
		switch {
		case s.UDP != nil:
			u := s.UDP
			d := dirOf(u.Sender)
			c.setDir(u.Socket, d)
			end.Streams = append(end.Streams, engine.StreamResult{
				ID: u.Socket, Dir: d, Bytes: u.Bytes, Seconds: u.Seconds, Retransmits: -1,
				UDP: &engine.UDPStats{Packets: u.Packets, Lost: u.LostPackets, OutOfOrder: u.OutOfOrder, Jitter: u.JitterMS / 1000},
			})
		case s.Sender != nil && s.Receiver != nil:
			snd, rcv := s.Sender, s.Receiver
			d := dirOf(snd.Sender)
			c.setDir(snd.Socket, d)
			local, peer := snd, rcv
			if d == engine.Recv {
				local, peer = rcv, snd
			}
			r := engine.StreamResult{
				ID: snd.Socket, Dir: d, Bytes: local.Bytes, Seconds: local.Seconds,
				PeerBytes: peer.Bytes, PeerSeconds: peer.Seconds, HasPeer: true, Retransmits: -1,
			}
			if snd.Retransmits != nil {
				r.Retransmits = *snd.Retransmits
			}
			if d == engine.Send {
				r.Reorder = snd.Reorder
			}
			if snd.MaxSndCwnd != nil {
				r.HasTCPInfo = d == engine.Send
				r.MaxSndCwnd, r.MaxSndWnd = *snd.MaxSndCwnd, snd.MaxSndWnd
				r.MinRTT, r.MaxRTT, r.MeanRTT = snd.MinRTT, snd.MaxRTT, snd.MeanRTT
			}
			end.Streams = append(end.Streams, r)
		}
	}
	for _, sum := range []*i3EndSum{e.SumSent, e.Sum, e.SumReceived} {
		if sum != nil && sum.Seconds > 0 && !math.IsInf(sum.Seconds, 0) {
			end.Seconds = sum.Seconds
			break
		}
	}
	if cpu := e.CPU; cpu != nil {
		end.LocalCPU = engine.CPU{Total: cpu.HostTotal, User: cpu.HostUser, System: cpu.HostSystem}
		if c.side == engine.SideClient {
			end.RemoteCPU, end.HasRemote = engine.CPU{Total: cpu.RemoteTotal, User: cpu.RemoteUser, System: cpu.RemoteSystem}, true
		}
	}
	localSends := len(end.Streams) > 0 && end.Streams[0].Dir == engine.Send
	if c.start != nil && c.start.Params.Bidir {
		localSends = true
	}
	switch {
	case c.side == engine.SideClient && localSends:
		end.Congestion, end.PeerCongestion = e.SenderCC, e.ReceiverCC
	case c.side == engine.SideClient:
		end.Congestion, end.PeerCongestion = e.ReceiverCC, e.SenderCC
	case e.SenderCC != "":
		end.Congestion = e.SenderCC
	default:
		end.Congestion = e.ReceiverCC
	}
	c.end = end
	return nil
}

func (c *iperf3Converter) onError(data json.RawMessage) error {
	var msg string
	if err := json.Unmarshal(data, &msg); err != nil {
		return fmt.Errorf("error: %w", err)
	}
	c.errMsg = msg
	c.started = true
	return nil
}

func (c *iperf3Converter) onExtras(data json.RawMessage) error {
	var x i3Extras
	if err := json.Unmarshal(data, &x); err != nil {
		return fmt.Errorf("flowscope: %w", err)
	}
	c.extras = &x
	return nil
}

// finish emits the open test's End, when its end (or error) was seen, with
// the error and flowscope's findings that came beside it.
func (c *iperf3Converter) finish() error {
	defer func() {
		c.start, c.end, c.errMsg, c.extras, c.seq, c.udp, c.started = nil, nil, "", nil, 0, false, false
	}()
	if c.end == nil && c.errMsg == "" {
		return nil
	}
	end := c.end
	if end == nil {
		end = &engine.End{Side: c.side, Test: c.test}
	}
	if c.errMsg != "" {
		end.Err = &recordedError{c.errMsg}
	}
	if x := c.extras; x != nil {
		if c.start != nil {
			c.start.PeerFlowscope = x.Peer == "flowscope"
		}
		fs, err := decodeFindings(x.Findings)
		if err != nil {
			return err
		}
		end.Findings = fs
		for _, xs := range x.Streams {
			for i := range end.Streams {
				if end.Streams[i].ID == xs.Socket && xs.Error != "" {
					end.Streams[i].Err = xs.Error
				}
			}
		}
	}
	c.rec.Events = append(c.rec.Events, end)
	return nil
}
