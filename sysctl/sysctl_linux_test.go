package sysctl

import (
	"net"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestReadLimits(t *testing.T) {
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

func TestLinuxKnownFollowsTheLengthWritten(t *testing.T) {
	var ti unix.TCPInfo
	if got := linuxKnown(unix.SizeofTCPInfo); got != AllFields {
		t.Errorf("full struct: Known %#x, want AllFields", got)
	}
	// A 4.10 kernel's struct ends with tcpi_sndbuf_limited: the fields
	// before it are known, bytes_sent (4.19), snd_wnd (5.4) and the RTO
	// counts (6.7) are not.
	got := linuxKnown(uint32(unsafe.Offsetof(ti.Sndbuf_limited) + 8))
	if !(&TCPInfo{Known: got}).Has(FieldState|FieldProbes|FieldRTT|FieldBytesRecv|FieldDeliveryRate|FieldBusyTime|FieldSndbufLimit) ||
		got&(FieldBytesSent|FieldSndWnd|FieldRcvWnd|FieldTotalRTO|FieldTotalRTOTime) != 0 {
		t.Errorf("4.10-length struct: Known %#x", got)
	}
	if got := linuxKnown(0); got != 0 {
		t.Errorf("nothing written: Known %#x", got)
	}
}
