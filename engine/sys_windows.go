package engine

import (
	"net/netip"

	"golang.org/x/sys/windows"
)

// peek reports no waiting data: a non-blocking look without taking the
// data is not what Go's overlapped sockets offer on Windows, so callers
// treat the socket as not (yet) readable.
func peek(uintptr, []byte) int { return 0 }

// takeQueued takes nothing: a non-blocking receive is not what Go's
// overlapped sockets offer on Windows (queued datagrams stay queued).
func takeQueued(uintptr, []byte) (int, netip.AddrPort, bool) { return 0, netip.AddrPort{}, false }

// setReuseAddr sets SO_REUSEADDR on the socket fd.
func setReuseAddr(fd uintptr) error {
	return windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_REUSEADDR, 1)
}

// connectFD connects the (UDP) socket fd to peer.
func connectFD(fd uintptr, peer netip.AddrPort) error {
	var sa windows.Sockaddr
	a := peer.Addr().Unmap()
	if a.Is4() {
		sa = &windows.SockaddrInet4{Port: int(peer.Port()), Addr: a.As4()}
	} else {
		sa = &windows.SockaddrInet6{Port: int(peer.Port()), Addr: a.As16()}
	}
	return windows.Connect(windows.Handle(fd), sa)
}
