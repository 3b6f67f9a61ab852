//go:build !linux

package sysctl

// unknownLimits returns Limits with every field Unknown.
func unknownLimits() Limits {
	u := [3]int64{Unknown, Unknown, Unknown}
	return Limits{Somaxconn: Unknown, TCPMaxSynBacklog: Unknown, Syncookies: Unknown, AbortOnOverflow: Unknown,
		PortLow: Unknown, PortHigh: Unknown, TWReuse: Unknown, RmemMax: Unknown, WmemMax: Unknown,
		TCPRmem: u, TCPWmem: u, NofileSoft: Unknown, NofileHard: Unknown, FilesOpen: Unknown, FilesMax: Unknown}
}
