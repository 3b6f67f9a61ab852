package sysctl

import (
	"net"
	"runtime"
	"syscall"
	"testing"
)

const netstatSample = `TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops
TcpExt: 482 3843 4352 4352
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
`

const snmpSample = `Ip: Forwarding DefaultTTL
Ip: 1 64
Tcp: RtoAlgorithm RtoMin MaxConn AttemptFails OutRsts
Tcp: 1 200 -1 7 12
`

func TestParseCounters(t *testing.T) {
	c := Counters{}
	if err := ParseCounters([]byte(netstatSample), c); err != nil {
		t.Fatal(err)
	}
	if err := ParseCounters([]byte(snmpSample), c); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"TcpExt.ListenOverflows": 4352, "TcpExt.SyncookiesRecv": 3843, "IpExt.InNoRoutes": 0,
		"Tcp.MaxConn": -1, "Tcp.AttemptFails": 7, "Tcp.OutRsts": 12, "Ip.DefaultTTL": 64,
	}
	for k, v := range want {
		if got, ok := c[k]; !ok || got != v {
			t.Errorf("%s = %d (%v), want %d", k, got, ok, v)
		}
	}
	bad := []string{
		"TcpExt: A B\nTcpExt: 1\n",   // fewer values than names
		"TcpExt: A B\nTcpExt: 1 x\n", // not a number
	}
	for _, b := range bad {
		if err := ParseCounters([]byte(b), Counters{}); err == nil {
			t.Errorf("%q: no error", b)
		}
	}
	// Lines that do not pair up are skipped, not errors.
	if err := ParseCounters([]byte("garbage\nTcpExt: A\nIpExt: 1\n"), Counters{}); err != nil {
		t.Errorf("unpaired lines: %v", err)
	}
}

func TestCountersSub(t *testing.T) {
	d := Counters{"a": 10, "b": 5, "c": 1}.Sub(Counters{"a": 4, "b": 5})
	if d["a"] != 6 || d["b"] != 0 {
		t.Errorf("%v", d)
	}
	if _, ok := d["c"]; ok {
		t.Error("a counter missing from the base must not appear in the delta")
	}
}

func TestParseInts(t *testing.T) {
	v, err := ParseInts("32768\t60999\n", 2)
	if err != nil || v[0] != 32768 || v[1] != 60999 {
		t.Errorf("%v %v", v, err)
	}
	for _, s := range []string{"1", "1 2 3", "a b", ""} {
		if _, err := ParseInts(s, 2); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func FuzzParseCounters(f *testing.F) {
	f.Add([]byte(netstatSample))
	f.Add([]byte(snmpSample))
	f.Add([]byte("X: a\nX: 99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Counters{}
		_ = ParseCounters(data, c)
		for k := range c {
			if k == "" {
				t.Fatal("empty counter name")
			}
		}
	})
}

func linuxOnly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
}

func TestReadLimits(t *testing.T) {
	linuxOnly(t)
	l := ReadLimits()
	if l.Somaxconn <= 0 || l.NofileSoft <= 0 || l.NofileHard < l.NofileSoft {
		t.Errorf("implausible limits: %+v", l)
	}
	if p := l.EphemeralPorts(); p <= 0 || p > 65536 {
		t.Errorf("ephemeral ports %d", p)
	}
	if l.TCPRmem[2] <= 0 || l.RmemMax <= 0 {
		t.Errorf("buffers: %+v", l)
	}
}

func TestCounterReader(t *testing.T) {
	linuxOnly(t)
	r, err := NewCounterReader()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range WatchedCounters {
		if _, ok := c[k]; !ok {
			t.Errorf("counter %s missing", k)
		}
	}
	// The files stay open: a reading still works when no descriptor is left.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	low := lim
	low.Cur = 16
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var hog []int
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
		if err != nil {
			break
		}
		hog = append(hog, fd)
	}
	defer func() {
		for _, fd := range hog {
			syscall.Close(fd)
		}
	}()
	if _, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0); err != syscall.EMFILE {
		t.Fatalf("expected EMFILE, got %v", err)
	}
	if _, err := r.Read(); err != nil {
		t.Errorf("reading with no descriptors left: %v", err)
	}
}

func TestListenerQueue(t *testing.T) {
	linuxOnly(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Three connections nobody accepts wait in the accept queue.
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	q, backlog, err := ListenerQueue(rc)
	if err != nil {
		t.Fatal(err)
	}
	if q != 3 {
		t.Errorf("accept queue %d, want 3", q)
	}
	if som, err := Somaxconn(); err == nil && int(backlog) != som {
		t.Errorf("backlog %d, want somaxconn %d", backlog, som)
	}
}

func TestReadTCPInfo(t *testing.T) {
	linuxOnly(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	n := 0
	for n < 1000 {
		m, err := s.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	rc, _ := c.(*net.TCPConn).SyscallConn()
	ti, err := ReadTCPInfo(rc)
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != 1 || ti.BytesSent < 1000 || ti.SndMSS == 0 {
		t.Errorf("tcp_info: %+v", ti)
	}
	if cc, err := Congestion(rc); err != nil || cc == "" {
		t.Errorf("congestion %q %v", cc, err)
	}
}
