package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"sync"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// obj is a JSON object that keeps its keys in insertion order, so that the
// output follows iperf3's key order.
type obj []field

type field struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := o.encode(&b, newEncoder(&b)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encode writes o to b; nested objs are written in place, so that their
// bytes are not re-validated at every level as encoding/json does with
// a Marshaler's output. enc writes to b.
func (o obj) encode(b *bytes.Buffer, enc *json.Encoder) error {
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encodeValue(b, enc, f.k); err != nil {
			return err
		}
		b.WriteByte(':')
		if err := encodeValue(b, enc, f.v); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// encodeValue writes v to b: an obj in place, anything else by enc
// without its trailing newline.
func encodeValue(b *bytes.Buffer, enc *json.Encoder, v any) error {
	if o, ok := v.(obj); ok {
		return o.encode(b, enc)
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

func newEncoder(b *bytes.Buffer) *json.Encoder {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	return enc
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, newEncoder(&b), v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// The iperf3 3.12 JSON schema for TCP and UDP tests. Optional groups of
// keys are embedded pointers, which encoding/json leaves out when nil.

type jsonConnected struct {
	Socket     int    `json:"socket"`
	LocalHost  string `json:"local_host"`
	LocalPort  int    `json:"local_port"`
	RemoteHost string `json:"remote_host"`
	RemotePort int    `json:"remote_port"`
}

type jsonTimestamp struct {
	Time     string `json:"time"`
	Timesecs int64  `json:"timesecs"`
	// Timemillisecs is iperf3 3.20's.
	Timemillisecs int64 `json:"timemillisecs"`
}

type jsonHostPort struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// jsonTestStart is iperf3 3.12's test_start plus bidir and fqrate (3.13)
// and interval (3.17), which flowscope emits like newer iperf3 versions.
type jsonTestStart struct {
	Protocol      string  `json:"protocol"`
	NumStreams    int     `json:"num_streams"`
	Blksize       int     `json:"blksize"`
	Omit          any     `json:"omit"`     // whole seconds as an integer
	Duration      any     `json:"duration"` // whole seconds as an integer
	Bytes         int64   `json:"bytes"`
	Blocks        int64   `json:"blocks"`
	Reverse       int     `json:"reverse"`
	Tos           int     `json:"tos"`
	TargetBitrate uint64  `json:"target_bitrate"`
	Bidir         int     `json:"bidir"`
	Fqrate        uint64  `json:"fqrate"`
	Interval      float64 `json:"interval"`
	// GSO and GRO (iperf3 3.21) say whether UDP datagrams are batched
	// with segmentation offload on send and coalesced on receive.
	GSO int `json:"gso"`
	GRO int `json:"gro"`
}

type jsonIntervalTCP struct {
	Retransmits uint64 `json:"retransmits"`
	SndCwnd     uint64 `json:"snd_cwnd"`
	SndWnd      uint64 `json:"snd_wnd"`
	RTT         uint32 `json:"rtt"`
	RTTVar      uint32 `json:"rttvar"`
	PMTU        uint32 `json:"pmtu"`
	Reorder     uint64 `json:"reorder"` // iperf3 3.21
}

// jsonIntervalUDP is a UDP interval's datagram keys: a sender has packets
// only, a receiver jitter_ms, lost_packets, packets and lost_percent.
type jsonIntervalUDP struct {
	JitterMS    *float64 `json:"jitter_ms,omitempty"`
	LostPackets *int64   `json:"lost_packets,omitempty"`
	Packets     uint64   `json:"packets"`
	LostPercent *float64 `json:"lost_percent,omitempty"`
}

func intervalUDPKeys(dir engine.Dir, iu *intervalUDP) *jsonIntervalUDP {
	if dir == engine.Send {
		return &jsonIntervalUDP{Packets: iu.packets}
	}
	jitter, lost, pct := jitterMS(iu.jitter()), iu.lost, iu.lostPercent()
	return &jsonIntervalUDP{JitterMS: &jitter, LostPackets: &lost, Packets: iu.packets, LostPercent: &pct}
}

type jsonIntervalStream struct {
	Socket        int     `json:"socket"`
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	*jsonIntervalTCP
	*jsonIntervalUDP
	Omitted bool `json:"omitted"`
	Sender  bool `json:"sender"`
}

type jsonIntervalSum struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   *uint64 `json:"retransmits,omitempty"`
	*jsonIntervalUDP
	Omitted bool `json:"omitted"`
	Sender  bool `json:"sender"`
}

type jsonEndTCP struct {
	Retransmits int64  `json:"retransmits"`
	Reorder     uint64 `json:"reorder"` // iperf3 3.21; 0 for a peer's sender, as 3.21 writes
	MaxSndCwnd  uint64 `json:"max_snd_cwnd"`
	MaxSndWnd   uint64 `json:"max_snd_wnd"`
	MaxRTT      uint32 `json:"max_rtt"`
	MinRTT      uint32 `json:"min_rtt"`
	MeanRTT     uint32 `json:"mean_rtt"`
}

type jsonEndSide struct {
	Socket        int     `json:"socket"`
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	*jsonEndTCP
	Sender bool `json:"sender"`
}

type jsonEndStream struct {
	Sender   jsonEndSide `json:"sender"`
	Receiver jsonEndSide `json:"receiver"`
}

// jsonEndUDP is a UDP stream's end entry, iperf3's "udp" object: the
// sender's bytes and time, the receiver's jitter and loss, the sender's
// datagram count (the receiver's when the sender's is unknown) and this
// side's out-of-order count.
type jsonEndUDP struct {
	Socket        int     `json:"socket"`
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	JitterMS      float64 `json:"jitter_ms"`
	LostPackets   int64   `json:"lost_packets"`
	Packets       uint64  `json:"packets"`
	LostPercent   float64 `json:"lost_percent"`
	OutOfOrder    uint64  `json:"out_of_order"`
	Sender        bool    `json:"sender"`
}

type jsonEndUDPStream struct {
	UDP jsonEndUDP `json:"udp"`
}

// jsonEndUDPSum is a UDP test's "sum", "sum_sent" and "sum_received".
type jsonEndUDPSum struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	JitterMS      float64 `json:"jitter_ms"`
	LostPackets   int64   `json:"lost_packets"`
	Packets       uint64  `json:"packets"`
	LostPercent   float64 `json:"lost_percent"`
	Sender        bool    `json:"sender"`
}

type jsonEndSum struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   *int64  `json:"retransmits,omitempty"`
	Sender        bool    `json:"sender"`
}

type jsonCPU struct {
	HostTotal    float64 `json:"host_total"`
	HostUser     float64 `json:"host_user"`
	HostSystem   float64 `json:"host_system"`
	RemoteTotal  float64 `json:"remote_total"`
	RemoteUser   float64 `json:"remote_user"`
	RemoteSystem float64 `json:"remote_system"`
}

// jsonExtras is the top-level "flowscope" object: what flowscope knows
// beyond iperf3's schema. iperf3's own keys never carry extras.
type jsonExtras struct {
	Side string `json:"side"`
	// Peer is "flowscope" when the peer negotiated flowscope extensions,
	// "iperf3" for a stock peer; absent when the test never started.
	Peer string `json:"peer,omitempty"`
	// ConnectTimeUS summarises the data connections' connect times (client).
	ConnectTimeUS *jsonConnectTimes `json:"connect_time_us,omitempty"`
	// SkipRxCopy is true when receivers dropped data with MSG_TRUNC
	// instead of copying it (--skip-rx-copy); Note says more when a stock
	// server was asked.
	SkipRxCopy bool   `json:"skip_rx_copy,omitempty"`
	Note       string `json:"note,omitempty"`
	// Findings are the test's diagnoses: what happened, evidence, fix.
	Findings []jsonFinding     `json:"findings"`
	Streams  []jsonExtraStream `json:"streams,omitempty"`
}

// jsonExtraUDP is one UDP stream's counts beyond iperf3's, over the
// measured test: a receiver's duplicate and malformed datagrams, a sender's
// refused writes and the most datagrams it ever fell behind its schedule
// (the sender, not the network, limited the rate).
type jsonExtraUDP struct {
	Duplicates *uint64 `json:"duplicates,omitempty"`
	Malformed  *uint64 `json:"malformed,omitempty"`
	SendErrors *uint64 `json:"send_errors,omitempty"`
	MaxBehind  *uint64 `json:"max_behind_datagrams,omitempty"`
}

func extraUDP(r *engine.StreamResult) *jsonExtraUDP {
	u := r.UDP
	if u == nil {
		return nil
	}
	if r.Dir == engine.Send {
		return &jsonExtraUDP{SendErrors: ptr(u.SendErrors), MaxBehind: ptr(u.Behind)}
	}
	return &jsonExtraUDP{Duplicates: ptr(u.Duplicates), Malformed: ptr(u.Malformed)}
}

func ptr[T any](v T) *T { return &v }

type jsonFinding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	What     string `json:"what"`
	Evidence string `json:"evidence,omitempty"`
	Fix      string `json:"fix,omitempty"`
	// Origin is the side that made it: "client" or "server".
	Origin string `json:"origin"`
	// Direction: "client-to-server", "server-to-client" or "" (the test).
	Direction string `json:"direction"`
	Streams   []int  `json:"streams"`
	// Start and End are seconds on the test's clock; End is null while
	// (or if, at the end, still) the finding holds.
	Start float64  `json:"start"`
	End   *float64 `json:"end"`
}

// findingJSON is f as flowscope.findings and the finding events write it;
// viewer is the side writing, which a finding without an origin is from.
func findingJSON(f engine.Finding, viewer engine.Origin) jsonFinding {
	origin := f.Origin
	if origin == "" {
		origin = viewer
	}
	streams := f.Streams
	if streams == nil {
		streams = []int{}
	}
	j := jsonFinding{Severity: f.Severity.String(), Kind: f.Kind, What: f.What, Evidence: f.Evidence, Fix: f.Fix,
		Origin: string(origin), Direction: f.Direction.String(), Streams: streams, Start: round3(f.Span.Start.Seconds())}
	if f.Span.Ended {
		end := round3(f.Span.End.Seconds())
		j.End = &end
	}
	return j
}

// round3 keeps a time to the millisecond.
func round3(s float64) float64 { return math.Round(s*1000) / 1000 }

type jsonConnectTimes struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

type jsonExtraStream struct {
	Socket int    `json:"socket"`
	Dir    string `json:"dir"`
	// AckedBytes is the sender's TCP-acknowledged payload over the measured
	// intervals (sending streams with TCP_INFO only).
	AckedBytes *uint64 `json:"acked_bytes,omitempty"`
	// UDP holds this side's datagram counts that iperf3 has no key for
	// (UDP streams only).
	UDP   *jsonExtraUDP `json:"udp,omitempty"`
	State string        `json:"state,omitempty"`
	// Reason says why the stream was stalled when last seen stalled.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// doc accumulates one test's JSON.
type doc struct {
	start     *engine.Start
	side      engine.Side
	sideKnown bool
	udp       bool // a UDP test
	intervals []any
	acked     map[int]uint64 // stream id → acked bytes, measured intervals
	state     map[int]engine.StreamState
	reason    map[int]string // stream id → last stall diagnosis
}

func (d *doc) reset() { *d = doc{} }

func (d *doc) onStart(s *engine.Start) obj {
	d.reset()
	d.start, d.side, d.sideKnown, d.udp = s, s.Side, true, isUDP(s)
	return startObject(s)
}

// startObject is iperf3's "start" object, with the client's or the
// server's key order.
func startObject(s *engine.Start) obj {
	conn := make([]jsonConnected, 0, len(s.Streams))
	for _, st := range s.Streams {
		lh, lp := hostPort(st.Local)
		rh, rp := hostPort(st.Remote)
		conn = append(conn, jsonConnected{st.ID, lh, lp, rh, rp})
	}
	ts := s.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	p := s.Params
	proto := string(p.Protocol)
	if proto == "" {
		proto = "TCP"
	}
	testStart := jsonTestStart{
		Protocol:      proto,
		NumStreams:    p.Parallel,
		Blksize:       p.BlockSize,
		Omit:          jsonSeconds(p.Omit),
		Duration:      jsonSeconds(p.Duration),
		Bytes:         p.Bytes,
		Blocks:        p.Blocks,
		Reverse:       boolInt(p.Reverse),
		Tos:           p.TOS,
		TargetBitrate: p.Rate,
		Bidir:         boolInt(p.Bidir),
		Fqrate:        p.FQRate,
		Interval:      p.Interval.Seconds(),
		GSO:           boolInt(p.UDP() && !p.NoGSO),
		GRO:           boolInt(p.UDP() && !p.NoGSO),
	}
	if p.Blocks > 0 {
		// A -k test is counted in blocks: iperf3 reports no byte count
		// (the engine's Bytes is the blocks' size).
		testStart.Bytes = 0
	}
	stamp := jsonTimestamp{rfc1123(ts), ts.Unix(), ts.UnixMilli()}
	hp := jsonHostPort{s.Host, s.Port}
	o := obj{{"connected", conn}, {"version", version(s.Version)}, {"system_info", systemInfo()}}
	if isUDP(s) {
		// No tcp_mss_default, and the server's keys in another order.
		if s.Side == engine.SideClient {
			return append(o,
				field{"timestamp", stamp},
				field{"connecting_to", hp},
				field{"cookie", s.Cookie},
				field{"target_bitrate", p.Rate},
				field{"fq_rate", p.FQRate},
				field{"sock_bufsize", p.Window},
				field{"sndbuf_actual", s.SndBuf},
				field{"rcvbuf_actual", s.RcvBuf},
				field{"test_start", testStart})
		}
		return append(o,
			field{"target_bitrate", p.Rate},
			field{"timestamp", stamp},
			field{"accepted_connection", hp},
			field{"cookie", s.Cookie},
			field{"fq_rate", p.FQRate},
			field{"sock_bufsize", p.Window},
			field{"sndbuf_actual", s.SndBuf},
			field{"rcvbuf_actual", s.RcvBuf},
			field{"test_start", testStart})
	}
	if s.Side == engine.SideClient {
		return append(o,
			field{"timestamp", stamp},
			field{"connecting_to", hp},
			field{"cookie", s.Cookie},
			mssField(s),
			field{"target_bitrate", p.Rate},
			field{"fq_rate", p.FQRate},
			field{"sock_bufsize", p.Window},
			field{"sndbuf_actual", s.SndBuf},
			field{"rcvbuf_actual", s.RcvBuf},
			field{"test_start", testStart})
	}
	return append(o,
		field{"sock_bufsize", p.Window},
		field{"sndbuf_actual", s.SndBuf},
		field{"rcvbuf_actual", s.RcvBuf},
		field{"timestamp", stamp},
		field{"accepted_connection", hp},
		field{"cookie", s.Cookie},
		mssField(s),
		field{"target_bitrate", p.Rate},
		field{"fq_rate", p.FQRate},
		field{"test_start", testStart})
}

// mssField is iperf3's "tcp_mss" when -M set it, else "tcp_mss_default",
// the control connection's.
func mssField(s *engine.Start) field {
	if s.Params.MSS > 0 {
		return field{"tcp_mss", s.Params.MSS}
	}
	return field{"tcp_mss_default", s.MSS}
}

// emptyStartObject is what iperf3 writes as "start" when the test failed
// before it started.
func emptyStartObject() obj {
	return obj{{"connected", []jsonConnected{}}, {"version", version("")}, {"system_info", systemInfo()}}
}

// jsonSeconds is a duration in seconds, as an integer when whole (iperf3's
// omit and duration are integers).
func jsonSeconds(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (d *doc) bidir() bool   { return d.start != nil && d.start.Params.Bidir }
func (d *doc) reverse() bool { return d.start != nil && d.start.Params.Reverse }

func (d *doc) onSample(s *engine.Sample) obj {
	if !d.sideKnown {
		d.side, d.sideKnown = s.Side, true
	}
	if d.acked == nil {
		d.acked = make(map[int]uint64)
		d.state = make(map[int]engine.StreamState)
	}
	from, to, secs := seconds(s.Start), seconds(s.End), s.Seconds()
	streams := make([]jsonIntervalStream, len(s.Streams))
	fwd, rev := jsonIntervalSum{}, jsonIntervalSum{}
	var fwdRetr, revRetr uint64
	var fwdUDP, revUDP intervalUDP
	fwdTCP, revTCP, revAny := false, false, false
	for i := range s.Streams {
		d.udp = d.udp || s.Streams[i].UDP != nil
	}
	bidir := d.bidir()
	fwdDir := forwardDir(d.side)
	if !bidir {
		fwdDir = mainDir(d.side, d.reverse())
		if len(s.Streams) > 0 {
			fwdDir = s.Streams[0].Dir
		}
	}
	for i := range s.Streams {
		st := &s.Streams[i]
		js := jsonIntervalStream{
			Socket: st.ID, Start: from, End: to, Seconds: secs,
			Bytes: st.Bytes, BitsPerSecond: bitrate(st.Bytes, secs),
			Omitted: s.Omitted, Sender: st.Dir == engine.Send,
		}
		sendTCP := !d.udp && st.Dir == engine.Send && st.TCP.Valid
		if d.udp {
			var one intervalUDP
			one.add(st.Dir, st.UDP)
			js.jsonIntervalUDP = intervalUDPKeys(st.Dir, &one)
		}
		if sendTCP {
			js.jsonIntervalTCP = &jsonIntervalTCP{
				Retransmits: st.TCP.Retransmits, SndCwnd: st.TCP.SndCwnd, SndWnd: st.TCP.SndWnd,
				RTT: st.TCP.RTT, RTTVar: st.TCP.RTTVar, PMTU: st.TCP.PMTU, Reorder: st.TCP.Reorder,
			}
		}
		streams[i] = js
		if !bidir || st.Dir == fwdDir {
			fwd.Bytes += st.Bytes
			fwdRetr += st.TCP.Retransmits * uint64(boolInt(sendTCP))
			fwdTCP = fwdTCP || sendTCP
			fwdUDP.add(st.Dir, st.UDP)
		} else {
			revAny = true
			rev.Bytes += st.Bytes
			revRetr += st.TCP.Retransmits * uint64(boolInt(sendTCP))
			revTCP = revTCP || sendTCP
			revUDP.add(st.Dir, st.UDP)
		}
		if !s.Omitted {
			d.acked[st.ID] += st.Acked
		}
		d.state[st.ID] = st.State
		if st.Reason != "" {
			if d.reason == nil {
				d.reason = map[int]string{}
			}
			d.reason[st.ID] = st.Reason
		}
	}
	finish := func(sum *jsonIntervalSum, dir engine.Dir, retr uint64, tcp bool, iu *intervalUDP) {
		sum.Start, sum.End, sum.Seconds = from, to, secs
		sum.BitsPerSecond = bitrate(sum.Bytes, secs)
		sum.Omitted = s.Omitted
		sum.Sender = dir == engine.Send
		if sum.Sender && tcp {
			sum.Retransmits = &retr
		}
		if d.udp {
			sum.jsonIntervalUDP = intervalUDPKeys(dir, iu)
		}
	}
	finish(&fwd, fwdDir, fwdRetr, fwdTCP, &fwdUDP)
	o := obj{{"streams", streams}, {"sum", fwd}}
	if bidir || revAny {
		finish(&rev, 1-fwdDir, revRetr, revTCP, &revUDP)
		o = append(o, field{"sum_bidir_reverse", rev})
	}
	d.intervals = append(d.intervals, o)
	return o
}

// endObject is iperf3's "end" object; empty when the test produced no
// results.
func (d *doc) endObject(e *engine.End) obj {
	if len(e.Streams) == 0 {
		return obj{}
	}
	for i := range e.Streams {
		d.udp = d.udp || e.Streams[i].UDP != nil
	}
	if d.udp {
		return d.udpEndObject(e)
	}
	client := d.side == engine.SideClient
	bidir := d.bidir()
	streams := make([]jsonEndStream, len(e.Streams))
	for i := range e.Streams {
		r := &e.Streams[i]
		sv, rv := endViews(r, client)
		sender := r.Dir == engine.Send
		js := jsonEndStream{
			Sender:   endSide(r.ID, sv, sender),
			Receiver: endSide(r.ID, rv, sender),
		}
		// iperf3 shows the sender's TCP numbers when it sent itself, and on
		// the client also those the server reported.
		if (sender && r.HasTCPInfo) || (!sender && client && r.Retransmits >= 0) {
			t := &jsonEndTCP{Retransmits: max(r.Retransmits, 0)}
			if sender {
				t.Reorder = r.Reorder
				t.MaxSndCwnd, t.MaxSndWnd = r.MaxSndCwnd, r.MaxSndWnd
				t.MaxRTT, t.MinRTT, t.MeanRTT = r.MaxRTT, r.MinRTT, r.MeanRTT
			}
			js.Sender.jsonEndTCP = t
		}
		streams[i] = js
	}
	o := obj{{"streams", streams}}
	for _, g := range d.sumGroups(e) {
		s, r := tcpEndSums(e, g, client)
		o = append(o, field{"sum_sent" + g.suffix, s}, field{"sum_received" + g.suffix, r})
	}
	fwdDir := d.endForwardDir(e)
	o = append(o, field{"cpu_utilization_percent", cpuObject(e)})
	// Like iperf3: the client names both ends' algorithms; the server only
	// its own, as sender if it sends at all, else as receiver.
	localSends := bidir || fwdDir == engine.Send
	snd, rcv := e.Congestion, e.PeerCongestion
	if !localSends {
		snd, rcv = rcv, snd
	}
	switch {
	case client:
		o = append(o, field{"sender_tcp_congestion", snd}, field{"receiver_tcp_congestion", rcv})
	case localSends:
		o = append(o, field{"sender_tcp_congestion", e.Congestion})
	default:
		o = append(o, field{"receiver_tcp_congestion", e.Congestion})
	}
	return o
}

// endForwardDir is the local direction of the streams that "sum" (and
// sum_sent, sum_received) cover: the client→server ones in bidir tests, else
// the test's only direction.
func (d *doc) endForwardDir(e *engine.End) engine.Dir {
	if d.bidir() {
		return forwardDir(d.side)
	}
	if d.start == nil && len(e.Streams) > 0 {
		return e.Streams[0].Dir
	}
	return mainDir(d.side, d.reverse())
}

func cpuObject(e *engine.End) jsonCPU {
	cpu := jsonCPU{
		HostTotal: finite(e.LocalCPU.Total), HostUser: finite(e.LocalCPU.User), HostSystem: finite(e.LocalCPU.System),
	}
	if e.HasRemote {
		cpu.RemoteTotal, cpu.RemoteUser, cpu.RemoteSystem = finite(e.RemoteCPU.Total), finite(e.RemoteCPU.User), finite(e.RemoteCPU.System)
	}
	return cpu
}

// udpEndObject is iperf3 3.12's "end" of a UDP test: one "udp" object per
// stream; per direction "sum" (the sender's bytes and rate over the
// receiver's time, the receivers' mean jitter and total loss), "sum_sent"
// (the senders' bytes and datagrams) and "sum_received" (the receivers'
// bytes, jitter, loss and totals), with _bidir_reverse twins for the
// server→client direction of a bidir test; no congestion control keys.
// Every loss share is over the senders' datagram counts (the receivers'
// when those are unknown), like iperf3's.
func (d *doc) udpEndObject(e *engine.End) obj {
	streams := make([]jsonEndUDPStream, len(e.Streams))
	for i := range e.Streams {
		r := &e.Streams[i]
		c := udpResult(r)
		sv, rv := senderView(r), receiverView(r)
		secs := finite(senderSeconds(sv, rv, r.Seconds))
		bytes := uint64(0)
		if sv.known {
			bytes = sv.bytes
		}
		streams[i] = jsonEndUDPStream{jsonEndUDP{
			Socket: r.ID, End: secs, Seconds: secs, Bytes: bytes, BitsPerSecond: bitrate(bytes, secs),
			JitterMS: jitterMS(c.jitter), LostPackets: c.lost, Packets: c.packets(),
			LostPercent: lostPercent(c.lost, c.packets()), OutOfOrder: c.outOfOrder, Sender: r.Dir == engine.Send,
		}}
	}
	o := obj{{"streams", streams}}
	for _, g := range d.sumGroups(e) {
		s, sn, r := udpEndSums(e, g)
		o = append(o, field{"sum" + g.suffix, s}, field{"sum_sent" + g.suffix, sn}, field{"sum_received" + g.suffix, r})
	}
	return append(o, field{"cpu_utilization_percent", cpuObject(e)})
}

// senderSeconds is the sender's measured time; like iperf3, the receiver's
// when the sender's is unknown, else fallback.
func senderSeconds(sv, rv view, fallback float64) float64 {
	switch {
	case sv.known && sv.seconds > 0:
		return sv.seconds
	case rv.known && rv.seconds > 0:
		return rv.seconds
	}
	return fallback
}

// receiverSeconds is the receiver's measured time, or fallback (the
// sender's) when unknown.
func receiverSeconds(rv view, fallback float64) float64 {
	if rv.known && rv.seconds > 0 {
		return rv.seconds
	}
	return fallback
}

func endSide(id int, v view, sender bool) jsonEndSide {
	return jsonEndSide{
		Socket: id, End: finite(v.seconds), Seconds: finite(v.seconds),
		Bytes: v.bytes, BitsPerSecond: bitrate(v.bytes, v.seconds), Sender: sender,
	}
}

// endSum totals one direction; without any count it reports zero bytes over
// the test's length, as iperf3's server does for the side it did not see.
func endSum(v view, testSeconds float64, sender bool) jsonEndSum {
	secs := v.seconds
	if !v.known || secs == 0 {
		secs = testSeconds
	}
	secs = finite(secs)
	return jsonEndSum{End: secs, Seconds: secs, Bytes: v.bytes, BitsPerSecond: bitrate(v.bytes, secs), Sender: sender}
}

func (d *doc) extras(e *engine.End) jsonExtras {
	x := jsonExtras{Side: d.side.String()}
	if e != nil && !d.sideKnown {
		x.Side = e.Side.String()
	}
	if s := d.start; s != nil {
		x.Peer = "iperf3"
		if s.PeerFlowscope {
			x.Peer = "flowscope"
		}
		if s.Params.SkipRxCopy {
			x.SkipRxCopy, x.Note = true, skipRxNote(s)
		}
		if len(s.ConnectTimes) > 0 {
			lo, med, hi := durationStats(s.ConnectTimes)
			x.ConnectTimeUS = &jsonConnectTimes{micros(lo), micros(med), micros(hi)}
		}
	}
	x.Findings = []jsonFinding{}
	if e != nil {
		for _, f := range e.Findings {
			x.Findings = append(x.Findings, findingJSON(f, e.Side.Origin()))
		}
		for i := range e.Streams {
			r := &e.Streams[i]
			xs := jsonExtraStream{Socket: r.ID, Dir: r.Dir.String(), Error: r.Err, Reason: d.reason[r.ID]}
			if st, ok := d.state[r.ID]; ok {
				xs.State = st.String()
			}
			if r.Dir == engine.Send && r.HasTCPInfo {
				a := d.acked[r.ID]
				xs.AckedBytes = &a
			}
			xs.UDP = extraUDP(r)
			x.Streams = append(x.Streams, xs)
		}
	}
	return x
}

// trailer is what iperf3 3.12 puts after "end" and "error": "title" and
// "extra_data" (on both ends: the server has them from the client's
// parameters; the title falls back to Options.Title), then the server's own
// report when the client asked for it (--get-server-output):
// "server_output_json" when the server reported in JSON, else
// "server_output_text".
func (d *doc) trailer(e *engine.End, opts Options) obj {
	var o obj
	if !opts.ServerOutput {
		title, extra := opts.Title, ""
		if d.start != nil {
			if t := d.start.Params.Title; t != "" {
				title = t
			}
			extra = d.start.Params.ExtraData
		}
		if title != "" {
			o = append(o, field{"title", title})
		}
		if extra != "" {
			o = append(o, field{"extra_data", extra})
		}
	}
	if js := serverOutputJSON(e); js != nil {
		o = append(o, field{"server_output_json", js})
	}
	if e.ServerOutputText != "" {
		o = append(o, field{"server_output_text", e.ServerOutputText})
	}
	return o
}

// serverOutputJSON is the server's JSON report as a raw JSON value, nil when
// there is none or it is not valid JSON (it could not be embedded).
func serverOutputJSON(e *engine.End) json.RawMessage {
	js := bytes.TrimSpace(e.ServerOutputJSON)
	if len(js) == 0 || !json.Valid(js) {
		return nil
	}
	return json.RawMessage(js)
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// jsonDoc writes one iperf3-schema document per test.
type jsonDoc struct {
	mu   sync.Mutex
	w    io.Writer
	opts Options
	doc
	startObj obj
}

// NewJSON returns a Reporter that writes one iperf3 3.12-schema JSON
// document (as iperf3 -J does) per test, at End: "start", "intervals",
// "end", then "error" if the test failed, "title" and "extra_data" if set,
// "server_output_json" or "server_output_text" if the End carries the
// server's report, and flowscope's own "flowscope" object. A test that
// failed before it started still gets a valid document with an empty
// "start" and "end", like iperf3's.
func NewJSON(w io.Writer, opts Options) Reporter {
	return &jsonDoc{w: w, opts: opts}
}

func (j *jsonDoc) Handle(ev engine.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch e := ev.(type) {
	case *engine.Start:
		j.startObj = j.onStart(e)
	case *engine.Sample:
		j.onSample(e)
	case *engine.End:
		j.onEnd(e)
	}
}

func (j *jsonDoc) onEnd(e *engine.End) {
	if !j.sideKnown {
		j.side, j.sideKnown = e.Side, true
	}
	start := j.startObj
	if j.start == nil {
		start = emptyStartObject()
	}
	intervals := j.intervals
	if intervals == nil {
		intervals = []any{}
	}
	top := obj{{"start", start}, {"intervals", intervals}, {"end", j.endObject(e)}}
	if e.Err != nil {
		top = append(top, field{"error", e.Err.Error()})
	}
	top = append(top, j.trailer(e, j.opts)...)
	top = append(top, field{"flowscope", j.extras(e)})
	j.reset()
	j.startObj = nil

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(top); err != nil {
		b.Reset()
		msg, _ := marshal("flowscope: cannot encode the results: " + err.Error())
		b.WriteString(`{"start":{},"intervals":[],"end":{},"error":` + string(msg) + "}\n")
	}
	_, _ = j.w.Write(b.Bytes())
}

// jsonStream writes one compact JSON line per event.
type jsonStream struct {
	mu   sync.Mutex
	w    io.Writer
	opts Options
	doc
}

// NewJSONStream returns a Reporter that writes one compact JSON line per
// event, like iperf3 3.17's --json-stream: {"event":"start","data":{…}},
// {"event":"interval","data":{…}} per sample, and at the end, in
// iperf_json_finish's order, {"event":"error","data":"message"} if the test
// failed, {"event":"server_output_json","data":{…}} or
// {"event":"server_output_text","data":"…"} with the server's report
// (--get-server-output), then {"event":"flowscope","data":{…}} with
// flowscope's extras and {"event":"end","data":{…}}. The data objects are
// the matching parts of NewJSON's document; like iperf3, the stream has no
// "title" or "extra_data".
func NewJSONStream(w io.Writer, opts Options) Reporter {
	return &jsonStream{w: w, opts: opts}
}

func (j *jsonStream) Handle(ev engine.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch e := ev.(type) {
	case *engine.Start:
		j.emit("start", j.onStart(e))
	case *engine.Sample:
		j.emit("interval", j.onSample(e))
		j.intervals = nil // streamed already; keep no history
	case *engine.End:
		if !j.sideKnown {
			j.side, j.sideKnown = e.Side, true
		}
		if e.Err != nil {
			j.emit("error", e.Err.Error())
		}
		if js := serverOutputJSON(e); js != nil {
			j.emit("server_output_json", js)
		}
		if e.ServerOutputText != "" {
			j.emit("server_output_text", e.ServerOutputText)
		}
		j.emit("flowscope", j.extras(e))
		j.emit("end", j.endObject(e))
		j.reset()
	}
}

func (j *jsonStream) emit(event string, data any) {
	b, err := marshal(obj{{"event", event}, {"data", data}})
	if err != nil {
		b, _ = marshal(obj{{"event", "error"}, {"data", "flowscope: cannot encode " + event + ": " + err.Error()}})
	}
	_, _ = j.w.Write(append(b, '\n'))
}
