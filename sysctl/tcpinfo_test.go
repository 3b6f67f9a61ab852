package sysctl

import (
	"errors"
	"net"
	"runtime"
	"testing"
)

// connectedPair returns a loopback connection after 1000 bytes went from
// the client to the server and were read.
func connectedPair(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	for n := 0; n < 1000; {
		m, err := s.Read(buf[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	return c
}

func TestReadTCPInfo(t *testing.T) {
	c := connectedPair(t)
	rc, _ := c.(*net.TCPConn).SyscallConn()
	ti, err := ReadTCPInfo(rc)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("no TCP statistics on %s", runtime.GOOS)
	}
	if err != nil {
		t.Fatal(err)
	}
	if ti.Known&^AllFields != 0 {
		t.Errorf("Known %#x has bits beyond AllFields", ti.Known)
	}
	if !ti.Has(FieldState|FieldSndMSS|FieldRTT|FieldSndCwnd) || ti.State != StateEstablished || ti.SndMSS == 0 || ti.SndCwnd == 0 {
		t.Errorf("tcp_info: %+v", ti)
	}
	if ti.Has(FieldBytesSent) && ti.BytesSent < 1000 {
		t.Errorf("bytes sent %d after writing 1000", ti.BytesSent)
	}
	if runtime.GOOS == "linux" {
		if !ti.Has(FieldBytesAcked | FieldTotalRetrans | FieldBusyTime) {
			t.Errorf("Linux Known %#x lacks fields every kernel since 4.10 fills", ti.Known)
		}
		if cc, err := Congestion(rc); err != nil || cc == "" {
			t.Errorf("congestion %q %v", cc, err)
		}
	}
}

func TestOtherOSesTranslate(t *testing.T) {
	mac := fromDarwin(&darwinConnInfo{State: 4, RTO: 200, MaxSeg: 1448, SndCwnd: 10 * 1448, SndWnd: 65535, RcvWnd: 131072,
		SRTT: 3, RTTVar: 1, TxBytes: 5000, RxBytes: 700, TxRetransmitPackets: 2})
	want := TCPInfo{State: StateEstablished, RTO: 200000, SndMSS: 1448, SndCwnd: 10, SndWnd: 65535, RcvWnd: 131072,
		RTT: 3000, RTTVar: 1000, BytesSent: 5000, BytesRecv: 700, TotalRetrans: 2, Known: darwinKnown}
	if mac != want {
		t.Errorf("macOS:\n got %+v\nwant %+v", mac, want)
	}
	bsd := fromFreeBSD(&freebsdTCPInfo{State: 4, RTO: 201000, SndMSS: 1460, LastDataRecv: 25000, RTT: 150, RTTVar: 40,
		SndCwnd: 4 * 1460, RcvSpace: 65536, SndWnd: 32768, SndRexmitPk: 9})
	want = TCPInfo{State: StateEstablished, RTO: 201000, SndMSS: 1460, LastDataRecv: 25, RTT: 150, RTTVar: 40, SndCwnd: 4,
		RcvWnd: 65536, SndWnd: 32768, TotalRetrans: 9, Known: freebsdKnown}
	if bsd != want {
		t.Errorf("FreeBSD:\n got %+v\nwant %+v", bsd, want)
	}
	win := fromWindows(&windowsTCPInfoV0{State: 4, MSS: 1460, RTTUs: 420, Cwnd: 64 * 1460, SndWnd: 1 << 20, RcvWnd: 1 << 19,
		BytesOut: 1e6, BytesIn: 12, TimeoutEpisodes: 1 << 20})
	want = TCPInfo{State: StateEstablished, SndMSS: 1460, RTT: 420, SndCwnd: 64, SndWnd: 1 << 20, RcvWnd: 1 << 19,
		BytesSent: 1e6, BytesRecv: 12, TotalRTO: 65535, Known: windowsKnown}
	if win != want {
		t.Errorf("Windows:\n got %+v\nwant %+v", win, want)
	}
	// States differ between the BSDs and Windows from 5 on.
	if st := fromDarwin(&darwinConnInfo{State: 5}); st.State != StateCloseWait {
		t.Errorf("BSD state 5 -> %d, want close-wait", st.State)
	}
	if st := fromWindows(&windowsTCPInfoV0{State: 5}); st.State != StateFinWait1 {
		t.Errorf("Windows state 5 -> %d, want fin-wait-1", st.State)
	}
	// A state number no table knows is not reported, and no MSS is no window.
	if st := fromWindows(&windowsTCPInfoV0{State: 99, Cwnd: 5000}); st.Has(FieldState) || st.SndCwnd != 0 {
		t.Errorf("unknown state or zero MSS: %+v", st)
	}
}

func TestNamesFor(t *testing.T) {
	for _, goos := range []string{"darwin", "freebsd"} {
		if n := NamesFor(goos); n.Somaxconn != "kern.ipc.somaxconn" || !n.Sysctl || n.PortLast == "" {
			t.Errorf("%s: %+v", goos, n)
		}
	}
	if n := NamesFor("windows"); n.Sysctl || n.Somaxconn != "" {
		t.Errorf("windows has no sysctls: %+v", n)
	}
}
