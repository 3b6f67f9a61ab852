//go:build !linux && !freebsd

package sysctl

import "syscall"

// Congestion returns ErrUnsupported: this OS has no per-socket choice of
// congestion control.
func Congestion(syscall.RawConn) (string, error) { return "", ErrUnsupported }
