package engine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setAll applies the options to fd.
func (o sockOpts) setAll(sock uintptr) error {
	fd := int(sock)
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
