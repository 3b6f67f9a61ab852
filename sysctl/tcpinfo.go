package sysctl

import (
	"fmt"
	"syscall"
)

// ReadTCPInfo reads the TCP statistics of the socket behind rc: TCP_INFO on
// Linux and FreeBSD, TCP_CONNECTION_INFO on macOS, SIO_TCP_INFO on Windows.
// Elsewhere it returns ErrUnsupported.
func ReadTCPInfo(rc syscall.RawConn) (TCPInfo, error) {
	var ti TCPInfo
	var serr error
	err := rc.Control(func(fd uintptr) { ti, serr = ReadTCPInfoFD(fd) })
	if err != nil {
		return TCPInfo{}, fmt.Errorf("tcp_info: %w", err)
	}
	return ti, serr
}

// ReadTCPInfoFD (one file per OS) reads the statistics of the socket fd, as
// ReadTCPInfo does from a RawConn: a caller that reads many sockets often
// can hand RawConn.Control a func of its own, made once, where ReadTCPInfo
// makes one per call.

// ListenerQueue returns a listening socket's current accept-queue length
// and its backlog: from TCP_INFO on Linux, SO_LISTENQLEN and
// SO_LISTENQLIMIT on FreeBSD; ErrUnsupported elsewhere.
func ListenerQueue(rc syscall.RawConn) (queue, backlog uint32, err error) {
	var serr error
	if err := rc.Control(func(fd uintptr) { queue, backlog, serr = listenerQueueFD(fd) }); err != nil {
		return 0, 0, fmt.Errorf("listen queue: %w", err)
	}
	return queue, backlog, serr
}

// TCPInfo is one socket's TCP state as the kernel reports it, in Linux's
// units whatever the OS: times in µs (RTO, RTT, RTTVar, BusyTime, …) or ms
// (LastDataRecv, LastAckRecv, TotalRTOTime), SndCwnd in segments, State in
// Linux's numbering (1 = established). Known says which fields this OS
// (and kernel version) filled; the others are zero and mean nothing.
type TCPInfo struct {
	State        uint8
	CAState      uint8
	Retransmits  uint8 // consecutive RTOs in progress
	Backoff      uint8
	RTO          uint32 // µs
	SndMSS       uint32
	Unacked      uint32 // on a listening socket: accept-queue length
	Sacked       uint32 // on a listening socket: backlog
	Lost         uint32
	PMTU         uint32
	RTT          uint32 // µs
	RTTVar       uint32 // µs
	SndCwnd      uint32 // segments
	TotalRetrans uint32
	BytesAcked   uint64
	BytesSent    uint64
	NotsentBytes uint32
	SndWnd       uint32
	RcvWnd       uint32
	LastDataRecv uint32 // ms ago
	LastAckRecv  uint32 // ms ago
	BusyTime     uint64 // µs
	RwndLimited  uint64 // µs
	SndbufLimit  uint64 // µs
	DeliveryRate uint64 // bytes/s
	BytesRecv    uint64 // payload bytes received on this socket
	Probes       uint8  // zero-window or keepalive probes outstanding
	TotalRTO     uint16 // RTO timeouts over the connection's life
	TotalRTOTime uint32 // ms spent in RTO recovery
	ReordSeen    uint32 // reordering events the sender saw over the connection's life

	// Known has a bit set for every field the kernel filled.
	Known Fields
}

// Fields is a set of TCPInfo fields, one bit each.
type Fields uint32

// The TCPInfo fields, as bits of TCPInfo.Known.
const (
	FieldState Fields = 1 << iota
	FieldCAState
	FieldRetransmits
	FieldBackoff
	FieldRTO
	FieldSndMSS
	FieldUnacked
	FieldSacked
	FieldLost
	FieldPMTU
	FieldRTT
	FieldRTTVar
	FieldSndCwnd
	FieldTotalRetrans
	FieldBytesAcked
	FieldBytesSent
	FieldNotsentBytes
	FieldSndWnd
	FieldRcvWnd
	FieldLastDataRecv
	FieldLastAckRecv
	FieldBusyTime
	FieldRwndLimited
	FieldSndbufLimit
	FieldDeliveryRate
	FieldBytesRecv
	FieldProbes
	FieldTotalRTO
	FieldTotalRTOTime
	FieldReordSeen

	// AllFields is every field: what a current Linux kernel fills.
	AllFields = FieldReordSeen<<1 - 1
)

// Has reports whether every field in f is known.
func (ti *TCPInfo) Has(f Fields) bool { return ti.Known&f == f }

// Linux's TCP state numbers (include/net/tcp_states.h), which TCPInfo.State
// uses on every OS.
const (
	StateEstablished = 1
	StateSynSent     = 2
	StateSynRecv     = 3
	StateFinWait1    = 4
	StateFinWait2    = 5
	StateTimeWait    = 6
	StateClose       = 7
	StateCloseWait   = 8
	StateLastAck     = 9
	StateListen      = 10
	StateClosing     = 11
)

// bsdStates maps the BSD state numbers (netinet/tcp_fsm.h, macOS and
// FreeBSD alike) to Linux's.
var bsdStates = [...]uint8{
	StateClose, StateListen, StateSynSent, StateSynRecv, StateEstablished, StateCloseWait,
	StateFinWait1, StateClosing, StateLastAck, StateFinWait2, StateTimeWait,
}

// windowsStates maps Windows's TCPSTATE enumeration to Linux's numbers.
var windowsStates = [...]uint8{
	StateClose, StateListen, StateSynSent, StateSynRecv, StateEstablished, StateFinWait1,
	StateFinWait2, StateCloseWait, StateClosing, StateLastAck, StateTimeWait,
}

// state translates a state number through table; ok is false for a number
// the table does not know.
func state(table []uint8, s uint32) (uint8, bool) {
	if s >= uint32(len(table)) {
		return 0, false
	}
	return table[s], true
}

// segments converts a window in bytes to segments of mss bytes.
func segments(bytes, mss uint32) uint32 {
	if mss == 0 {
		return 0
	}
	return bytes / mss
}
