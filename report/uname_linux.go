//go:build linux

package report

import (
	"strings"
	"syscall"
)

// unameString builds the "uname -a"-style line iperf3 reports as
// system_info: sysname, nodename, release, version and machine.
func unameString() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return fallbackSystemInfo()
	}
	return strings.Join([]string{
		cString(u.Sysname[:]), cString(u.Nodename[:]), cString(u.Release[:]),
		cString(u.Version[:]), cString(u.Machine[:]),
	}, " ")
}

// cString converts a NUL-terminated utsname field, whose element type is
// int8 or uint8 depending on the architecture.
func cString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
