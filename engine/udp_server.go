package engine

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// A UDP test's streams are set up as iperf3 does: the client sends a
// 4-byte request to the server's port from each stream's socket, the
// server connects a socket of its own on that port to the sender and
// answers from it. The port serves UDP only while a UDP test sets up its
// streams (no reflection: one 4-byte reply per expected stream).
//
// All requests to one server address arrive at one socket, the address's
// udpStreamMux, which hands each to the test it belongs to: a request is
// taken only from the address of a test's control connection, and from a
// flowscope client only with that test's token (wire.UDPStreamToken,
// keyed and bound to the nonce when the server requires authentication).
// A stock client's requests carry nothing of their test, so the set-ups of
// two stock UDP tests from one address take turns.

// udpRequest is a stream request as the mux received it.
type udpRequest struct {
	from netip.AddrPort
	msg  []byte
}

// udpSetup is one test's registration with a mux while it sets up its
// UDP streams.
type udpSetup struct {
	peer  netip.Addr // the control connection's address
	token []byte     // nil: a client that sends none (stock iperf3)
	reqs  chan udpRequest
}

// udpStreamMux receives the UDP stream requests arriving at one server
// address and hands each to its test.
type udpStreamMux struct {
	srv  *Server
	key  string
	conn *net.UDPConn

	mu      sync.Mutex
	setups  []*udpSetup
	changed chan struct{} // closed (and replaced) when a setup leaves
	ignored int           // requests no test took, since the last log line
	logged  time.Time
}

// joinUDP registers the test with its address's mux (opening it for the
// first), before CREATE_STREAMS goes out so the client's first request
// meets an open port. A stock client waits while another stock UDP test
// from its address sets up (at most setupTimeout).
func (t *serverTest) joinUDP(ctx context.Context, p *Params, token []byte) error {
	la := t.ctl.LocalAddr().(*net.TCPAddr)
	network := "udp4"
	if la.IP.To4() == nil {
		network = "udp6"
	}
	addr := (&net.UDPAddr{IP: la.IP, Port: la.Port, Zone: la.Zone}).String()
	bufSize := p.Window
	if bufSize == 0 {
		bufSize = udpSocketBuffer
	}
	opts := sockOpts{udp: true, tos: p.TOS, v6: network == "udp6", dontFrag: p.DontFragment}
	t.udpListen = func() (*net.UDPConn, error) { return listenUDPShared(ctx, network, addr, bufSize, opts) }
	reg := &udpSetup{peer: addrOf(t.ctl.RemoteAddr()), token: token, reqs: make(chan udpRequest, 64)}
	deadline := time.NewTimer(setupTimeout)
	defer deadline.Stop()
	for {
		mux, wait, err := t.srv.registerUDP(addr, reg)
		if err != nil {
			return err
		}
		if mux != nil {
			t.udpMux, t.udpReg = mux, reg
			return nil
		}
		select {
		case <-wait:
		case <-deadline.C:
			return fmt.Errorf("another UDP test from %s was still setting up its streams after %s", reg.peer, setupTimeout)
		case <-ctx.Done():
			return errShuttingDown
		}
	}
}

// leaveUDP ends the test's registration; the last one closes the mux.
func (t *serverTest) leaveUDP() {
	if t.udpMux == nil {
		return
	}
	t.srv.unregisterUDP(t.udpMux, t.udpReg)
	t.udpMux, t.udpReg = nil, nil
}

// listenUDPShared opens a UDP socket on addr that shares the address with
// the mux's and the test's other stream sockets (SO_REUSEADDR): once
// connected, it receives only its peer's datagrams.
func listenUDPShared(ctx context.Context, network, addr string, bufSize int, opts sockOpts) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = setReuseAddr(fd)
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

// registerUDP adds reg to the mux of addr, opening it if needed. When a
// tokenless setup from reg's address is already there (and reg has no
// token either), it returns no mux and a channel closed when a setup
// leaves.
func (s *Server) registerUDP(addr string, reg *udpSetup) (*udpStreamMux, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.udpMuxes[addr]
	if m == nil {
		conn, err := listenUDPShared(context.Background(), udpNetwork(addr), addr, 1<<20, sockOpts{udp: true})
		if err != nil {
			return nil, nil, err
		}
		m = &udpStreamMux{srv: s, key: addr, conn: conn, changed: make(chan struct{})}
		if s.udpMuxes == nil {
			s.udpMuxes = map[string]*udpStreamMux{}
		}
		s.udpMuxes[addr] = m
		go m.serve()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if reg.token == nil {
		for _, o := range m.setups {
			if o.token == nil && o.peer == reg.peer {
				return nil, m.changed, nil
			}
		}
	}
	m.setups = append(m.setups, reg)
	return m, nil, nil
}

// unregisterUDP removes reg from m, closing m when it was the last.
func (s *Server) unregisterUDP(m *udpStreamMux, reg *udpSetup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.mu.Lock()
	m.setups = slices.DeleteFunc(m.setups, func(o *udpSetup) bool { return o == reg })
	close(m.changed)
	m.changed = make(chan struct{})
	last := len(m.setups) == 0
	m.mu.Unlock()
	if last {
		delete(s.udpMuxes, m.key)
		_ = m.conn.Close() // ends serve
	}
}

func udpNetwork(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().Unmap().Is4() {
		return "udp6"
	}
	return "udp4"
}

// serve reads the requests at the mux's socket until it is closed.
func (m *udpStreamMux) serve() {
	buf := make([]byte, 2048)
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors and the like
		}
		m.dispatch(from, buf[:n])
	}
}

// dispatch hands one datagram to the test it belongs to, or counts it as
// ignored.
func (m *udpStreamMux) dispatch(from netip.AddrPort, msg []byte) {
	why := "not a UDP stream request"
	if token, ok := parseUDPRequest(msg); ok {
		why = "no test from this address is setting up UDP streams"
		addr := from.Addr().Unmap()
		m.mu.Lock()
		var to *udpSetup
		for _, s := range m.setups {
			if s.peer != addr {
				continue
			}
			why = "its token belongs to no test in set-up"
			if s.token == nil || (token != nil && hmac.Equal(s.token, token)) {
				to = s
				break
			}
		}
		m.mu.Unlock()
		if to != nil {
			select {
			case to.reqs <- udpRequest{from: from, msg: append([]byte(nil), msg...)}:
			default: // a flood of requests: the test has more than it needs
			}
			return
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ignored++
	if now := time.Now(); now.Sub(m.logged) >= time.Second {
		m.srv.cfg.Log(fmt.Sprintf("%s: ignored %d UDP datagram(s) at %s (latest: %s)", from, m.ignored, m.key, why))
		m.ignored, m.logged = 0, now
	}
}

// parseUDPRequest reports whether msg is a UDP stream request and
// returns its token (nil when it carries none: a stock client, or one
// without the udp-token extension). The token follows the stream header.
func parseUDPRequest(msg []byte) (token []byte, ok bool) {
	if !isUDPConnectRequest(msg) {
		return nil, false
	}
	if off := 4 + wire.StreamHeaderSize; len(msg) >= off+wire.UDPTokenSize {
		token = msg[off : off+wire.UDPTokenSize]
	}
	return token, true
}

// acceptUDP takes the test's stream requests from its mux until every
// stream is set up (at most setupTimeout), and makes them flows.
func (t *serverTest) acceptUDP(ctx context.Context, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	defer t.leaveUDP()
	p, n := &t.params, t.params.NumStreams()
	flows := make(flowSet, n)
	cleanup := func() {
		for _, f := range flows {
			if f != nil {
				_ = f.conn.Close()
			}
		}
	}
	t.mu.Lock()
	roles := t.roles
	t.mu.Unlock()
	timeout := time.NewTimer(setupTimeout)
	defer timeout.Stop()
	for got := 0; got < n; {
		var req udpRequest
		select {
		case sr := <-ctlState:
			cleanup()
			return nil, setupStateErr(sr)
		case <-ctx.Done():
			cleanup()
			_ = t.writeState(wire.ServerTerminate)
			return nil, stopCause(ctx)
		case <-timeout.C:
			cleanup()
			return nil, t.fail(wire.ErrFlowscopeParam, &Error{Cause: CauseStreamsMissing, Err: fmt.Errorf("only %d of %d UDP streams arrived", got, n)})
		case req = <-t.udpReg.reqs:
		}
		idx := got
		if roles {
			h, err := wire.DecodeStreamHeader(req.msg[4:min(len(req.msg), 4+wire.StreamHeaderSize)])
			if err != nil {
				t.srv.cfg.Log(fmt.Sprintf("%s: UDP stream request without a valid header: %v", req.from, err))
				continue
			}
			if idx, err = p.placeOf(h); err != nil || flows[idx] != nil {
				t.srv.cfg.Log(fmt.Sprintf("%s: UDP stream request for index %d refused", req.from, h.Index))
				continue
			}
		}
		conn, err := t.udpListen()
		if err != nil {
			cleanup()
			return nil, t.fail(wire.ErrFlowscopeParam, err)
		}
		if err := connectUDP(conn, req.from); err != nil {
			_ = conn.Close()
			cleanup()
			return nil, fmt.Errorf("UDP set-up: %w", err)
		}
		// Until it was connected the socket took every datagram at the
		// address (the newest socket bound there does): another test's
		// stream requests go back to the mux, which hands them on.
		t.udpMux.handOnQueued(conn, req.from)
		dir := p.dir(SideServer, idx)
		u := &udpFlow{size: p.BlockSize, counter64: p.Counters64, burst: p.Burst, noGSO: p.NoGSO}
		if dir == Send {
			u.rate = sendRate
		}
		flows[idx] = newUDPFlow(idx, dir, conn, u)
		flows[idx].peer = net.UDPAddrFromAddrPort(req.from)
		got++
		if _, err := conn.Write(udpConnectReply); err != nil {
			cleanup()
			return nil, fmt.Errorf("UDP connect reply: %w", err)
		}
	}
	return flows, nil
}

// handOnQueued empties the just-connected socket c of what it took while
// it was bound but not yet connected to peer: datagrams from others
// (another test's stream requests, a stranger's junk) are dispatched as
// if the mux had received them; peer's own (a repeated request: it sends
// no data before our reply) are dropped.
func (m *udpStreamMux) handOnQueued(c *net.UDPConn, peer netip.AddrPort) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	var others []udpRequest
	buf := make([]byte, 2048)
	_ = rc.Control(func(fd uintptr) {
		for {
			n, from, ok := takeQueued(fd, buf)
			if !ok {
				return
			}
			if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != peer {
				others = append(others, udpRequest{from: from, msg: append([]byte(nil), buf[:n]...)})
			}
		}
	})
	for _, r := range others {
		m.dispatch(r.from, r.msg)
	}
}

// connectUDP connects a bound UDP socket to peer, so it receives only that
// peer's datagrams and its writes go there.
func connectUDP(c *net.UDPConn, peer netip.AddrPort) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = connectFD(fd, peer) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("connect UDP socket to %s: %w", peer, serr)
	}
	return nil
}
