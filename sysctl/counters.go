package sysctl

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// Counters are kernel network counters by "Prefix.Name", for example
// "TcpExt.ListenOverflows" or "Tcp.RetransSegs".
type Counters map[string]int64

// Sub returns c - base for every counter present in both.
func (c Counters) Sub(base Counters) Counters {
	d := make(Counters, len(c))
	for k, v := range c {
		if b, ok := base[k]; ok {
			d[k] = v - b
		}
	}
	return d
}

// The counters flowscope reports, in display order.
var WatchedCounters = []string{
	"TcpExt.ListenOverflows", "TcpExt.ListenDrops", "TcpExt.TCPReqQFullDrop", "TcpExt.TCPReqQFullDoCookies",
	"TcpExt.SyncookiesSent", "TcpExt.SyncookiesRecv", "TcpExt.EmbryonicRsts", "TcpExt.TCPSynRetrans",
	"TcpExt.TCPTimeouts", "TcpExt.TCPAbortOnTimeout", "Tcp.AttemptFails", "Tcp.EstabResets",
	"Tcp.OutRsts", "Tcp.RetransSegs",
}

// CounterReader reads /proc/net/netstat and /proc/net/snmp through files it
// keeps open, so readings still work when the process runs out of file
// descriptors (which is when they matter most).
type CounterReader struct {
	mu    sync.Mutex
	files []*os.File
	buf   []byte
}

// NewCounterReader opens the counter files of the calling thread's network
// namespace. It fails where /proc/net is missing (not Linux).
func NewCounterReader() (*CounterReader, error) {
	r := &CounterReader{buf: make([]byte, 64<<10)}
	for _, p := range []string{"/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"} {
		f, err := os.Open(p)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("open counters: %w", err)
		}
		r.files = append(r.files, f)
	}
	return r, nil
}

// Read returns the current counters.
func (r *CounterReader) Read() (Counters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Counters{}
	for _, f := range r.files {
		n, err := f.ReadAt(r.buf, 0)
		if n == 0 && err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Name(), err)
		}
		if err := ParseCounters(r.buf[:n], c); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f.Name(), err)
		}
	}
	return c, nil
}

// Close closes the counter files.
func (r *CounterReader) Close() {
	if r == nil {
		return
	}
	for _, f := range r.files {
		_ = f.Close()
	}
	r.files = nil
}

// ParseCounters parses the "Prefix: Name1 Name2 …" / "Prefix: v1 v2 …" line
// pairs of /proc/net/netstat and /proc/net/snmp into into, by header name,
// never by position. Lines that do not pair up are skipped; a value that is
// not a number is an error.
func ParseCounters(data []byte, into Counters) error {
	lines := bytes.Split(data, []byte{'\n'})
	for i := 0; i+1 < len(lines); i++ {
		head := bytes.Fields(lines[i])
		vals := bytes.Fields(lines[i+1])
		if len(head) < 2 || len(vals) < 2 || !bytes.Equal(head[0], vals[0]) || !bytes.HasSuffix(head[0], []byte{':'}) {
			continue
		}
		if len(head) != len(vals) {
			return fmt.Errorf("%s has %d names but %d values", head[0], len(head)-1, len(vals)-1)
		}
		prefix := string(head[0][:len(head[0])-1])
		for j := 1; j < len(head); j++ {
			v, err := strconv.ParseInt(string(vals[j]), 10, 64)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", prefix, head[j], err)
			}
			into[prefix+"."+string(head[j])] = v
		}
		i++
	}
	return nil
}
