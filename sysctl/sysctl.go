// Package sysctl reads the host's network limits and per-socket kernel
// state: sysctls (/proc/sys on Linux, sysctl(3) on macOS and FreeBSD) and
// each OS's TCP statistics (TCP_INFO, TCP_CONNECTION_INFO, SIO_TCP_INFO).
// Readings that an OS cannot provide return ErrUnsupported or Unknown.
package sysctl

import "errors"

// ErrUnsupported is returned where the platform has no such reading.
var ErrUnsupported = errors.New("not supported on this platform")

// Somaxconn returns the cap on every listen backlog (net.core.somaxconn on
// Linux, kern.ipc.somaxconn on macOS and FreeBSD).
func Somaxconn() (int, error) {
	if HostNames.Somaxconn == "" {
		return 0, ErrUnsupported
	}
	v, err := ReadInt(HostNames.Somaxconn)
	return int(v), err
}
