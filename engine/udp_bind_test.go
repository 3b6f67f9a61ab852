package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// sprayUDP sends stream requests (req) to the server's port from laddr
// every millisecond until the returned stop is called, and counts what
// comes back: a stranger's requests must never be answered, nor its
// address sent test data.
func sprayUDP(t *testing.T, laddr string, server *net.TCPAddr, req []byte) (stop func() (received int64)) {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp4", la, &net.UDPAddr{IP: server.IP, Port: server.Port})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_, _ = c.Write(req)
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				got.Add(int64(n))
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Other errors: ICMP port unreachable while no UDP test runs.
		}
	}()
	return func() int64 {
		close(done)
		c.Close()
		wg.Wait()
		return got.Load()
	}
}

// strangerRequest is a flowscope stream request for the first stream of
// a reverse test (the server sends), with a token of the stranger's own.
func strangerRequest() []byte {
	req := append([]byte(nil), udpConnectRequest...)
	req = append(req, wire.StreamHeader{Role: wire.ServerSends, Index: 0}.Encode()...)
	return append(req, bytes.Repeat([]byte{0x42}, wire.UDPTokenSize)...)
}

// TestUDPStreamNotAdoptedFromStranger: during a reverse UDP test, stream
// requests sprayed at the server's port from another address (127.0.0.77,
// spoofed or not) are not adopted: the test completes and the stranger
// receives nothing, so the server cannot be made to reflect test traffic
// at another host. The stock form of the request (4 bytes) is tried too.
func TestUDPStreamNotAdoptedFromStranger(t *testing.T) {
	for _, req := range [][]byte{strangerRequest(), udpConnectRequest} {
		t.Run(fmt.Sprintf("%d-byte request", len(req)), func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			stop := sprayUDP(t, "127.0.0.77:0", ts.addr, req)
			cfg := clientConfig(ts, 2, 500*time.Millisecond)
			cfg.Protocol, cfg.Reverse, cfg.Rate, cfg.BlockSize = ProtoUDP, true, 10_000_000, 1400
			_, end, err := runClient(t, cfg)
			received := stop()
			if err != nil {
				t.Fatalf("the test failed beside the stranger: %v", err)
			}
			if received != 0 {
				t.Errorf("the stranger at 127.0.0.77 received %d bytes; expected 0", received)
			}
			checkUDPStreamsMoved(t, end)
			<-ts.ends
		})
	}
}

// TestUDPStreamNeedsKeyedToken: with authentication, a stranger without
// the key spraying requests from the client's own address (127.0.0.1)
// during a keyed reverse UDP test takes no stream: requests need the
// test's token, which only the key and this test's nonce make.
func TestUDPStreamNeedsKeyedToken(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	ts := startServer(t, ServerConfig{AuthKey: key})
	stop := sprayUDP(t, "127.0.0.1:0", ts.addr, strangerRequest())
	cfg := clientConfig(ts, 2, 500*time.Millisecond)
	cfg.Protocol, cfg.Reverse, cfg.Rate, cfg.BlockSize = ProtoUDP, true, 10_000_000, 1400
	cfg.AuthKey = key
	_, end, err := runClient(t, cfg)
	received := stop()
	if err != nil {
		t.Fatalf("the keyed test failed beside the stranger: %v", err)
	}
	if received != 0 {
		t.Errorf("the stranger received %d bytes; expected 0", received)
	}
	checkUDPStreamsMoved(t, end)
	<-ts.ends
}

// TestConcurrentUDPTestsKeepTheirStreams: with --max-tests 4, four UDP
// tests set up at once each get their own streams: every stream of every
// test moves data and its receiver sees no datagram from another test
// (which would show as a huge loss, jitter or out-of-order count).
func TestConcurrentUDPTestsKeepTheirStreams(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxTests: 4})
	const tests = 4
	var wg sync.WaitGroup
	errs := make(chan error, tests)
	ends := make(chan *End, tests)
	for i := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := clientConfig(ts, 2, 700*time.Millisecond)
			cfg.Protocol, cfg.Rate, cfg.BlockSize = ProtoUDP, 5_000_000, 1400
			cfg.Reverse = i%2 == 1
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			end, err := NewClient(cfg, nil).Run(ctx)
			if err != nil {
				errs <- fmt.Errorf("test %d: %w", i, err)
				return
			}
			ends <- end
		}()
	}
	wg.Wait()
	close(errs)
	close(ends)
	for err := range errs {
		t.Error(err)
	}
	for end := range ends {
		checkUDPStreamsMoved(t, end)
		for _, s := range end.Streams {
			recv := s.UDP
			if s.Dir == Send {
				recv = s.PeerUDP
			}
			if recv == nil {
				continue
			}
			// A foreign stream's sequence numbers would show as a loss or
			// reordering of the other stream's size; its timestamps as
			// jitter of seconds.
			if recv.OutOfOrder > 0 || recv.Jitter > 1 {
				t.Errorf("stream %d (%v): receiver saw %d out of order, jitter %.3f s: datagrams of another test", s.ID, s.Dir, recv.OutOfOrder, recv.Jitter)
			}
		}
	}
	for range tests {
		<-ts.ends
	}
}

// checkUDPStreamsMoved fails t unless every stream of end moved datagrams
// both ends agree were sent.
func checkUDPStreamsMoved(t *testing.T, end *End) {
	t.Helper()
	for _, s := range end.Streams {
		if s.Bytes == 0 || !s.HasPeer || s.PeerBytes == 0 {
			t.Errorf("stream %d (%v): local %d bytes, peer %d; expected both non-zero", s.ID, s.Dir, s.Bytes, s.PeerBytes)
		}
	}
}

// FuzzParseUDPRequest: any datagram at the server's UDP port is parsed
// without a panic, and a token, when found, is exactly UDPTokenSize bytes
// of the datagram right after the request and stream header.
func FuzzParseUDPRequest(f *testing.F) {
	f.Add([]byte("9876"))
	f.Add(strangerRequest())
	f.Add([]byte{0x15, 0xcd, 0x5b, 0x07})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		token, ok := parseUDPRequest(msg)
		if !ok && token != nil {
			t.Fatalf("not a request, yet a token %x", token)
		}
		if token != nil && (len(token) != wire.UDPTokenSize || !bytes.Equal(token, msg[4+wire.StreamHeaderSize:4+wire.StreamHeaderSize+wire.UDPTokenSize])) {
			t.Fatalf("token %x from %x", token, msg)
		}
	})
}

// TestRequestTakenByANewStreamSocketReachesItsTest: a stream socket that
// is bound to the server's address but not yet connected takes every
// datagram sent there (the newest socket bound to an address does). A
// request of another test that lands on it in that moment must reach
// that test, not be dropped: its client sends it once and would wait for
// the set-up timeout (seen with four UDP tests at once on a busy machine).
func TestRequestTakenByANewStreamSocketReachesItsTest(t *testing.T) {
	srv := NewServer(ServerConfig{MaxTests: 2}, nil)
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().String()
	probe.Close()
	loop := netip.MustParseAddr("127.0.0.1")
	tokenA, tokenB := bytes.Repeat([]byte{0xa}, wire.UDPTokenSize), bytes.Repeat([]byte{0xb}, wire.UDPTokenSize)
	regA := &udpSetup{peer: loop, token: tokenA, reqs: make(chan udpRequest, 4)}
	regB := &udpSetup{peer: loop, token: tokenB, reqs: make(chan udpRequest, 4)}
	for _, reg := range []*udpSetup{regA, regB} {
		m, _, err := srv.registerUDP(addr, reg)
		if err != nil || m == nil {
			t.Fatalf("register: %v", err)
		}
		defer srv.unregisterUDP(m, reg)
	}
	m := srv.udpMuxes[addr]

	// Test A's new stream socket, bound, not yet connected to its client.
	sock, err := listenUDPShared(t.Context(), "udp4", addr, 1<<16, sockOpts{udp: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	clientA, err := net.DialUDP("udp4", nil, sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer clientA.Close()
	clientB, err := net.DialUDP("udp4", nil, sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer clientB.Close()
	reqB := append(append(append([]byte(nil), udpConnectRequest...), wire.StreamHeader{Role: wire.ClientSends, Index: 0}.Encode()...), tokenB...)
	if _, err := clientB.Write(reqB); err != nil {
		t.Fatal(err)
	}
	// Wait until the datagram is queued on the new socket (it is the
	// newest bound there), without taking it.
	rc, _ := sock.SyscallConn()
	deadline := time.Now().Add(5 * time.Second)
	for queued := 0; queued == 0; {
		if time.Now().After(deadline) {
			t.Fatal("test B's request never reached the new socket")
		}
		_ = rc.Control(func(fd uintptr) { queued = peek(fd, make([]byte, 64)) })
		select {
		case r := <-regB.reqs:
			t.Skipf("the mux's socket took the request (from %v): this kernel does not give it to the newest socket", r.from)
		default:
		}
	}
	if err := connectUDP(sock, clientA.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	m.handOnQueued(sock, clientA.LocalAddr().(*net.UDPAddr).AddrPort())
	select {
	case r := <-regB.reqs:
		if !bytes.Equal(r.msg, reqB) {
			t.Errorf("test B got %x, want its request %x", r.msg, reqB)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("test B's request was lost: it never reached test B")
	}
	select {
	case r := <-regA.reqs:
		t.Errorf("test A got a request that was not its own: %x", r.msg)
	default:
	}
}
