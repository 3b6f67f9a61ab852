//go:build linux && !flowscope_portable

package engine

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpPair returns two UDP sockets on loopback connected to each other.
func udpPair(t *testing.T) (a, b *net.UDPConn) {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	b, err = net.DialUDP("udp4", lo, a.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	if err := connectUDP(a, b.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		_ = c.SetReadBuffer(udpSocketBuffer)
		_ = c.SetWriteBuffer(udpSocketBuffer)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestUDPBatchedAccounting: a sender batching datagrams with UDP GSO and a
// receiver taking trains apart (UDP_GRO) count exactly the datagrams and
// bytes of one-by-one sending, in every pairing (a stock peer does neither).
func TestUDPBatchedAccounting(t *testing.T) {
	const size, count = 1400, 20000
	for _, tc := range []struct {
		name           string
		sndGSO, rcvGRO bool
	}{
		{"GSO to GRO", true, true},
		{"GSO to one by one", true, false},
		{"one by one to GRO", false, true},
		{"one by one", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, sc := udpPair(t)
			// 200 Mbit/s: paced, so nothing overruns the receiver, yet
			// dozens of datagrams fall due together (batches).
			snd := newUDPFlow(0, Send, sc, &udpFlow{size: size, rate: 200e6, noGSO: !tc.sndGSO})
			rcv := newUDPFlow(1, Recv, rc, &udpFlow{size: size, noGSO: !tc.rcvGRO})
			rcv.started = true
			go rcv.run(make([]byte, size), nil)
			payload := make([]byte, size)
			snd.started = true
			snd.run(payload, newByteLimit(count*size))
			if snd.err != nil {
				t.Fatal(snd.err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for rcv.udp.packets.Load() < count && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // polling a counter: there is no event to wait for
			}
			rcv.stopping.Store(true)
			_ = rc.SetReadDeadline(time.Now())
			<-rcv.done
			s, r := snd.udp.snapshot(), rcv.udp.snapshot()
			if s.Packets != count || snd.bytes.Load() != count*size {
				t.Errorf("sender: %d datagrams, %d bytes; want %d, %d", s.Packets, snd.bytes.Load(), count, count*size)
			}
			if r.Packets != count || rcv.bytes.Load() != count*size || r.Lost != 0 || r.OutOfOrder != 0 || r.Duplicates != 0 || r.Malformed != 0 {
				t.Errorf("receiver: %+v, %d bytes; want %d datagrams, %d bytes, none lost", r, rcv.bytes.Load(), count, count*size)
			}
			if got := rcv.udp.highest.Load(); got != count {
				t.Errorf("highest sequence number %d, want %d", got, count)
			}
		})
	}
}

// TestGROSegmentSize reads the datagram size out of control messages as
// the kernel lays them out, and ignores what is not a UDP_GRO message.
func TestGROSegmentSize(t *testing.T) {
	msg := func(level, typ int32, v uint32) []byte {
		b := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], v)
		return b
	}
	other := msg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, 7)
	gro := msg(unix.SOL_UDP, unix.UDP_GRO, 1400)
	for _, tc := range []struct {
		name string
		oob  []byte
		want int
	}{
		{"none", nil, 0},
		{"gro", gro, 1400},
		{"another message first", append(append([]byte{}, other...), gro...), 1400},
		{"another message only", other, 0},
		{"truncated", gro[:unix.CmsgLen(0)-1], 0},
		{"length beyond the buffer", gro[:unix.CmsgLen(0)+2], 0},
	} {
		if got := groSegmentSize(tc.oob); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzGROSegmentSize: no control-message buffer makes the parser panic
// or loop.
func FuzzGROSegmentSize(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, unix.CmsgSpace(4)))
	f.Fuzz(func(t *testing.T, oob []byte) {
		_ = groSegmentSize(oob)
	})
}
