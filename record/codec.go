package record

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// The JSON shape of flowscope's own events ("flowscope.*" lines). Times
// within a test are seconds as floats (like iperf3's), byte counts are
// integers, absent or zero values are left out. The decoder ignores keys
// it does not know, so later versions can add keys (a finding's span, the
// sender's view of a received stream) without breaking older readers.

type jsonConnecting struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	Streams int    `json:"streams"`
}

type jsonProgress struct {
	Side      string `json:"side"`
	Test      uint64 `json:"test,omitempty"`
	Connected int    `json:"connected"`
	Total     int    `json:"total"`
}

type jsonParams struct {
	Protocol    string  `json:"protocol"`
	NumStreams  int     `json:"num_streams"`
	BlockSize   int     `json:"blksize,omitempty"`
	Omit        float64 `json:"omit,omitempty"`
	Duration    float64 `json:"duration,omitempty"`
	Bytes       int64   `json:"bytes,omitempty"`
	Reverse     bool    `json:"reverse,omitempty"`
	Bidir       bool    `json:"bidir,omitempty"`
	Rate        uint64  `json:"target_bitrate,omitempty"`
	Window      int     `json:"window,omitempty"`
	Congestion  string  `json:"congestion,omitempty"`
	Interval    float64 `json:"interval,omitempty"`
	Counters64  bool    `json:"udp_counters_64bit,omitempty"`
	ReverseRate uint64  `json:"reverse_bitrate,omitempty"`
	Blocks      int64   `json:"blocks,omitempty"`
	TOS         int     `json:"tos,omitempty"`
	FQRate      uint64  `json:"fqrate,omitempty"`
	Title       string  `json:"title,omitempty"`
	ExtraData   string  `json:"extra_data,omitempty"`
	ZeroCopy    bool    `json:"zerocopy,omitempty"`
	SkipRxCopy  bool    `json:"skip_rx_copy,omitempty"`
	Burst       int     `json:"burst,omitempty"`
	MSS         int     `json:"mss,omitempty"`
	NoDelay     bool    `json:"no_delay,omitempty"`
	DontFrag    bool    `json:"dont_fragment,omitempty"`
	NoGSO       bool    `json:"no_gso,omitempty"`
	Repeating   bool    `json:"repeating_payload,omitempty"`
	GetServer   bool    `json:"get_server_output,omitempty"`
	Affinity    *int    `json:"server_affinity,omitempty"`
	MPTCP       bool    `json:"mptcp,omitempty"`
}

type jsonStreamInfo struct {
	ID     int    `json:"id"`
	Dir    string `json:"dir"`
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
}

// jsonFinding is a diagnosis and when it held: start and end in seconds
// since the test started, no end while it still holds.
type jsonFinding struct {
	Severity  string   `json:"severity"`
	Kind      string   `json:"kind"`
	What      string   `json:"what"`
	Evidence  string   `json:"evidence,omitempty"`
	Fix       string   `json:"fix,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	Direction string   `json:"direction,omitempty"`
	Streams   []int    `json:"streams,omitempty"`
	Start     float64  `json:"start"`
	End       *float64 `json:"end,omitempty"`
}

type jsonStart struct {
	Side          string           `json:"side"`
	Test          uint64           `json:"test,omitempty"`
	Version       string           `json:"version,omitempty"`
	PeerFlowscope bool             `json:"peer_flowscope"`
	Cookie        string           `json:"cookie,omitempty"`
	Host          string           `json:"host,omitempty"`
	Port          int              `json:"port,omitempty"`
	Params        jsonParams       `json:"params"`
	Streams       []jsonStreamInfo `json:"streams"`
	Timestamp     time.Time        `json:"timestamp"`
	MSS           int              `json:"mss,omitempty"`
	SndBuf        int              `json:"sndbuf,omitempty"`
	RcvBuf        int              `json:"rcvbuf,omitempty"`
	ConnectTimes  []float64        `json:"connect_times,omitempty"`
	Findings      []jsonFinding    `json:"findings,omitempty"`
	Roles         *jsonRoles       `json:"roles,omitempty"`
}

// jsonRoles is how a --bidir test facing a stock peer took its roles (see
// engine.RoleDetection; took in seconds).
type jsonRoles struct {
	Took     float64 `json:"took"`
	Heard    int     `json:"heard"`
	Guessed  bool    `json:"guessed,omitempty"`
	Swapped  int     `json:"swapped"`
	Reversed bool    `json:"reversed,omitempty"`
}

// jsonTCP is a sender's TCP_INFO (see engine.TCPStats; times in µs).
type jsonTCP struct {
	Retransmits   uint64 `json:"retransmits,omitempty"`
	Reorder       uint64 `json:"reorder,omitempty"`
	SndCwnd       uint64 `json:"snd_cwnd,omitempty"`
	SndWnd        uint64 `json:"snd_wnd,omitempty"`
	RTT           uint32 `json:"rtt,omitempty"`
	RTTVar        uint32 `json:"rttvar,omitempty"`
	PMTU          uint32 `json:"pmtu,omitempty"`
	BytesAcked    uint64 `json:"bytes_acked,omitempty"`
	RTO           uint32 `json:"rto,omitempty"`
	Backoff       uint8  `json:"backoff,omitempty"`
	CAState       uint8  `json:"ca_state,omitempty"`
	Unacked       uint32 `json:"unacked,omitempty"`
	NotSent       uint32 `json:"notsent,omitempty"`
	Lost          uint32 `json:"lost,omitempty"`
	DeliveryRate  uint64 `json:"delivery_rate,omitempty"`
	BusyTime      uint64 `json:"busy_time,omitempty"`
	RwndLimited   uint64 `json:"rwnd_limited,omitempty"`
	SndbufLimited uint64 `json:"sndbuf_limited,omitempty"`
}

// jsonPeerView is the other end's view of a stream (engine.PeerView).
type jsonPeerView struct {
	TCP    *jsonTCP `json:"tcp,omitempty"`
	UDP    *jsonUDP `json:"udp,omitempty"`
	State  string   `json:"state"`
	Reason string   `json:"reason,omitempty"`
}

func encodeTCP(t engine.TCPStats) *jsonTCP {
	if !t.Valid {
		return nil
	}
	return &jsonTCP{
		Retransmits: t.Retransmits, Reorder: t.Reorder, SndCwnd: t.SndCwnd, SndWnd: t.SndWnd, RTT: t.RTT, RTTVar: t.RTTVar, PMTU: t.PMTU,
		BytesAcked: t.BytesAcked, RTO: t.RTO, Backoff: t.Backoff, CAState: t.CAState, Unacked: t.Unacked, NotSent: t.NotSent,
		Lost: t.Lost, DeliveryRate: t.DeliveryRate, BusyTime: t.BusyTime, RwndLimited: t.RwndLimited, SndbufLimited: t.SndbufLimited,
	}
}

func decodeTCP(j *jsonTCP) engine.TCPStats {
	if j == nil {
		return engine.TCPStats{}
	}
	return engine.TCPStats{
		Valid: true, Retransmits: j.Retransmits, Reorder: j.Reorder, SndCwnd: j.SndCwnd, SndWnd: j.SndWnd, RTT: j.RTT, RTTVar: j.RTTVar, PMTU: j.PMTU,
		BytesAcked: j.BytesAcked, RTO: j.RTO, Backoff: j.Backoff, CAState: j.CAState, Unacked: j.Unacked, NotSent: j.NotSent,
		Lost: j.Lost, DeliveryRate: j.DeliveryRate, BusyTime: j.BusyTime, RwndLimited: j.RwndLimited, SndbufLimited: j.SndbufLimited,
	}
}

type jsonUDP struct {
	Packets    uint64  `json:"packets,omitempty"`
	Lost       int64   `json:"lost,omitempty"`
	OutOfOrder uint64  `json:"out_of_order,omitempty"`
	Duplicates uint64  `json:"duplicates,omitempty"`
	Jitter     float64 `json:"jitter,omitempty"` // seconds
	SendErrors uint64  `json:"send_errors,omitempty"`
	Malformed  uint64  `json:"malformed,omitempty"`
	Behind     uint64  `json:"behind,omitempty"`
}

// jsonStreamSample is one stream in one interval; "peer" is the other
// end's view of it, from a flowscope peer.
type jsonStreamSample struct {
	ID         int           `json:"id"`
	Dir        string        `json:"dir"`
	Bytes      uint64        `json:"bytes"`
	Total      uint64        `json:"total"`
	Acked      uint64        `json:"acked,omitempty"`
	TCP        *jsonTCP      `json:"tcp,omitempty"`
	UDP        *jsonUDP      `json:"udp,omitempty"`
	State      string        `json:"state"`
	StalledFor float64       `json:"stalled_for,omitempty"`
	Reason     string        `json:"reason,omitempty"`
	Err        string        `json:"error,omitempty"`
	Peer       *jsonPeerView `json:"peer,omitempty"`
}

type jsonSum struct {
	Streams     int      `json:"streams"`
	Bytes       uint64   `json:"bytes"`
	Acked       uint64   `json:"acked,omitempty"`
	Retransmits uint64   `json:"retransmits,omitempty"`
	HasTCP      bool     `json:"tcp,omitempty"`
	UDP         *jsonUDP `json:"udp,omitempty"`
}

type jsonListener struct {
	AcceptQueue int `json:"accept_queue"`
	Backlog     int `json:"backlog"`
}

type jsonSample struct {
	Side     string             `json:"side"`
	Test     uint64             `json:"test,omitempty"`
	Seq      int                `json:"seq"`
	Start    float64            `json:"start"`
	End      float64            `json:"end"`
	Omitted  bool               `json:"omitted,omitempty"`
	Streams  []jsonStreamSample `json:"streams"`
	Sent     jsonSum            `json:"sent"`
	Received jsonSum            `json:"received"`
	Findings []jsonFinding      `json:"findings,omitempty"`
	Listener *jsonListener      `json:"listener,omitempty"`
}

type jsonResult struct {
	ID          int      `json:"id"`
	Dir         string   `json:"dir"`
	Bytes       uint64   `json:"bytes"`
	Seconds     float64  `json:"seconds"`
	PeerBytes   uint64   `json:"peer_bytes,omitempty"`
	PeerSeconds float64  `json:"peer_seconds,omitempty"`
	HasPeer     bool     `json:"has_peer,omitempty"`
	Retransmits int64    `json:"retransmits"`
	Reorder     uint64   `json:"reorder,omitempty"`
	MaxSndCwnd  uint64   `json:"max_snd_cwnd,omitempty"`
	MaxSndWnd   uint64   `json:"max_snd_wnd,omitempty"`
	MinRTT      uint32   `json:"min_rtt,omitempty"`
	MaxRTT      uint32   `json:"max_rtt,omitempty"`
	MeanRTT     uint32   `json:"mean_rtt,omitempty"`
	HasTCPInfo  bool     `json:"has_tcp_info,omitempty"`
	UDP         *jsonUDP `json:"udp,omitempty"`
	PeerUDP     *jsonUDP `json:"peer_udp,omitempty"`
	Err         string   `json:"error,omitempty"`
}

type jsonCPU struct {
	Total  float64 `json:"total"`
	User   float64 `json:"user"`
	System float64 `json:"system"`
}

type jsonEnd struct {
	Side             string        `json:"side"`
	Test             uint64        `json:"test,omitempty"`
	Streams          []jsonResult  `json:"streams"`
	Seconds          float64       `json:"seconds"`
	LocalCPU         jsonCPU       `json:"local_cpu"`
	RemoteCPU        *jsonCPU      `json:"remote_cpu,omitempty"`
	Congestion       string        `json:"congestion,omitempty"`
	PeerCongestion   string        `json:"peer_congestion,omitempty"`
	Findings         []jsonFinding `json:"findings,omitempty"`
	ServerOutputText string        `json:"server_output_text,omitempty"`
	ServerOutputJSON []byte        `json:"server_output_json,omitempty"`
	Err              string        `json:"error,omitempty"`
}

// secs is a duration in seconds; dur converts back, rounding to the
// nanosecond so that a duration survives the trip exactly.
func secs(d time.Duration) float64 { return d.Seconds() }

func dur(s float64) time.Duration {
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	if s > float64(math.MaxInt64)/1e9 {
		return math.MaxInt64
	}
	return time.Duration(math.Round(s * 1e9))
}

func sideName(s engine.Side) string { return s.String() }

func parseSide(s string) (engine.Side, error) {
	switch s {
	case "client", "":
		return engine.SideClient, nil
	case "server":
		return engine.SideServer, nil
	}
	return 0, fmt.Errorf("unknown side %q", s)
}

func parseDir(s string) (engine.Dir, error) {
	switch s {
	case "send":
		return engine.Send, nil
	case "recv":
		return engine.Recv, nil
	}
	return 0, fmt.Errorf("unknown stream direction %q", s)
}

var stateNames = map[string]engine.StreamState{}

func init() {
	for s := engine.StateConnecting; s <= engine.StateFailed; s++ {
		stateNames[s.String()] = s
	}
}

func parseState(s string) (engine.StreamState, error) {
	if st, ok := stateNames[s]; ok {
		return st, nil
	}
	return 0, fmt.Errorf("unknown stream state %q", s)
}

var severityNames = map[string]engine.Severity{
	engine.Info.String(): engine.Info, engine.Warning.String(): engine.Warning, engine.Critical.String(): engine.Critical,
}

func encodeFindings(fs []engine.Finding) []jsonFinding {
	if len(fs) == 0 {
		return nil
	}
	out := make([]jsonFinding, len(fs))
	for i, f := range fs {
		out[i] = jsonFinding{
			Severity: f.Severity.String(), Kind: f.Kind, What: f.What, Evidence: f.Evidence, Fix: f.Fix,
			Origin: string(f.Origin), Direction: f.Direction.String(), Streams: f.Streams, Start: secs(f.Span.Start),
		}
		if f.Span.Ended {
			end := secs(f.Span.End)
			out[i].End = &end
		}
	}
	return out
}

func decodeFindings(js []jsonFinding) ([]engine.Finding, error) {
	if len(js) == 0 {
		return nil, nil
	}
	out := make([]engine.Finding, len(js))
	for i, j := range js {
		sev, ok := severityNames[j.Severity]
		if !ok {
			return nil, fmt.Errorf("finding %d: unknown severity %q", i+1, j.Severity)
		}
		out[i] = engine.Finding{
			Severity: sev, Kind: j.Kind, What: j.What, Evidence: j.Evidence, Fix: j.Fix,
			Origin: diagnose.Origin(j.Origin), Direction: diagnose.ParseDirection(j.Direction), Streams: j.Streams,
			Span: diagnose.Span{Start: dur(j.Start)},
		}
		if j.End != nil {
			out[i].Span.End, out[i].Span.Ended = dur(*j.End), true
		}
	}
	return out, nil
}

func encodeParams(p engine.TestParams) jsonParams {
	return jsonParams{
		Protocol: string(p.Protocol), NumStreams: p.Parallel, BlockSize: p.BlockSize, Omit: secs(p.Omit),
		Duration: secs(p.Duration), Bytes: p.Bytes, Reverse: p.Reverse, Bidir: p.Bidir, Rate: p.Rate,
		Window: p.Window, Congestion: p.Congestion, Interval: secs(p.Interval), Counters64: p.Counters64,
		ReverseRate: p.ReverseRate, Blocks: p.Blocks, TOS: p.TOS, FQRate: p.FQRate, Title: p.Title,
		ExtraData: p.ExtraData, ZeroCopy: p.ZeroCopy, SkipRxCopy: p.SkipRxCopy,
		Burst: p.Burst, MSS: p.MSS, NoDelay: p.NoDelay, DontFrag: p.DontFragment, NoGSO: p.NoGSO,
		Repeating: p.RepeatingPayload, GetServer: p.GetServerOutput, Affinity: affinity(p.ServerAffinity),
		MPTCP: p.MPTCP,
	}
}

// affinity is -A's server CPU for the record: absent when none (-1).
func affinity(cpu int) *int {
	if cpu < 0 {
		return nil
	}
	return &cpu
}

func decodeParams(j jsonParams) engine.TestParams {
	p := engine.TestParams{
		Protocol: engine.Protocol(j.Protocol), Parallel: j.NumStreams, BlockSize: j.BlockSize, Omit: dur(j.Omit),
		Duration: dur(j.Duration), Bytes: j.Bytes, Reverse: j.Reverse, Bidir: j.Bidir, Rate: j.Rate,
		Window: j.Window, Congestion: j.Congestion, Interval: dur(j.Interval), Counters64: j.Counters64,
		ReverseRate: j.ReverseRate, Blocks: j.Blocks, TOS: j.TOS, FQRate: j.FQRate, Title: j.Title,
		ExtraData: j.ExtraData, ZeroCopy: j.ZeroCopy, SkipRxCopy: j.SkipRxCopy,
		Burst: j.Burst, MSS: j.MSS, NoDelay: j.NoDelay, DontFragment: j.DontFrag, NoGSO: j.NoGSO,
		RepeatingPayload: j.Repeating, GetServerOutput: j.GetServer, ServerAffinity: -1,
		MPTCP: j.MPTCP,
	}
	if j.Affinity != nil {
		p.ServerAffinity = *j.Affinity
	}
	return p
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	switch t := a.(type) {
	case *net.TCPAddr:
		if t == nil {
			return ""
		}
	case *net.UDPAddr:
		if t == nil {
			return ""
		}
	}
	return a.String()
}

// parseAddr turns "host:port" back into a TCP or UDP address.
func parseAddr(s string, udp bool) (net.Addr, error) {
	if s == "" {
		return nil, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("address %q: bad port", s)
	}
	zone := ""
	for i := 0; i < len(host); i++ {
		if host[i] == '%' {
			host, zone = host[:i], host[i+1:]
			break
		}
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("address %q: not an IP address", s)
	}
	if udp {
		return &net.UDPAddr{IP: ip, Port: p, Zone: zone}, nil
	}
	return &net.TCPAddr{IP: ip, Port: p, Zone: zone}, nil
}

func encodeStart(s *engine.Start) jsonStart {
	j := jsonStart{
		Side: sideName(s.Side), Test: s.Test, Version: s.Version, PeerFlowscope: s.PeerFlowscope,
		Cookie: s.Cookie, Host: s.Host, Port: s.Port, Params: encodeParams(s.Params),
		Streams: make([]jsonStreamInfo, len(s.Streams)), Timestamp: s.Timestamp, MSS: s.MSS,
		SndBuf: s.SndBuf, RcvBuf: s.RcvBuf, Findings: encodeFindings(s.Findings),
	}
	for i, st := range s.Streams {
		j.Streams[i] = jsonStreamInfo{ID: st.ID, Dir: st.Dir.String(), Local: addrString(st.Local), Remote: addrString(st.Remote)}
	}
	for _, d := range s.ConnectTimes {
		j.ConnectTimes = append(j.ConnectTimes, secs(d))
	}
	if r := s.Roles; r != nil {
		j.Roles = &jsonRoles{Took: secs(r.Took), Heard: r.Heard, Guessed: r.Guessed, Swapped: r.Swapped, Reversed: r.Reversed}
	}
	return j
}

func decodeStart(j *jsonStart) (*engine.Start, error) {
	side, err := parseSide(j.Side)
	if err != nil {
		return nil, err
	}
	s := &engine.Start{
		Side: side, Test: j.Test, Version: j.Version, PeerFlowscope: j.PeerFlowscope, Cookie: j.Cookie,
		Host: j.Host, Port: j.Port, Params: decodeParams(j.Params), MSS: j.MSS, SndBuf: j.SndBuf, RcvBuf: j.RcvBuf,
	}
	if !j.Timestamp.IsZero() {
		s.Timestamp = j.Timestamp
	}
	udp := s.Params.Protocol == "UDP"
	for i, js := range j.Streams {
		d, err := parseDir(js.Dir)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i+1, err)
		}
		local, err := parseAddr(js.Local, udp)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i+1, err)
		}
		remote, err := parseAddr(js.Remote, udp)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", i+1, err)
		}
		s.Streams = append(s.Streams, engine.StreamInfo{ID: js.ID, Dir: d, Local: local, Remote: remote})
	}
	for _, c := range j.ConnectTimes {
		s.ConnectTimes = append(s.ConnectTimes, dur(c))
	}
	if r := j.Roles; r != nil {
		s.Roles = &engine.RoleDetection{Took: dur(r.Took), Heard: r.Heard, Guessed: r.Guessed, Swapped: r.Swapped, Reversed: r.Reversed}
	}
	if s.Findings, err = decodeFindings(j.Findings); err != nil {
		return nil, err
	}
	return s, nil
}

func encodeUDP(u *engine.UDPStats) *jsonUDP {
	if u == nil {
		return nil
	}
	return &jsonUDP{Packets: u.Packets, Lost: u.Lost, OutOfOrder: u.OutOfOrder, Duplicates: u.Duplicates,
		Jitter: u.Jitter, SendErrors: u.SendErrors, Malformed: u.Malformed, Behind: u.Behind}
}

func decodeUDP(j *jsonUDP) *engine.UDPStats {
	if j == nil {
		return nil
	}
	return &engine.UDPStats{Packets: j.Packets, Lost: j.Lost, OutOfOrder: j.OutOfOrder, Duplicates: j.Duplicates,
		Jitter: j.Jitter, SendErrors: j.SendErrors, Malformed: j.Malformed, Behind: j.Behind}
}

func encodeSum(s engine.Sum) jsonSum {
	return jsonSum{Streams: s.Streams, Bytes: s.Bytes, Acked: s.Acked, Retransmits: s.Retransmits, HasTCP: s.HasTCP, UDP: encodeUDP(s.UDP)}
}

func decodeSum(j jsonSum) engine.Sum {
	return engine.Sum{Streams: j.Streams, Bytes: j.Bytes, Acked: j.Acked, Retransmits: j.Retransmits, HasTCP: j.HasTCP, UDP: decodeUDP(j.UDP)}
}

func encodeSample(s *engine.Sample) jsonSample {
	j := jsonSample{
		Side: sideName(s.Side), Test: s.Test, Seq: s.Seq, Start: secs(s.Start), End: secs(s.End), Omitted: s.Omitted,
		Streams: make([]jsonStreamSample, len(s.Streams)), Sent: encodeSum(s.Sent), Received: encodeSum(s.Received),
		Findings: encodeFindings(s.Findings),
	}
	if l := s.Listener; l != nil {
		j.Listener = &jsonListener{AcceptQueue: l.AcceptQueue, Backlog: l.Backlog}
	}
	for i := range s.Streams {
		st := &s.Streams[i]
		js := jsonStreamSample{
			ID: st.ID, Dir: st.Dir.String(), Bytes: st.Bytes, Total: st.Total, Acked: st.Acked,
			UDP: encodeUDP(st.UDP), State: st.State.String(), StalledFor: secs(st.StalledFor), Reason: st.Reason, Err: st.Err,
			TCP: encodeTCP(st.TCP),
		}
		if p := st.Peer; p != nil {
			js.Peer = &jsonPeerView{TCP: encodeTCP(p.TCP), UDP: encodeUDP(p.UDP), State: p.State.String(), Reason: p.Reason}
		}
		j.Streams[i] = js
	}
	return j
}

func decodeSample(j *jsonSample) (*engine.Sample, error) {
	side, err := parseSide(j.Side)
	if err != nil {
		return nil, err
	}
	if !(j.End >= j.Start) {
		return nil, fmt.Errorf("interval %d ends (%g s) before it starts (%g s)", j.Seq, j.End, j.Start)
	}
	s := &engine.Sample{
		Side: side, Test: j.Test, Seq: j.Seq, Start: dur(j.Start), End: dur(j.End), Omitted: j.Omitted,
		Streams: make([]engine.StreamSample, len(j.Streams)), Sent: decodeSum(j.Sent), Received: decodeSum(j.Received),
	}
	if l := j.Listener; l != nil {
		s.Listener = &engine.ListenerStats{AcceptQueue: l.AcceptQueue, Backlog: l.Backlog}
	}
	for i := range j.Streams {
		js := &j.Streams[i]
		d, err := parseDir(js.Dir)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", js.ID, err)
		}
		st, err := parseState(js.State)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", js.ID, err)
		}
		ss := engine.StreamSample{
			ID: js.ID, Dir: d, Bytes: js.Bytes, Total: js.Total, Acked: js.Acked, UDP: decodeUDP(js.UDP),
			State: st, StalledFor: dur(js.StalledFor), Reason: js.Reason, Err: js.Err, TCP: decodeTCP(js.TCP),
		}
		if p := js.Peer; p != nil {
			ps, err := parseState(p.State)
			if err != nil {
				return nil, fmt.Errorf("stream %d: peer: %w", js.ID, err)
			}
			ss.Peer = &engine.PeerView{TCP: decodeTCP(p.TCP), UDP: decodeUDP(p.UDP), State: ps, Reason: p.Reason}
		}
		s.Streams[i] = ss
	}
	if s.Findings, err = decodeFindings(j.Findings); err != nil {
		return nil, err
	}
	return s, nil
}

func encodeCPU(c engine.CPU) jsonCPU { return jsonCPU{Total: c.Total, User: c.User, System: c.System} }
func decodeCPU(j jsonCPU) engine.CPU {
	return engine.CPU{Total: j.Total, User: j.User, System: j.System}
}

func encodeEnd(e *engine.End) jsonEnd {
	j := jsonEnd{
		Side: sideName(e.Side), Test: e.Test, Streams: make([]jsonResult, len(e.Streams)), Seconds: e.Seconds,
		LocalCPU: encodeCPU(e.LocalCPU), Congestion: e.Congestion, PeerCongestion: e.PeerCongestion,
		Findings: encodeFindings(e.Findings), ServerOutputText: e.ServerOutputText, ServerOutputJSON: e.ServerOutputJSON,
	}
	if e.HasRemote {
		c := encodeCPU(e.RemoteCPU)
		j.RemoteCPU = &c
	}
	if e.Err != nil {
		j.Err = e.Err.Error()
	}
	for i := range e.Streams {
		r := &e.Streams[i]
		j.Streams[i] = jsonResult{
			ID: r.ID, Dir: r.Dir.String(), Bytes: r.Bytes, Seconds: r.Seconds, PeerBytes: r.PeerBytes,
			PeerSeconds: r.PeerSeconds, HasPeer: r.HasPeer, Retransmits: r.Retransmits, Reorder: r.Reorder, MaxSndCwnd: r.MaxSndCwnd,
			MaxSndWnd: r.MaxSndWnd, MinRTT: r.MinRTT, MaxRTT: r.MaxRTT, MeanRTT: r.MeanRTT, HasTCPInfo: r.HasTCPInfo,
			UDP: encodeUDP(r.UDP), PeerUDP: encodeUDP(r.PeerUDP), Err: r.Err,
		}
	}
	return j
}

// recordedError is a test's error as a recording keeps it: its message.
type recordedError struct{ msg string }

func (e *recordedError) Error() string { return e.msg }

func decodeEnd(j *jsonEnd) (*engine.End, error) {
	side, err := parseSide(j.Side)
	if err != nil {
		return nil, err
	}
	e := &engine.End{
		Side: side, Test: j.Test, Streams: make([]engine.StreamResult, len(j.Streams)), Seconds: j.Seconds,
		LocalCPU: decodeCPU(j.LocalCPU), Congestion: j.Congestion, PeerCongestion: j.PeerCongestion,
		ServerOutputText: j.ServerOutputText, ServerOutputJSON: j.ServerOutputJSON,
	}
	if j.RemoteCPU != nil {
		e.RemoteCPU, e.HasRemote = decodeCPU(*j.RemoteCPU), true
	}
	if j.Err != "" {
		e.Err = &recordedError{j.Err}
	}
	for i := range j.Streams {
		r := &j.Streams[i]
		d, err := parseDir(r.Dir)
		if err != nil {
			return nil, fmt.Errorf("stream %d: %w", r.ID, err)
		}
		e.Streams[i] = engine.StreamResult{
			ID: r.ID, Dir: d, Bytes: r.Bytes, Seconds: r.Seconds, PeerBytes: r.PeerBytes,
			PeerSeconds: r.PeerSeconds, HasPeer: r.HasPeer, Retransmits: r.Retransmits, Reorder: r.Reorder, MaxSndCwnd: r.MaxSndCwnd,
			MaxSndWnd: r.MaxSndWnd, MinRTT: r.MinRTT, MaxRTT: r.MaxRTT, MeanRTT: r.MeanRTT, HasTCPInfo: r.HasTCPInfo,
			UDP: decodeUDP(r.UDP), PeerUDP: decodeUDP(r.PeerUDP), Err: r.Err,
		}
	}
	if e.Findings, err = decodeFindings(j.Findings); err != nil {
		return nil, err
	}
	return e, nil
}

var errNoData = errors.New(`no "data" object`)
