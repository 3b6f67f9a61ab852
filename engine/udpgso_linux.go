//go:build linux && !flowscope_portable

package engine

import (
	"encoding/binary"
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP segmentation offload. A sender that sets UDP_SEGMENT hands the kernel
// up to udpMaxSegments datagrams in one write and the stack (or the NIC)
// cuts them apart: one system call and one trip down the stack instead of
// one per datagram. A receiver that sets UDP_GRO may get such a train in
// one read, with the datagram size in a control message. On the wire and
// to a stock peer nothing changes: the datagrams are the same ones.

// udpMaxSegments is how many datagrams one GSO write may carry (the
// kernel's UDP_MAX_SEGMENTS is 64 on older kernels, 128 on newer).
const udpMaxSegments = 64

// udpMaxGSOBytes bounds a GSO write: a UDP payload's 16-bit length field,
// less the IPv6 header, with room to spare.
const udpMaxGSOBytes = 65000

// udpGROBuffer holds the largest train a UDP_GRO read can return (the
// stack's default GRO limit is 64 KiB).
const udpGROBuffer = 128 << 10

// udpGSOBatch is how many datagrams of size bytes one GSO write carries;
// 1 means GSO is not worth it (datagrams too big to batch).
func udpGSOBatch(size int) int {
	if size <= 0 {
		return 1
	}
	return max(1, min(udpMaxSegments, udpMaxGSOBytes/size))
}

// setUDPSegment sets (size > 0) or clears (0) the socket's GSO segment
// size; it reports whether the kernel took it.
func setUDPSegment(conn *net.UDPConn, size int) bool {
	return setUDPOpt(conn, unix.UDP_SEGMENT, size)
}

// enableUDPGRO asks for coalesced reads; it reports whether the kernel
// took it.
func enableUDPGRO(conn *net.UDPConn) bool {
	return setUDPOpt(conn, unix.UDP_GRO, 1)
}

func setUDPOpt(conn *net.UDPConn, opt, v int) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, opt, v)
	}); err != nil {
		return false
	}
	return serr == nil
}

// gsoRefused reports whether a failed GSO write means this path cannot do
// GSO (no checksum offload, a segment larger than the MTU, …): the sender
// then goes back to one datagram per write.
func gsoRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EIO) || errors.Is(err, unix.EMSGSIZE)
}

// udpGROOOB is the control-message space a UDP_GRO read needs.
var udpGROOOB = unix.CmsgSpace(4)

// groSegmentSize finds the UDP_GRO control message in oob and returns the
// size of the datagrams coalesced in the read; 0 when there is none (the
// read holds one datagram). It does not allocate.
func groSegmentSize(oob []byte) int {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= hdr+2 {
			data := oob[unix.CmsgLen(0):l]
			switch {
			case len(data) >= 4:
				return int(binary.NativeEndian.Uint32(data))
			case len(data) >= 2:
				return int(binary.NativeEndian.Uint16(data))
			}
			return 0
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}
