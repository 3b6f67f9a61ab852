package sysctl

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TCPInfo is the subset of the kernel's struct tcp_info flowscope reports.
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
}

// ReadTCPInfo reads TCP_INFO from the socket behind rc.
func ReadTCPInfo(rc syscall.RawConn) (TCPInfo, error) {
	var ti TCPInfo
	var serr error
	err := rc.Control(func(fd uintptr) { ti, serr = ReadTCPInfoFD(fd) })
	if err != nil {
		return TCPInfo{}, fmt.Errorf("tcp_info: %w", err)
	}
	return ti, serr
}

// ReadTCPInfoFD reads TCP_INFO from the socket fd, as ReadTCPInfo does
// from a RawConn. It allocates nothing (but an error): a caller that reads
// many sockets often can hand RawConn.Control a func of its own, made
// once, where ReadTCPInfo makes one per call.
func ReadTCPInfoFD(fd uintptr) (TCPInfo, error) {
	// unix.GetsockoptTCPInfo would do, but its result escapes to the heap.
	var ti unix.TCPInfo
	size := uint32(unix.SizeofTCPInfo)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return TCPInfo{}, fmt.Errorf("tcp_info: %w", errno)
	}
	return TCPInfo{
		State:        ti.State,
		CAState:      ti.Ca_state,
		Retransmits:  ti.Retransmits,
		Backoff:      ti.Backoff,
		RTO:          ti.Rto,
		SndMSS:       ti.Snd_mss,
		Unacked:      ti.Unacked,
		Sacked:       ti.Sacked,
		Lost:         ti.Lost,
		PMTU:         ti.Pmtu,
		RTT:          ti.Rtt,
		RTTVar:       ti.Rttvar,
		SndCwnd:      ti.Snd_cwnd,
		TotalRetrans: ti.Total_retrans,
		BytesAcked:   ti.Bytes_acked,
		BytesSent:    ti.Bytes_sent,
		NotsentBytes: ti.Notsent_bytes,
		SndWnd:       ti.Snd_wnd,
		RcvWnd:       ti.Rcv_wnd,
		LastDataRecv: ti.Last_data_recv,
		LastAckRecv:  ti.Last_ack_recv,
		BusyTime:     ti.Busy_time,
		RwndLimited:  ti.Rwnd_limited,
		SndbufLimit:  ti.Sndbuf_limited,
		DeliveryRate: ti.Delivery_rate,
		BytesRecv:    ti.Bytes_received,
		Probes:       ti.Probes,
		TotalRTO:     ti.Total_rto,
		TotalRTOTime: ti.Total_rto_time,
	}, nil
}

// Congestion returns the socket's TCP congestion control algorithm.
func Congestion(rc syscall.RawConn) (string, error) {
	var name string
	var serr error
	err := rc.Control(func(fd uintptr) {
		name, serr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return "", fmt.Errorf("get TCP_CONGESTION: %w", err)
	}
	return name, nil
}

// ListenerQueue returns a listening socket's current accept-queue length
// and its backlog, as TCP_INFO reports them for LISTEN sockets.
func ListenerQueue(rc syscall.RawConn) (queue, backlog uint32, err error) {
	ti, err := ReadTCPInfo(rc)
	if err != nil {
		return 0, 0, err
	}
	return ti.Unacked, ti.Sacked, nil
}
