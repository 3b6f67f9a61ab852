//go:build darwin || freebsd

package sysctl

import "runtime"

// ReadLimits reads the host's limits; unreadable values and settings the
// BSDs do not have are Unknown.
func ReadLimits() Limits {
	n := HostNames
	l := unknownLimits()
	l.Somaxconn = readOr(n.Somaxconn)
	l.PortLow, l.PortHigh = readOr(n.PortFirst), readOr(n.PortLast)
	l.RmemMax = readOr(n.RmemMax) // one cap for both buffers
	l.WmemMax = l.RmemMax
	l.FilesMax = readOr(n.MaxFiles)
	if runtime.GOOS == "freebsd" {
		l.FilesOpen = readOr("kern.openfiles")
	} else {
		l.FilesOpen = readOr("kern.num_files")
	}
	l.NofileSoft, l.NofileHard = nofile()
	return l
}
