package sysctl

import "os"

// ReadLimits reads the host's limits; unreadable values are Unknown.
func ReadLimits() Limits {
	l := Limits{
		Somaxconn:        readOr("net.core.somaxconn"),
		TCPMaxSynBacklog: readOr("net.ipv4.tcp_max_syn_backlog"),
		Syncookies:       readOr("net.ipv4.tcp_syncookies"),
		AbortOnOverflow:  readOr("net.ipv4.tcp_abort_on_overflow"),
		TWReuse:          readOr("net.ipv4.tcp_tw_reuse"),
		RmemMax:          readOr("net.core.rmem_max"),
		WmemMax:          readOr("net.core.wmem_max"),
	}
	l.PortLow, l.PortHigh = pair(readInts("net.ipv4.ip_local_port_range", 2))
	l.TCPRmem = triple(readInts("net.ipv4.tcp_rmem", 3))
	l.TCPWmem = triple(readInts("net.ipv4.tcp_wmem", 3))
	fnr := readInts("fs.file-nr", 3)
	l.FilesOpen, l.FilesMax = Unknown, Unknown
	if fnr != nil {
		l.FilesOpen, l.FilesMax = fnr[0], fnr[2]
	}
	l.NofileSoft, l.NofileHard = nofile()
	return l
}

// readInts reads a sysctl holding n whitespace-separated integers.
func readInts(name string, n int) []int64 {
	b, err := os.ReadFile(procSys(name))
	if err != nil {
		return nil
	}
	v, err := ParseInts(string(b), n)
	if err != nil {
		return nil
	}
	return v
}

func pair(v []int64) (int64, int64) {
	if v == nil {
		return Unknown, Unknown
	}
	return v[0], v[1]
}

func triple(v []int64) [3]int64 {
	if v == nil {
		return [3]int64{Unknown, Unknown, Unknown}
	}
	return [3]int64{v[0], v[1], v[2]}
}
