package sysctl

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ReadTCPInfoFD reads TCP_INFO from the socket fd. It allocates nothing
// (but an error).
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
		ReordSeen:    ti.Reord_seen,
		Known:        linuxKnown(size),
	}, nil
}

// linuxFieldEnds is where each TCPInfo field's source ends in struct
// tcp_info: an older kernel writes a shorter struct, and a field past the
// length it wrote is not known.
var linuxFieldEnds = func() (ends [32]uintptr) {
	var ti unix.TCPInfo
	for i, end := range []uintptr{
		unsafe.Offsetof(ti.State) + 1, unsafe.Offsetof(ti.Ca_state) + 1, unsafe.Offsetof(ti.Retransmits) + 1,
		unsafe.Offsetof(ti.Backoff) + 1, unsafe.Offsetof(ti.Rto) + 4, unsafe.Offsetof(ti.Snd_mss) + 4,
		unsafe.Offsetof(ti.Unacked) + 4, unsafe.Offsetof(ti.Sacked) + 4, unsafe.Offsetof(ti.Lost) + 4,
		unsafe.Offsetof(ti.Pmtu) + 4, unsafe.Offsetof(ti.Rtt) + 4, unsafe.Offsetof(ti.Rttvar) + 4,
		unsafe.Offsetof(ti.Snd_cwnd) + 4, unsafe.Offsetof(ti.Total_retrans) + 4, unsafe.Offsetof(ti.Bytes_acked) + 8,
		unsafe.Offsetof(ti.Bytes_sent) + 8, unsafe.Offsetof(ti.Notsent_bytes) + 4, unsafe.Offsetof(ti.Snd_wnd) + 4,
		unsafe.Offsetof(ti.Rcv_wnd) + 4, unsafe.Offsetof(ti.Last_data_recv) + 4, unsafe.Offsetof(ti.Last_ack_recv) + 4,
		unsafe.Offsetof(ti.Busy_time) + 8, unsafe.Offsetof(ti.Rwnd_limited) + 8, unsafe.Offsetof(ti.Sndbuf_limited) + 8,
		unsafe.Offsetof(ti.Delivery_rate) + 8, unsafe.Offsetof(ti.Bytes_received) + 8, unsafe.Offsetof(ti.Probes) + 1,
		unsafe.Offsetof(ti.Total_rto) + 2, unsafe.Offsetof(ti.Total_rto_time) + 4, unsafe.Offsetof(ti.Reord_seen) + 4,
	} {
		ends[i] = end // in the order of the Field bits
	}
	return ends
}()

// linuxKnown returns the fields a kernel that wrote size bytes filled.
func linuxKnown(size uint32) Fields {
	if size >= unix.SizeofTCPInfo {
		return AllFields
	}
	var known Fields
	for i := 0; Fields(1)<<i <= AllFields; i++ {
		if linuxFieldEnds[i] <= uintptr(size) {
			known |= 1 << i
		}
	}
	return known
}

func listenerQueueFD(fd uintptr) (queue, backlog uint32, err error) {
	// On a LISTEN socket, tcpi_unacked is the accept queue's length and
	// tcpi_sacked its backlog.
	ti, err := ReadTCPInfoFD(fd)
	if err != nil {
		return 0, 0, err
	}
	return ti.Unacked, ti.Sacked, nil
}
