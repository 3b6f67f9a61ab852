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

func clamp(v uint64) int64 {
	if v > 1<<62 {
		return 1 << 62 // RLIM_INFINITY
	}
	return int64(v)
}
