//go:build unix

package sysctl

import "syscall"

func nofile() (soft, hard int64) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return Unknown, Unknown
	}
	return clamp(r.Cur), clamp(r.Max)
}

// clamp caps RLIM_INFINITY (and anything near it) at 1<<62; the field is
// unsigned on Linux and macOS, signed on FreeBSD.
func clamp[T int64 | uint64](v T) int64 {
	if uint64(v) > 1<<62 {
		return 1 << 62 // RLIM_INFINITY
	}
	return int64(v)
}
