package sysctl

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// darwinConnInfo must be laid out as the kernel's struct.
var (
	_ [unsafe.Sizeof(darwinConnInfo{}) - unix.SizeofTCPConnectionInfo]byte
	_ [unix.SizeofTCPConnectionInfo - unsafe.Sizeof(darwinConnInfo{})]byte
)

// ReadTCPInfoFD reads TCP_CONNECTION_INFO from the socket fd.
func ReadTCPInfoFD(fd uintptr) (TCPInfo, error) {
	raw, err := unix.GetsockoptTCPConnectionInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_CONNECTION_INFO)
	if err != nil {
		return TCPInfo{}, fmt.Errorf("tcp_connection_info: %w", err)
	}
	return fromDarwin((*darwinConnInfo)(unsafe.Pointer(raw))), nil
}

func listenerQueueFD(uintptr) (queue, backlog uint32, err error) { return 0, 0, ErrUnsupported }
