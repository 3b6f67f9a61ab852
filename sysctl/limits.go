package sysctl

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Unknown marks a limit that could not be read.
const Unknown = -1

// Limits are the host settings that decide how many flows a test can set
// up and how large its buffers may be. A field is Unknown when it could not
// be read (another OS, a file missing inside a container).
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

// ReadLimits reads the host's limits; unreadable values are Unknown.
func ReadLimits() Limits {
	one := func(name string) int64 {
		v, err := ReadInt(name)
		if err != nil {
			return Unknown
		}
		return v
	}
	l := Limits{
		Somaxconn:        one("net.core.somaxconn"),
		TCPMaxSynBacklog: one("net.ipv4.tcp_max_syn_backlog"),
		Syncookies:       one("net.ipv4.tcp_syncookies"),
		AbortOnOverflow:  one("net.ipv4.tcp_abort_on_overflow"),
		TWReuse:          one("net.ipv4.tcp_tw_reuse"),
		RmemMax:          one("net.core.rmem_max"),
		WmemMax:          one("net.core.wmem_max"),
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
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return nil
	}
	v, err := ParseInts(string(b), n)
	if err != nil {
		return nil
	}
	return v
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
