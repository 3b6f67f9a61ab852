package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowscope/flowscope/wire"
)

// acceptUDP sets up a UDP test's streams as iperf3 does: a UDP socket on
// the server's port takes the first connect request, is connected to its
// sender and answers; a fresh socket on the same port then waits for the
// next stream. The port serves UDP only during this set-up and the test
// (no reflection: one 4-byte reply per expected stream).
func (t *serverTest) acceptUDP(ctx context.Context, p *wire.Params, n int, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	conn, listen := t.udpFirst, t.udpListen
	t.udpFirst = nil
	return t.acceptUDPOn(ctx, p, n, sendRate, ctlState, conn, listen)
}

// openUDP opens the first UDP socket of a UDP test; it must exist before
// CREATE_STREAMS goes out, or the client's first request meets a closed
// port.
func (t *serverTest) openUDP(ctx context.Context, p *wire.Params) error {
	la := t.ctl.LocalAddr().(*net.TCPAddr)
	network := "udp4"
	if la.IP.To4() == nil {
		network = "udp6"
	}
	addr := (&net.UDPAddr{IP: la.IP, Port: la.Port, Zone: la.Zone}).String()
	bufSize := int(p.Window)
	if bufSize == 0 {
		bufSize = udpSocketBuffer
	}
	listen := func() (*net.UDPConn, error) {
		opts := sockOpts{udp: true, tos: int(p.TOS), v6: network == "udp6", dontFrag: p.DontFragment}
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			if serr != nil {
				return serr
			}
			return opts.apply(rc)
		}}
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("UDP listen on %s: %w", addr, unwrapOpError(err))
		}
		c := pc.(*net.UDPConn)
		_ = c.SetReadBuffer(bufSize)
		_ = c.SetWriteBuffer(bufSize)
		return c, nil
	}
	c, err := listen()
	if err != nil {
		return err
	}
	t.udpFirst, t.udpListen = c, listen
	return nil
}

func (t *serverTest) acceptUDPOn(ctx context.Context, p *wire.Params, n int, sendRate uint64, ctlState <-chan stateResult, conn *net.UDPConn, listen func() (*net.UDPConn, error)) (flowSet, error) {
	flows := make(flowSet, n)
	cleanup := func(listener *net.UDPConn) {
		if listener != nil {
			_ = listener.Close()
		}
		for _, f := range flows {
			if f != nil {
				_ = f.conn.Close()
			}
		}
	}
	t.mu.Lock()
	roles := t.roles
	t.mu.Unlock()
	buf := make([]byte, 64)
	deadline := time.Now().Add(setupTimeout)
	for got := 0; got < n; {
		select {
		case sr := <-ctlState:
			cleanup(conn)
			return nil, setupStateErr(sr)
		case <-ctx.Done():
			cleanup(conn)
			_ = wire.WriteState(t.ctl, wire.ServerTerminate)
			return nil, errors.New("server shutting down")
		default:
		}
		if time.Now().After(deadline) {
			cleanup(conn)
			return nil, t.fail(wire.ErrFlowscopeParam, fmt.Errorf("only %d of %d UDP streams arrived", got, n))
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		m, peer, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if isTimeout(err) || transientUDPErr(err) {
				continue
			}
			cleanup(conn)
			return nil, fmt.Errorf("UDP set-up: %w", err)
		}
		if !isUDPConnectRequest(buf[:m]) {
			t.srv.cfg.Log(fmt.Sprintf("%s: ignored a %d-byte datagram that is not a UDP stream request", peer, m))
			continue
		}
		idx := got
		if roles {
			h, err := wire.DecodeStreamHeader(buf[4:min(m, 4+wire.StreamHeaderSize)])
			if err != nil {
				t.srv.cfg.Log(fmt.Sprintf("%s: UDP stream request without a valid header: %v", peer, err))
				continue
			}
			idx = int(h.Index)
			clientSends := streamDir(SideClient, idx, int(p.Parallel), p.Reverse, p.Bidirectional) == Send
			if idx >= n || flows[idx] != nil || clientSends != (h.Role == wire.ClientSends) {
				t.srv.cfg.Log(fmt.Sprintf("%s: UDP stream request for index %d refused", peer, idx))
				continue
			}
		}
		if err := connectUDP(conn, peer); err != nil {
			cleanup(conn)
			return nil, fmt.Errorf("UDP set-up: %w", err)
		}
		_ = conn.SetReadDeadline(time.Time{})
		dir := streamDir(SideServer, idx, int(p.Parallel), p.Reverse, p.Bidirectional)
		u := &udpFlow{size: int(p.Len), counter64: p.UDPCounters64, burst: int(p.Burst), noGSO: p.Flowscope != nil && p.Flowscope.NoGSO}
		if dir == Send {
			u.rate = sendRate
		}
		flows[idx] = newUDPFlow(idx, dir, conn, u)
		flows[idx].peer = net.UDPAddrFromAddrPort(peer)
		got++
		// The next stream's socket exists before this stream hears back,
		// so the client's next request never meets a closed port.
		var next *net.UDPConn
		if got < n {
			if next, err = listen(); err != nil {
				cleanup(nil)
				return nil, t.fail(wire.ErrFlowscopeParam, err)
			}
		}
		if _, err := conn.Write(udpConnectReply); err != nil {
			cleanup(next)
			return nil, fmt.Errorf("UDP connect reply: %w", err)
		}
		conn = next
	}
	return flows, nil
}

// connectUDP connects a bound UDP socket to peer, so it receives only that
// peer's datagrams and its writes go there.
func connectUDP(c *net.UDPConn, peer netip.AddrPort) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	a := peer.Addr().Unmap()
	if a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(peer.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(peer.Port()), Addr: a.As16()}
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("connect UDP socket to %s: %w", peer, serr)
	}
	return nil
}
