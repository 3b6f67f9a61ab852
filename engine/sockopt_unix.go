//go:build unix && !linux

package engine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setAll applies the options the BSDs and macOS have: buffers, TOS and the
// MSS. A client refuses the others before a test starts (checkPlatform);
// a server asked for them by its client leaves them out, as iperf3 does
// where an option does not exist.
func (o sockOpts) setAll(sock uintptr) error {
	fd := int(sock)
	if o.tos > 0 {
		if o.v6 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.tos); err != nil {
				return fmt.Errorf("set IPV6_TCLASS %d: %w", o.tos, err)
			}
		} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, o.tos); err != nil {
			return fmt.Errorf("set IP_TOS %d: %w", o.tos, err)
		}
	}
	if !o.udp && o.mss > 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, o.mss); err != nil {
			return fmt.Errorf("set TCP_MAXSEG %d: %w", o.mss, err)
		}
	}
	if o.window > 0 {
		// The BSDs refuse (ENOBUFS) sizes above kern.ipc.maxsockbuf.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.window); err != nil {
			return fmt.Errorf("set SO_SNDBUF %d: %w (see kern.ipc.maxsockbuf)", o.window, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.window); err != nil {
			return fmt.Errorf("set SO_RCVBUF %d: %w (see kern.ipc.maxsockbuf)", o.window, err)
		}
	}
	return nil
}
