package engine

import (
	"net"
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

// Event is what the engine reports to a front end: *Connecting, *Progress,
// *Start, *Sample or *End. Front ends switch on the concrete type and ignore types they do
// not know, so new event types can be added without breaking them.
type Event interface{ event() }

// Dir is a stream's direction from the local side's point of view.
type Dir uint8

const (
	// Send: this side writes, the peer reads.
	Send Dir = iota
	// Recv: this side reads, the peer writes.
	Recv
)

func (d Dir) String() string {
	if d == Send {
		return "send"
	}
	return "recv"
}

// Side says which end of the test produced an event.
type Side uint8

const (
	// SideClient is the side that started the test.
	SideClient Side = iota
	// SideServer is the side that accepted it.
	SideServer
)

func (s Side) String() string {
	if s == SideClient {
		return "client"
	}
	return "server"
}

// StreamState is a stream's life-cycle state.
type StreamState uint8

const (
	// StateConnecting: the data connection is being set up.
	StateConnecting StreamState = iota
	// StateRunning: bytes are moving.
	StateRunning
	// StateStalled: no bytes moved for at least the stall window.
	StateStalled
	// StateClosed: the stream finished normally.
	StateClosed
	// StateFailed: the stream ended with an error (see StreamSample.Err).
	StateFailed
)

func (s StreamState) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateRunning:
		return "running"
	case StateStalled:
		return "stalled"
	case StateClosed:
		return "closed"
	default:
		return "failed"
	}
}

// UDPStats are a UDP stream's datagram counts, for one interval (in a
// StreamSample or Sum) or the whole test (in a StreamResult).
type UDPStats struct {
	// Packets: datagrams sent (sender) or received (receiver).
	Packets uint64
	// Lost: datagrams missing from the sequence (receiver); may be
	// negative in an interval when late datagrams fill earlier gaps.
	Lost       int64
	OutOfOrder uint64
	Duplicates uint64
	// Jitter is the receiver's RFC 3550 interarrival jitter in seconds.
	Jitter float64
	// SendErrors: writes the kernel refused (sender).
	SendErrors uint64
	// Malformed: datagrams too short to carry a header (receiver).
	Malformed uint64
	// Behind: how far the sender fell behind its schedule at worst, in
	// datagrams: the sender, not the network, limited the rate.
	Behind uint64
}

// LostPercent is Lost as a share of the datagrams expected.
func (u *UDPStats) LostPercent() float64 {
	expected := float64(u.Packets) + float64(max(u.Lost, 0))
	if expected == 0 || u.Lost <= 0 {
		return 0
	}
	return 100 * float64(u.Lost) / expected
}

// StreamInfo describes one data connection once it is established.
type StreamInfo struct {
	// ID is the iperf3-compatible stream id: 1, 3, 4, 5, …
	ID     int
	Dir    Dir
	Local  net.Addr
	Remote net.Addr
}

// Start is emitted once every data connection is up, just before data flows.
type Start struct {
	Side Side
	// Test identifies the test on a server that runs several at once: the
	// server numbers its tests from 1; a client's events carry 0.
	Test    uint64
	Version string
	// PeerFlowscope is true when the peer negotiated flowscope extensions,
	// false for a stock iperf3 peer.
	PeerFlowscope bool
	Cookie        string
	// Host and Port: the server connected to (client) or the client accepted
	// (server).
	Host      string
	Port      int
	Params    TestParams
	Streams   []StreamInfo
	Timestamp time.Time
	// MSS is the control connection's TCP maximum segment size.
	MSS int
	// SndBuf and RcvBuf are the first data socket's actual buffer sizes.
	SndBuf, RcvBuf int
	// ConnectTimes are the per-stream connect durations (client only).
	ConnectTimes []time.Duration
	// Findings are the diagnoses made before data flowed, by this side and
	// (over the telemetry extension) by the peer.
	Findings []Finding
	// Roles is how this end took the roles of a TCP --bidir test's data
	// connections from a stock iperf3 peer's data; nil otherwise.
	Roles *RoleDetection
}

// RoleDetection is how a --bidir test facing a stock iperf3 peer took its
// data connections' roles (see Start.Roles).
type RoleDetection struct {
	// Took is how long from TEST_RUNNING until the roles were known.
	Took time.Duration
	// Heard is how many of the peer's Parallel senders brought data in
	// time; when fewer, the rest of the roles follow the connection order
	// (Guessed).
	Heard   int
	Guessed bool
	// Swapped is how many connections took the other role than the
	// connection order gave them; Reversed, whether the stock peer's
	// order was taken as the reverse of this end's.
	Swapped  int
	Reversed bool
}

// TCPStats is what TCP_INFO says about one socket.
type TCPStats struct {
	Valid       bool
	Retransmits uint64 // in the interval (or total, in results)
	Reorder     uint64 // reordering events the sender saw, in the interval
	SndCwnd     uint64 // bytes
	SndWnd      uint64 // bytes, the peer's advertised window
	RTT         uint32 // µs
	RTTVar      uint32 // µs
	PMTU        uint32
	BytesAcked  uint64 // cumulative, payload only

	// The rest of the sender's TCP_INFO, for the detail view and the
	// stall diagnosis; zero where the kernel does not report it.
	RTO          uint32 // µs
	Backoff      uint8  // RTO backoff exponent
	CAState      uint8  // congestion-avoidance state (0 open … 4 loss)
	Unacked      uint32 // segments in flight
	NotSent      uint32 // bytes written but not yet sent
	Lost         uint32 // segments the kernel thinks are lost
	DeliveryRate uint64 // bytes/s, the kernel's estimate
	// BusyTime, RwndLimited and SndbufLimited are cumulative µs: time
	// sending, and of that, time limited by the peer's window and by the
	// send buffer.
	BusyTime, RwndLimited, SndbufLimited uint64
}

// PeerView is the other end's view of one stream in one interval, from a
// flowscope peer's telemetry (the sender-view extension): for a stream this
// side receives, the sender kernel's TCP_INFO and the sender's state and
// stall reason; for a UDP stream this side sends, the receiver's loss,
// jitter, reordering and duplicate counts. Against a stock peer, and before
// the peer's first report, a StreamSample has none.
type PeerView struct {
	TCP TCPStats
	UDP *UDPStats
	// State and Reason are the peer's own verdict on the stream.
	State  StreamState
	Reason string
}

// StreamSample is one stream in one interval.
type StreamSample struct {
	ID  int
	Dir Dir
	// Bytes moved in this interval: written (Send) or read (Recv).
	Bytes uint64
	// Total bytes moved since the measured test started.
	Total uint64
	// Acked is the sender's delivered bytes in this interval (TCP_INFO
	// bytes_acked), zero for receivers or when TCP_INFO is unavailable.
	Acked uint64
	TCP   TCPStats
	// UDP is set for UDP streams.
	UDP   *UDPStats
	State StreamState
	// StalledFor is how long the stream has moved no bytes (when stalled).
	StalledFor time.Duration
	// Reason says why a stalled stream is stalled (from TCP_INFO), empty
	// otherwise.
	Reason string
	// Err is the reason a failed stream failed.
	Err string
	// Peer is the other end's view of the stream, when a flowscope peer
	// reports it (see PeerView); nil otherwise.
	Peer *PeerView
}

// Sum aggregates the streams of one direction in one interval.
type Sum struct {
	Streams     int
	Bytes       uint64
	Acked       uint64
	Retransmits uint64
	HasTCP      bool
	// UDP sums the UDP streams (Jitter is their mean), nil for TCP.
	UDP *UDPStats
}

// Sample is one reporting interval: every stream and the exact sums of the
// same interval. Start and End are measured from the start of the test (or
// of the measured part, after an omit period).
type Sample struct {
	Side    Side
	Test    uint64 // see Start.Test
	Seq     int
	Start   time.Duration
	End     time.Duration
	Omitted bool
	Streams []StreamSample
	// Sent sums the streams this side sends on, Received those it reads.
	Sent     Sum
	Received Sum
	// Findings are diagnoses made during this interval (new ones only).
	Findings []Finding
	// Listener is the server's listening socket at the end of the
	// interval (server only; nil where it cannot be read).
	Listener *ListenerStats
}

// ListenerStats is a listening socket's accept queue as the kernel sees it.
type ListenerStats struct {
	// AcceptQueue: connections completed but not yet accepted.
	AcceptQueue int
	// Backlog: the most the queue holds (capped by net.core.somaxconn).
	Backlog int
}

// Seconds returns the interval's length in seconds.
func (s *Sample) Seconds() float64 { return (s.End - s.Start).Seconds() }

// Connecting is emitted by a client before it dials the server.
type Connecting struct {
	Host string
	Port int
	// Streams is the number of data connections the test will open.
	Streams int
}

// Finding is a diagnosis: what happened, the numbers that show it, and the
// exact fix (see package diagnose for the rules and kinds).
type Finding = diagnose.Finding

// Severity ranks a Finding.
type Severity = diagnose.Severity

// Finding severities.
const (
	Info     = diagnose.Info
	Warning  = diagnose.Warning
	Critical = diagnose.Critical
)

// Origin says which end of the test made a Finding.
type Origin = diagnose.Origin

// Finding origins.
const (
	OriginClient = diagnose.OriginClient
	OriginServer = diagnose.OriginServer
)

// Origin is the finding origin of this side.
func (s Side) Origin() Origin {
	if s == SideClient {
		return OriginClient
	}
	return OriginServer
}

// Progress is emitted during setup as data connections come up.
type Progress struct {
	Side      Side
	Test      uint64 // see Start.Test
	Connected int
	Total     int
}

// StreamResult is one stream's totals at the end of the test, with the
// peer's view of the same stream when the peer reported it.
type StreamResult struct {
	ID  int
	Dir Dir
	// Bytes moved by this side, excluding any omit period.
	Bytes uint64
	// Seconds this side measured the stream for.
	Seconds float64
	// PeerBytes and PeerSeconds are the peer's count for the same stream.
	PeerBytes   uint64
	PeerSeconds float64
	HasPeer     bool
	// Retransmits of the sending side (local or peer); -1 if unknown.
	Retransmits int64
	// Reorder is how many reordering events this side's sender saw (its
	// kernel's tcpi_reord_seen); 0 when it did not send or cannot tell.
	Reorder    uint64
	MaxSndCwnd uint64
	MaxSndWnd  uint64
	MinRTT     uint32
	MaxRTT     uint32
	MeanRTT    uint32
	HasTCPInfo bool
	// UDP and PeerUDP are this side's and the peer's datagram counts for a
	// UDP stream (nil for TCP, PeerUDP nil without peer results).
	UDP     *UDPStats
	PeerUDP *UDPStats
	Err     string
}

// CPU is process CPU use over the test, in percent of one core.
type CPU struct {
	Total, User, System float64
}

// End is emitted once when the test is over, successful or not.
type End struct {
	Side    Side
	Test    uint64 // see Start.Test
	Streams []StreamResult
	// Seconds is the measured test length on this side.
	Seconds    float64
	LocalCPU   CPU
	RemoteCPU  CPU
	HasRemote  bool
	Congestion string // local
	// PeerCongestion is the congestion control the peer reported.
	PeerCongestion string
	// Findings are every diagnosis of the test, including those made
	// before data flowed.
	Findings []Finding
	// ServerOutputText or ServerOutputJSON is the server's own report, when
	// the client asked for it (--get-server-output).
	ServerOutputText string
	ServerOutputJSON []byte
	// Err is non-nil when the test failed or ended early.
	Err error
}

func (*Connecting) event() {}
func (*Start) event()      {}
func (*Sample) event()     {}
func (*Progress) event()   {}
func (*End) event()        {}

// StreamID returns the iperf3-compatible id of the stream at position idx
// (0-based): 1, 3, 4, 5, …
func StreamID(idx int) int {
	if idx == 0 {
		return 1
	}
	return idx + 2
}
