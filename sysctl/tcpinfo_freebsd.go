package sysctl

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// freebsdTCPInfo must be laid out as the kernel's struct (236 bytes on
// every architecture; FreeBSD keeps it that size with padding).
var (
	_ [unsafe.Sizeof(freebsdTCPInfo{}) - 236]byte
	_ [236 - unsafe.Sizeof(freebsdTCPInfo{})]byte
)

// ReadTCPInfoFD reads TCP_INFO from the socket fd.
func ReadTCPInfoFD(fd uintptr) (TCPInfo, error) {
	var raw freebsdTCPInfo
	size := uint32(unsafe.Sizeof(raw))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return TCPInfo{}, fmt.Errorf("tcp_info: %w", errno)
	}
	return fromFreeBSD(&raw), nil
}

// listenerQueueFD reads a listening socket's queue length and limit.
func listenerQueueFD(fd uintptr) (queue, backlog uint32, err error) {
	q, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_LISTENQLEN)
	if err != nil {
		return 0, 0, fmt.Errorf("get SO_LISTENQLEN: %w", err)
	}
	b, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_LISTENQLIMIT)
	if err != nil {
		return 0, 0, fmt.Errorf("get SO_LISTENQLIMIT: %w", err)
	}
	return uint32(q), uint32(b), nil
}
