package engine

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/windows"
)

// setAll applies the options Windows has: the socket buffers. A client
// refuses the others before a test starts (checkPlatform); a server asked
// for them by its client leaves them out, as iperf3 does where an option
// does not exist.
func (o sockOpts) setAll(sock uintptr) error {
	if o.window > 0 {
		fd := windows.Handle(sock)
		if err := windows.SetsockoptInt(fd, windows.SOL_SOCKET, windows.SO_SNDBUF, o.window); err != nil {
			return fmt.Errorf("set SO_SNDBUF %d: %w", o.window, err)
		}
		if err := windows.SetsockoptInt(fd, windows.SOL_SOCKET, windows.SO_RCVBUF, o.window); err != nil {
			return fmt.Errorf("set SO_RCVBUF %d: %w", o.window, err)
		}
	}
	return nil
}

// bufSizes returns the socket's actual SO_SNDBUF and SO_RCVBUF.
func bufSizes(rc syscall.RawConn) (snd, rcv int) {
	_ = rc.Control(func(fd uintptr) {
		snd, _ = windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_SNDBUF)
		rcv, _ = windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_RCVBUF)
	})
	return snd, rcv
}

// mss returns 0 (unknown): Windows reports no TCP_MAXSEG here; SIO_TCP_INFO
// has it per connection (sysctl.ReadTCPInfo).
func mss(syscall.RawConn) int { return 0 }
