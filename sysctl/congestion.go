//go:build linux || freebsd

package sysctl

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Congestion returns the socket's TCP congestion control algorithm.
func Congestion(rc syscall.RawConn) (string, error) {
	var name string
	var serr error
	err := rc.Control(func(fd uintptr) {
		name, serr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return "", fmt.Errorf("get TCP_CONGESTION: %w", err)
	}
	return name, nil
}
