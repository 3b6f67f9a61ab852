package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/sysctl"
	"github.com/flowscope/flowscope/wire"
)

// Roles from what a stock peer does (esnet/iperf#2029).
//
// In --bidir a stock iperf3 server gives the first P data connections it
// accepts the receiving role and the next P the sending role; a stock
// client connects its P senders first, then its P receivers. Nothing on
// the wire says which is which, so when the handshakes complete out of
// order both ends pick the same role on a connection and nothing moves.
//
// The flowscope end does not guess. A stock sender writes as soon as
// TEST_RUNNING arrives, and a stock receiver never writes a byte on its
// data connections, so this end reads on all 2P connections first: the P
// on which the peer's data arrives are this end's receivers, the P silent
// ones its senders. Only then does it start sending. The wait is bounded;
// when it runs out, the connections not yet heard from take their roles
// from the accept (or dial) order, as iperf3 would, and should that order
// be wrong the peer's data soon arrives on one of this end's senders:
// checkRoles ends the test then, with the fix. Streams are numbered in
// the peer's order as peerOrder estimates it, so that per-stream results
// pair up with the peer's ids; checkPairing says when they did not.
// Session.takeRoles wires this into both sides (Client.run, serverTest.run).
//
// UDP needs none of this: a stock client sets its UDP streams up one at a
// time, each waiting for the server's reply before the next, so the
// server's order is the client's order.

// roleReadSize is how much one watching read takes. Those bytes are
// payload: the receiver they belong to counts them.
const roleReadSize = 16 << 10

// Bounds of the wait for a stock peer's first data (see roleWait).
const (
	roleWaitFloor = 2 * time.Second
	roleWaitCeil  = 10 * time.Second
)

// roleWait is how long observeRoles waits for a stock peer's data: the
// peer's first write follows TEST_RUNNING by about one round trip plus its
// scheduling delay, so a fixed floor (for loaded machines) plus a few
// round trips of the control connection, at most roleWaitCeil.
func roleWait(rtt time.Duration) time.Duration {
	return min(roleWaitFloor+8*rtt, roleWaitCeil)
}

// roleSplit is how the 2P data connections of a --bidir test towards a
// stock peer divide into this end's receivers and senders.
type roleSplit struct {
	// recv and send index the connections as given to observeRoles
	// (accept or dial order), each in that order.
	recv, send []int
	// preRead[i] is how many payload bytes were read from connection i
	// while watching; they are part of that receiver's count.
	preRead []int
	// heard is how many connections brought data within the wait;
	// swapped, how many took the other role than the order gave them.
	heard, swapped int
	// took is how long until the roles were known: until the P-th
	// connection brought data, or the whole wait when it ran out.
	took time.Duration
}

// guessed reports whether some roles come from the order, not from data.
func (r roleSplit) guessed() bool { return r.heard < len(r.recv) }

// peerFirst is the half of the connections the stock peer holds first in
// its own order: a stock server's first P are its receivers (this
// client's senders), a stock client's first P its senders (this server's
// receivers).
func (r roleSplit) peerFirst(side Side) []int {
	if side == SideServer {
		return r.recv
	}
	return r.send
}

// peerOrder estimates the stock peer's order of n connections (indexes in
// this end's order) from the half it holds first (first, ascending). The
// split says which half came first on the other end, not the order within
// each half, so it takes the simplest order that explains what was seen:
// this end's order, or its reverse, whichever needs fewer pairs of
// connections to have swapped places; within each half that order is
// kept. The stock peer numbers its streams in its order, so a stream
// placed at k here has the id the peer gave it whenever the estimate
// holds; the pairing check at the end (diagnose.Mispaired) says when it
// did not.
func peerOrder(first []int, n int) (order []int, reversed bool) {
	inFirst := make([]bool, n)
	for _, i := range first {
		inFirst[i] = true
	}
	// inversions: pairs (a in the second half, b in the first) with a
	// before b in this end's order; against the reverse, the others.
	inversions, seenSecond := 0, 0
	for i := range n {
		if inFirst[i] {
			inversions += seenSecond
		} else {
			seenSecond++
		}
	}
	pairs := len(first) * (n - len(first))
	reverse := pairs-inversions < inversions
	order = make([]int, 0, n)
	for _, wantFirst := range []bool{true, false} {
		for k := range n {
			i := k
			if reverse {
				i = n - 1 - k
			}
			if inFirst[i] == wantFirst {
				order = append(order, i)
			}
		}
	}
	return order, reverse
}

// ErrTooManySenders is returned by observeRoles when the peer sent data on
// more than half of the connections: it is not a --bidir iperf3 peer.
var ErrTooManySenders = errors.New("the peer sent data on more data connections than it has sending streams")

// observeRoles reads on every connection (2P of them, in accept or dial
// order) until P have brought data or wait has passed, and splits them:
// those that brought data are this end's receivers, the silent ones its
// senders. recvFirst says which half the order alone would make this
// end's receivers: the first P (a server facing a stock client) or the
// last P (a client facing a stock server). When fewer than P connections
// were heard from, the missing receivers are filled from the silent ones
// in that order's preference. It returns early when ctx is cancelled, and
// fails when a connection ends or breaks while it watches. Every read
// deadline is cleared on return.
func observeRoles(ctx context.Context, conns []net.Conn, recvFirst bool, wait time.Duration) (roleSplit, error) {
	n := len(conns)
	if n == 0 || n%2 != 0 {
		return roleSplit{}, fmt.Errorf("role detection needs an even number of data connections, got %d", n)
	}
	split, err := watchForData(ctx, conns, wait)
	if err != nil {
		return split, err
	}
	split.assign(recvFirst)
	return split, nil
}

// watchForData reads once on every connection until half of them have
// brought data, wait has passed, ctx is cancelled or a connection fails;
// it fills preRead, heard and took. Every read deadline is cleared on
// return.
func watchForData(ctx context.Context, conns []net.Conn, wait time.Duration) (roleSplit, error) {
	n, p := len(conns), len(conns)/2
	split := roleSplit{preRead: make([]int, n)}
	t0 := time.Now()
	if err := setReadDeadlines(conns, t0.Add(wait)); err != nil {
		_ = setReadDeadlines(conns, time.Time{})
		return split, err
	}
	type readResult struct {
		idx, n int
		err    error
	}
	results := make(chan readResult, n)
	for i, c := range conns {
		go func() {
			buf := make([]byte, roleReadSize)
			k, err := c.Read(buf)
			results <- readResult{i, k, err}
		}()
	}
	// cut ends every read still waiting; a read that already returned is
	// not affected.
	cut := false
	cutAll := func() {
		if !cut {
			cut = true
			_ = setReadDeadlines(conns, time.Now())
		}
	}
	var firstErr error
	done := ctx.Done()
	for got := 0; got < n; {
		select {
		case r := <-results:
			got++
			switch {
			case r.n > 0:
				split.preRead[r.idx] = r.n
				split.heard++
				if split.heard == p && !cut {
					split.took = time.Since(t0)
					cutAll()
				}
			case r.err != nil && isTimeout(r.err):
				// silent until the wait ran out or was cut short
			case firstErr == nil:
				err := r.err
				if err == nil {
					err = errors.New("empty read")
				}
				firstErr = fmt.Errorf("stream %d: the peer ended the data connection before the test: %w", StreamID(r.idx), unwrapOpError(err))
				cutAll()
			}
		case <-done:
			done = nil
			cutAll()
		}
	}
	// Cleared before the look below too: a poller read with a deadline
	// past returns before it looks.
	_ = setReadDeadlines(conns, time.Time{})
	if split.took == 0 {
		split.took = time.Since(t0)
	}
	switch {
	case ctx.Err() != nil:
		return split, fmt.Errorf("interrupted while waiting for the peer's data: %w", ctx.Err())
	case firstErr != nil:
		return split, firstErr
	}
	if split.heard == p {
		// The reads cut short once P spoke may have missed data that
		// was already there: a peer sending on those too is no --bidir
		// iperf3 peer.
		for i, c := range conns {
			if split.preRead[i] == 0 && readable(c) {
				split.heard++
			}
		}
	}
	if split.heard > p {
		return split, fmt.Errorf("%w: %d of %d in a --bidir test with %d per direction", ErrTooManySenders, split.heard, n, p)
	}
	return split, nil
}

// setReadDeadlines sets every connection's read deadline to t.
func setReadDeadlines(conns []net.Conn, t time.Time) error {
	var first error
	for i, c := range conns {
		if err := c.SetReadDeadline(t); err != nil && first == nil {
			first = fmt.Errorf("stream %d: %w", StreamID(i), err)
		}
	}
	return first
}

// assign gives every connection its role from preRead: those that
// brought data receive; when fewer than half did, the rest of the
// receivers are the silent ones the order makes receivers (recvFirst: the
// first half), then any others in order.
func (r *roleSplit) assign(recvFirst bool) {
	n := len(r.preRead)
	p := n / 2
	// orderRecv: the role the order alone would give connection i.
	orderRecv := func(i int) bool { return (i < p) == recvFirst }
	isRecv := make([]bool, n)
	need := p
	for i, k := range r.preRead {
		if k > 0 {
			isRecv[i] = true
			need--
		}
	}
	for _, wantOrderRecv := range []bool{true, false} {
		for i := 0; i < n && need > 0; i++ {
			if !isRecv[i] && orderRecv(i) == wantOrderRecv {
				isRecv[i] = true
				need--
			}
		}
	}
	for i := range n {
		if isRecv[i] {
			r.recv = append(r.recv, i)
		} else {
			r.send = append(r.send, i)
		}
		if isRecv[i] != orderRecv(i) {
			r.swapped++
		}
	}
}

// readable reports whether c has data waiting, without taking it.
func readable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	n := 0
	_ = rc.Read(func(fd uintptr) bool {
		n = peek(fd, b[:])
		return true // one look, never a wait
	})
	return n > 0
}

// stockBidir reports whether this is a TCP --bidir test facing a stock
// iperf3 peer: the one whose roles this end takes from the peer's data.
// UDP --bidir needs none of it (see the top of this file).
func (s *session) stockBidir() bool {
	return s.ext == nil && s.params.Bidir && !s.params.UDP()
}

// bidirPeer names the stock end for the role findings.
func (s *session) bidirPeer() diagnose.BidirPeer {
	if s.side == SideServer {
		return diagnose.StockClient
	}
	return diagnose.StockServer
}

// takeRoles, in a TCP --bidir test facing a stock peer, once TEST_RUNNING
// has gone out or come in and before any flow starts: it watches the data
// connections (s.flows, in dial or accept order) for the peer's data,
// gives each flow its role and its place in the stock peer's numbering
// (see peerOrder), counts what was read while watching, and sets the
// senders' rate (bit/s) and pacing (bytes/s). wait, when not 0, replaces
// roleWait (tests).
func (s *session) takeRoles(ctx context.Context, rate, pacing uint64, wait time.Duration) error {
	conns := make([]net.Conn, len(s.flows))
	for i, f := range s.flows {
		conns[i] = f.conn
	}
	if wait <= 0 {
		wait = roleWait(controlRTT(s.ctl))
	}
	recvFirst := s.side == SideServer
	split, err := observeRoles(ctx, conns, recvFirst, wait)
	if err != nil {
		return &Error{Cause: CauseRoles, Err: fmt.Errorf("--bidir roles from the stock iperf3 peer's data: %w", err)}
	}
	order, reversed := peerOrder(split.peerFirst(s.side), len(conns))
	flows := make(flowSet, len(order))
	for k, i := range order {
		f := s.flows[i]
		f.idx, f.id, f.dir, f.rate = k, StreamID(k), s.params.dir(s.side, k), 0
		f.bytes.Add(uint64(split.preRead[i]))
		if f.dir == Send {
			f.rate = rate
			if pacing > 0 {
				if err := (sockOpts{pacing: pacing}).apply(f.raw); err != nil {
					return fmt.Errorf("stream %d: %w", f.id, err)
				}
			}
		}
		flows[k] = f
	}
	s.flows = flows
	p := s.params.Parallel
	s.roles = &RoleDetection{Took: split.took, Heard: min(split.heard, p), Guessed: split.guessed(), Swapped: split.swapped, Reversed: reversed}
	s.findings.add(
		diagnose.RolesSwapped(s.bidirPeer(), split.swapped, len(conns), split.took),
		diagnose.RolesGuessed(s.bidirPeer(), split.heard, p, wait),
	)
	if s.side == SideServer {
		s.roleSlack = wire.CookieSize // the client's cookie, on every data connection
	}
	return nil
}

// controlRTT is the control connection's smoothed round-trip time, 0
// when unknown.
func controlRTT(ctl *net.TCPConn) time.Duration {
	rc, err := ctl.SyscallConn()
	if err != nil {
		return 0
	}
	ti, err := sysctl.ReadTCPInfo(rc)
	if err != nil {
		return 0
	}
	return time.Duration(ti.RTT) * time.Microsecond
}

// roleTick is how often a --bidir test facing a stock peer looks for the
// peer's data on this end's senders (checkRoles).
const roleTick = 100 * time.Millisecond

// roleTicker ticks every roleTick while the roles need watching; it is
// nil (and stop does nothing) in any other test.
func (s *session) roleTicker() (tick <-chan time.Time, stop func()) {
	if s.roles == nil {
		return nil, func() {}
	}
	tk := time.NewTicker(roleTick)
	return tk.C, tk.Stop
}

// checkRoles looks for data on this end's senders: a stock receiver never
// writes a byte, so data beyond roleSlack there means the peer sends on
// that connection too — its roles and ours differ (only when they were
// guessed, or the peer is not iperf3), on as many other connections both
// ends wait, and the test cannot recover. It then adds the finding and
// returns the error the test ends with; nil while all is well.
func (s *session) checkRoles() error {
	var ids []int
	for _, f := range s.flows {
		if f.dir != Send {
			continue
		}
		if ti, err := f.readTCPInfo(); err == nil && ti.BytesRecv > s.roleSlack {
			ids = append(ids, f.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	s.findings.add(diagnose.RoleMismatch(s.bidirPeer(), ids))
	who := "the stock iperf3 server assigned roles by its accept order"
	if s.side == SideServer {
		who = "the stock iperf3 client expects roles by its connect order"
	}
	return &Error{Cause: CauseRoles, Err: fmt.Errorf("--bidir deadlock: %s, and they differ from this end's on %s (esnet/iperf#2029); %s",
		who, diagnose.StreamList(ids), s.bidirPeer().Fix())}
}

// checkPairing, in a TCP test of several streams with a stock peer, once
// the peer's results are merged into end: a stream whose receiver counted
// more than its sender sent pairs two different connections (the stock
// peer numbered them in another order), which a finding says. A stock
// sender may write one block it has not counted yet (iperf3 3.21's sender
// threads), so a receiver here may exceed a stock sender by one block.
func (s *session) checkPairing(end *End) {
	p := &s.params
	if s.ext != nil || p.UDP() || p.NumStreams() < 2 || p.Omit > 0 {
		return
	}
	block := uint64(max(p.BlockSize, 0))
	var ids []int
	for _, r := range end.Streams {
		if !r.HasPeer {
			continue
		}
		sent, recv, slack := r.Bytes, r.PeerBytes, uint64(0)
		if r.Dir == Recv {
			sent, recv, slack = r.PeerBytes, r.Bytes, block
		}
		if recv > sent+slack {
			ids = append(ids, r.ID)
		}
	}
	s.findings.add(diagnose.Mispaired(ids, int(block)))
}
