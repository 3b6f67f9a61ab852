package engine

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// sockOpts are the per-socket options a test asks for.
type sockOpts struct {
	window      int    // SO_SNDBUF and SO_RCVBUF, 0 = autotune
	congestion  string // TCP_CONGESTION, "" = host default
	pacing      uint64 // SO_MAX_PACING_RATE in bytes/s, 0 = unlimited
	noPortBind  bool   // IP_BIND_ADDRESS_NO_PORT, for bind-before-connect
	mss         int    // TCP_MAXSEG (-M), 0 = path default
	tos         int    // IP_TOS / IPV6_TCLASS (-S, --dscp), 0 = default
	v6          bool   // the socket is IPv6: TOS goes to IPV6_TCLASS
	bindDev     string // SO_BINDTODEVICE (--bind-dev)
	userTimeout int    // TCP_USER_TIMEOUT in ms (--snd-timeout)
	udp         bool   // a UDP socket: TCP options are skipped
	dontFrag    bool   // IP_MTU_DISCOVER = IP_PMTUDISC_DO (--dont-fragment)
}

// setAll applies the options to fd.
func (o sockOpts) setAll(fd int) error {
	if o.noPortBind {
		// Best effort: lets many flows share a bound address without each
		// reserving an ephemeral port at bind time.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}
	if o.bindDev != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, o.bindDev); err != nil {
			return fmt.Errorf("bind to device %q: %w", o.bindDev, err)
		}
	}
	if o.tos > 0 {
		if o.v6 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.tos); err != nil {
				return fmt.Errorf("set IPV6_TCLASS %d: %w", o.tos, err)
			}
		} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, o.tos); err != nil {
			return fmt.Errorf("set IP_TOS %d: %w", o.tos, err)
		}
	}
	if o.dontFrag && !o.v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			return fmt.Errorf("set don't-fragment: %w", err)
		}
	}
	if !o.udp {
		if o.mss > 0 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, o.mss); err != nil {
				return fmt.Errorf("set TCP_MAXSEG %d: %w", o.mss, err)
			}
		}
		if o.userTimeout > 0 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, o.userTimeout); err != nil {
				return fmt.Errorf("set TCP_USER_TIMEOUT %d ms: %w", o.userTimeout, err)
			}
		}
	}
	if o.window > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.window); err != nil {
			return fmt.Errorf("set SO_SNDBUF %d: %w", o.window, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.window); err != nil {
			return fmt.Errorf("set SO_RCVBUF %d: %w", o.window, err)
		}
	}
	if o.congestion != "" && !o.udp {
		if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, o.congestion); err != nil {
			return fmt.Errorf("set congestion control %q: %w (see /proc/sys/net/ipv4/tcp_available_congestion_control)", o.congestion, err)
		}
	}
	if o.pacing > 0 && !o.udp {
		if err := unix.SetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_MAX_PACING_RATE, o.pacing); err != nil {
			return fmt.Errorf("set SO_MAX_PACING_RATE: %w", err)
		}
	}
	return nil
}

// control is a net.Dialer.Control function applying o before connect.
func (o sockOpts) control(_, _ string, rc syscall.RawConn) error {
	return o.apply(rc)
}

// apply sets the options on an existing socket.
func (o sockOpts) apply(rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = o.setAll(int(fd)) }); err != nil {
		return fmt.Errorf("socket options: %w", err)
	}
	return serr
}

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

type rawConn = syscall.RawConn
