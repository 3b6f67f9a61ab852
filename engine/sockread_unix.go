//go:build unix

package engine

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bufSizes returns the socket's actual SO_SNDBUF and SO_RCVBUF.
func bufSizes(rc syscall.RawConn) (snd, rcv int) {
	_ = rc.Control(func(fd uintptr) {
		snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	return snd, rcv
}

// mss returns the socket's TCP_MAXSEG.
func mss(rc syscall.RawConn) int {
	var v int
	_ = rc.Control(func(fd uintptr) {
		v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	})
	return v
}
