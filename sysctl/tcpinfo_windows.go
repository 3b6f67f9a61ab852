package sysctl

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioTCPInfo is SIO_TCP_INFO, _WSAIORW(IOC_VENDOR, 39) (Windows 10 1703 and
// later).
const sioTCPInfo = 0xd8000027

// windowsTCPInfoV0 must be laid out as the kernel's struct.
var (
	_ [unsafe.Sizeof(windowsTCPInfoV0{}) - 88]byte
	_ [88 - unsafe.Sizeof(windowsTCPInfoV0{})]byte
)

// ReadTCPInfoFD reads TCP_INFO_v0 from the socket handle fd.
func ReadTCPInfoFD(fd uintptr) (TCPInfo, error) {
	var raw windowsTCPInfoV0
	version := uint32(0)
	var n uint32
	err := windows.WSAIoctl(windows.Handle(fd), sioTCPInfo, (*byte)(unsafe.Pointer(&version)), uint32(unsafe.Sizeof(version)),
		(*byte)(unsafe.Pointer(&raw)), uint32(unsafe.Sizeof(raw)), &n, nil, 0)
	if err != nil {
		return TCPInfo{}, fmt.Errorf("SIO_TCP_INFO: %w", err)
	}
	return fromWindows(&raw), nil
}

func listenerQueueFD(uintptr) (queue, backlog uint32, err error) { return 0, 0, ErrUnsupported }
