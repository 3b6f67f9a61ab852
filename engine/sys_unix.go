//go:build unix

package engine

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// peek returns how many bytes (up to len(b)) wait on the socket fd, without
// taking them or waiting.
func peek(fd uintptr, b []byte) int {
	n, _, _ := unix.Recvfrom(int(fd), b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return n
}

// takeQueued takes one queued datagram from the socket fd into b, without
// waiting: its length and sender; false when none was queued.
func takeQueued(fd uintptr, b []byte) (int, netip.AddrPort, bool) {
	n, sa, err := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, netip.AddrPort{}, false
	}
	var from netip.AddrPort
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return min(n, len(b)), from, true
}

// setReuseAddr sets SO_REUSEADDR on the socket fd.
func setReuseAddr(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
}

// connectFD connects the (UDP) socket fd to peer.
func connectFD(fd uintptr, peer netip.AddrPort) error {
	var sa unix.Sockaddr
	a := peer.Addr().Unmap()
	if a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(peer.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(peer.Port()), Addr: a.As16()}
	}
	return unix.Connect(int(fd), sa)
}
