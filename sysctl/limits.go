package sysctl

import (
	"fmt"
	"strconv"
	"strings"
)

// Unknown marks a limit that could not be read.
const Unknown = -1

// Limits are the host settings that decide how many flows a test can set
// up and how large its buffers may be. A field is Unknown when it could not
// be read: the OS has no such setting (Windows has none of them), or a file
// is missing inside a container. The comments name Linux's settings;
// HostNames has this OS's names.
type Limits struct {
	Somaxconn        int64 // net.core.somaxconn: cap on every listen backlog
	TCPMaxSynBacklog int64 // net.ipv4.tcp_max_syn_backlog
	Syncookies       int64 // net.ipv4.tcp_syncookies
	AbortOnOverflow  int64 // net.ipv4.tcp_abort_on_overflow
	PortLow          int64 // net.ipv4.ip_local_port_range, first port
	PortHigh         int64 // net.ipv4.ip_local_port_range, last port
	TWReuse          int64 // net.ipv4.tcp_tw_reuse
	RmemMax          int64 // net.core.rmem_max: cap for SO_RCVBUF
	WmemMax          int64 // net.core.wmem_max: cap for SO_SNDBUF
	TCPRmem          [3]int64
	TCPWmem          [3]int64
	NofileSoft       int64 // RLIMIT_NOFILE soft limit of this process
	NofileHard       int64
	FilesOpen        int64 // fs.file-nr, allocated file handles
	FilesMax         int64 // fs.file-nr, maximum
}

// EphemeralPorts returns how many local ports one destination can use, or
// Unknown.
func (l *Limits) EphemeralPorts() int64 {
	if l.PortLow == Unknown || l.PortHigh == Unknown || l.PortHigh < l.PortLow {
		return Unknown
	}
	return l.PortHigh - l.PortLow + 1
}

// ParseInts parses exactly n whitespace-separated integers.
func ParseInts(s string, n int) ([]int64, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("want %d numbers, got %d", n, len(f))
	}
	out := make([]int64, n)
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("number %d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}
