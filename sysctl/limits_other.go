//go:build !linux && !darwin && !freebsd

package sysctl

// ReadLimits returns Limits with the process's file limit where the OS has
// one and every other field Unknown.
func ReadLimits() Limits {
	l := unknownLimits()
	l.NofileSoft, l.NofileHard = nofile()
	return l
}
