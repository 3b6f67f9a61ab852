//go:build !linux

package sysctl

import "syscall"

// TCPInfo is the subset of the kernel's struct tcp_info flowscope reports.
type TCPInfo struct {
	State, CAState, Retransmits, Backoff                    uint8
	RTO, SndMSS, Unacked, Sacked, Lost, PMTU, RTT, RTTVar   uint32
	SndCwnd, TotalRetrans                                   uint32
	BytesAcked, BytesSent                                   uint64
	NotsentBytes, SndWnd, RcvWnd, LastDataRecv, LastAckRecv uint32
	BusyTime, RwndLimited, SndbufLimit, DeliveryRate        uint64
}

// ReadTCPInfo is not available on this platform.
func ReadTCPInfo(syscall.RawConn) (TCPInfo, error) { return TCPInfo{}, ErrUnsupported }

// ReadTCPInfoFD is not available on this platform.
func ReadTCPInfoFD(uintptr) (TCPInfo, error) { return TCPInfo{}, ErrUnsupported }

// Congestion is not available on this platform.
func Congestion(syscall.RawConn) (string, error) { return "", ErrUnsupported }

// ListenerQueue is not available on this platform.
func ListenerQueue(syscall.RawConn) (queue, backlog uint32, err error) {
	return 0, 0, ErrUnsupported
}
