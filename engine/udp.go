package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// udpFlow is a UDP stream's settings and the counters its goroutine keeps.
type udpFlow struct {
	size      int    // datagram size
	rate      uint64 // target bit/s (sender); 0 = as fast as possible
	burst     int    // datagrams sent back to back (-b RATE/BURST); 0 or 1: paced one by one
	counter64 bool   // 64-bit sequence numbers
	noGSO     bool   // one datagram per system call (no UDP GSO/GRO)

	// sender
	sent     atomic.Uint64
	sendErrs atomic.Uint64
	behind   atomic.Uint64 // worst lag behind schedule, in datagrams

	// receiver
	packets   atomic.Uint64
	lost      atomic.Int64
	ooo       atomic.Uint64
	dup       atomic.Uint64
	malformed atomic.Uint64
	jitter    atomic.Uint64 // float64 bits, seconds
	highest   atomic.Uint64 // highest sequence number seen
}

// udpHeaderSize is the iperf3 datagram header: seconds, microseconds and a
// 32- or 64-bit sequence number.
func udpHeaderSize(counter64 bool) int {
	if counter64 {
		return 16
	}
	return 12
}

// MinUDPSize is the smallest datagram that carries iperf3's header with a
// 64-bit counter.
const MinUDPSize = 16

// MaxUDPSize is the largest UDP payload over IPv4.
const MaxUDPSize = 65507

// DefaultUDPRate is iperf3's default UDP rate per stream (1 Mbit/s).
const DefaultUDPRate = 1 << 20

// monoBase anchors datagram timestamps: only differences matter (jitter),
// and a monotonic clock keeps them meaningful across wall-clock steps.
var monoBase = time.Now()

func monoNow() time.Duration { return time.Since(monoBase) + time.Hour }

// putUDPHeader writes the timestamp and sequence number into b.
func putUDPHeader(b []byte, now time.Duration, seq uint64, counter64 bool) {
	binary.BigEndian.PutUint32(b[0:], uint32(now/time.Second))
	binary.BigEndian.PutUint32(b[4:], uint32((now%time.Second)/time.Microsecond))
	if counter64 {
		binary.BigEndian.PutUint64(b[8:], seq)
	} else {
		binary.BigEndian.PutUint32(b[8:], uint32(seq))
	}
}

// ParseUDPHeader decodes a datagram header: the sender's timestamp and the
// sequence number. It fails on datagrams too short for the header.
func ParseUDPHeader(b []byte, counter64 bool) (ts time.Duration, seq uint64, err error) {
	if len(b) < udpHeaderSize(counter64) {
		return 0, 0, fmt.Errorf("datagram of %d bytes is shorter than the %d-byte header", len(b), udpHeaderSize(counter64))
	}
	sec := binary.BigEndian.Uint32(b[0:])
	usec := binary.BigEndian.Uint32(b[4:])
	ts = time.Duration(sec)*time.Second + time.Duration(usec%1_000_000)*time.Microsecond
	if counter64 {
		seq = binary.BigEndian.Uint64(b[8:])
	} else {
		seq = uint64(binary.BigEndian.Uint32(b[8:]))
	}
	return ts, seq, nil
}

// udpSend paces datagrams at the target rate. It computes how many
// datagrams are due since the start and sends them in a burst, then sleeps
// until the next is due: accurate on average at any rate, and idle (not
// spinning) between bursts at low rates. Where the kernel allows (UDP GSO),
// datagrams due together go out in one write of up to udpMaxSegments.
func (f *flow) udpSend(payload []byte, limit *byteLimit) error {
	u := f.udp
	conn, _ := f.conn.(*net.UDPConn)
	batch := udpGSOBatch(u.size)
	if batch > 1 && (u.noGSO || conn == nil || !setUDPSegment(conn, u.size)) {
		batch = 1
	}
	buf := make([]byte, u.size*batch) // the header differs per datagram
	for i := range batch {
		copy(buf[i*u.size:(i+1)*u.size], payload)
	}
	bits := float64(u.size * 8)
	start := time.Now()
	var seq, sent uint64
	// A sender that falls far behind (no CPU for a while) does not try to
	// catch up in one burst, which would overrun the receiver and look like
	// network loss: debt beyond maxDebt is forgiven and the lag recorded.
	// The allowance is 100 ms of datagrams, at most 128 (what a default
	// receive buffer holds), but never less than 2 ms worth (the sleep
	// granularity at high rates).
	maxDebt := uint64(8)
	if u.rate > 0 {
		perSec := float64(u.rate) / bits
		maxDebt = max(maxDebt, min(uint64(perSec*0.1), 128), uint64(perSec*0.002), uint64(u.burst))
	}
	var forgiven uint64
	// slots is how many datagrams fall due before the end (sendUntil): one
	// due at the end itself would race TEST_END to a receiver that stops
	// counting when that arrives.
	slots := uint64(math.MaxUint64)
	sendFor := f.sendUntil.Sub(start) - udpEndMargin
	if !f.sendUntil.IsZero() && u.rate > 0 {
		slots = uint64(math.Ceil(max(sendFor.Seconds(), 0) * float64(u.rate) / bits))
	}
	for !f.stopping.Load() {
		var due uint64
		if u.rate == 0 {
			due = sent + 64
			if !f.sendUntil.IsZero() && time.Since(start) >= sendFor {
				slots = sent
			}
		} else {
			if total := uint64(time.Since(start).Seconds()*float64(u.rate)/bits) + 1; total > forgiven {
				due = total - forgiven
			}
			if b := uint64(u.burst); b > 1 {
				due = (due + b - 1) / b * b // whole bursts, back to back
			}
		}
		if sent+forgiven >= slots {
			<-f.stopped() // done: the test ends at sendUntil
			return nil
		}
		due = min(due, slots-forgiven)
		if sent >= due {
			// The next datagram may be minutes away at a low rate (-b 100):
			// the sleep ends early when the flow is stopped.
			next := start.Add(time.Duration(float64(sent+forgiven) * bits / float64(u.rate) * float64(time.Second)))
			if !f.sleepUntil(next) {
				return nil
			}
			continue
		}
		if lag := due - sent - 1; lag > u.behind.Load() { // the one due now is on time
			u.behind.Store(lag)
		}
		if u.rate > 0 && due-sent > maxDebt {
			forgiven += due - sent - maxDebt
			due = sent + maxDebt
		}
		for burst := min(due-sent, 256); burst > 0; {
			k := min(burst, uint64(batch))
			if limit != nil { // no more than the byte limit still allows
				if left := limit.left(); left < k*uint64(u.size) {
					k = max(1, (left+uint64(u.size)-1)/uint64(u.size))
				}
			}
			now := monoNow()
			for i := range k {
				putUDPHeader(buf[i*uint64(u.size):], now, seq+1+i, u.counter64)
			}
			n, err := f.conn.Write(buf[:k*uint64(u.size)])
			if err != nil && batch > 1 && gsoRefused(err) {
				// This path cannot segment (no checksum offload, or a
				// datagram larger than its MTU, which GSO will not
				// fragment): one datagram per write from now on,
				// starting again with the same datagrams.
				setUDPSegment(conn, 0)
				batch = 1
				continue
			}
			seq += k
			sent += k
			burst -= k
			if err != nil {
				if f.stopping.Load() {
					return nil
				}
				u.sendErrs.Add(k)
				if !transientUDPErr(err) {
					return streamErr(f.id, "write", err)
				}
				continue
			}
			u.sent.Add(k)
			f.bytes.Add(uint64(n))
			if limit != nil && limit.add(n) {
				return nil
			}
		}
	}
	return nil
}

// transientUDPErr: errors a UDP sender counts and carries on after (a
// full socket buffer, an ICMP unreachable from a peer not yet listening).
func transientUDPErr(err error) bool {
	return errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// seqWindow remembers which of the last 4096 sequence numbers arrived, to
// tell a duplicate from a late datagram.
type seqWindow struct{ bits [64]uint64 }

func (w *seqWindow) set(seq uint64)      { w.bits[(seq/64)%64] |= 1 << (seq % 64) }
func (w *seqWindow) has(seq uint64) bool { return w.bits[(seq/64)%64]&(1<<(seq%64)) != 0 }
func (w *seqWindow) clear(seq uint64)    { w.bits[(seq/64)%64] &^= 1 << (seq % 64) }

const seqWindowSize = 64 * 64

// udpReceiver is the per-datagram accounting of one stream, owned by its
// goroutine; it publishes through the flow's atomics.
type udpReceiver struct {
	u           *udpFlow
	highest     uint64
	seen        seqWindow
	prevTransit float64
	jitter      float64
	count       uint64
	lost        int64
}

// add accounts one datagram with sequence seq, sent at ts and arrived at
// arrival (both on their own clocks: only differences matter).
func (r *udpReceiver) add(ts, arrival time.Duration, seq uint64) {
	u := r.u
	r.count++
	u.packets.Add(1)
	transit := (arrival - ts).Seconds()
	if r.count > 1 {
		r.jitter += (math.Abs(transit-r.prevTransit) - r.jitter) / 16
		u.jitter.Store(math.Float64bits(r.jitter))
	}
	r.prevTransit = transit
	switch {
	case seq > r.highest:
		if seq-r.highest > 1 {
			r.lost += int64(seq - r.highest - 1)
		}
		if seq-r.highest >= seqWindowSize {
			r.seen = seqWindow{}
		} else {
			for s := r.highest + 1; s < seq; s++ {
				r.seen.clear(s)
			}
		}
		r.seen.set(seq)
		r.highest = seq
		u.highest.Store(seq)
	case r.highest-seq < seqWindowSize && r.seen.has(seq):
		u.dup.Add(1)
		return
	default:
		// A late datagram fills a gap counted as lost.
		u.ooo.Add(1)
		if r.lost > 0 {
			r.lost--
		}
		if r.highest-seq < seqWindowSize {
			r.seen.set(seq)
		}
	}
	u.lost.Store(r.lost)
}

// udpRecv reads datagrams and accounts each. Where the kernel allows
// (UDP_GRO), one read may return a train of datagrams of one size (the
// last may be shorter), which is taken apart here.
func (f *flow) udpRecv(buf []byte, limit *byteLimit) error {
	r := &udpReceiver{u: f.udp}
	conn, _ := f.conn.(*net.UDPConn)
	var oob []byte
	if conn != nil && !f.udp.noGSO && enableUDPGRO(conn) {
		oob = make([]byte, udpGROOOB)
		if len(buf) < udpGROBuffer {
			buf = make([]byte, udpGROBuffer)
		}
	}
	for {
		var n, seg int
		var err error
		if oob != nil {
			var oobn int
			n, oobn, _, _, err = conn.ReadMsgUDPAddrPort(buf, oob)
			seg = groSegmentSize(oob[:oobn])
		} else {
			n, err = f.conn.Read(buf)
		}
		if err != nil {
			if f.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if transientUDPErr(err) {
				continue
			}
			return streamErr(f.id, "read", err)
		}
		arrival := monoNow()
		if seg <= 0 || seg > n {
			seg = n
		}
		for off := 0; off < n; off += seg {
			d := buf[off:min(off+seg, n)]
			ts, seq, err := ParseUDPHeader(d, f.udp.counter64)
			if err != nil {
				f.udp.malformed.Add(1)
				continue
			}
			f.bytes.Add(uint64(len(d)))
			r.add(ts, arrival, seq)
			if limit != nil {
				limit.add(len(d)) // -n/-k in reverse: what arrived counts, as in iperf3
			}
		}
	}
}

// snapshot returns the flow's UDP counters so far.
func (u *udpFlow) snapshot() UDPStats {
	return UDPStats{
		Packets:    u.sent.Load() + u.packets.Load(), // one of them is zero
		Lost:       u.lost.Load(),
		OutOfOrder: u.ooo.Load(),
		Duplicates: u.dup.Load(),
		Jitter:     math.Float64frombits(u.jitter.Load()),
		SendErrors: u.sendErrs.Load(),
		Malformed:  u.malformed.Load(),
		Behind:     u.behind.Load(),
	}
}

// newUDPFlow wraps a connected UDP socket as a flow.
func newUDPFlow(idx int, dir Dir, conn *net.UDPConn, u *udpFlow) *flow {
	return &flow{idx: idx, id: StreamID(idx), dir: dir, io: udpStream{}, conn: conn, udp: u, done: make(chan struct{})}
}

// UDP stream set-up messages (iperf3 ≥ 3.12 and the legacy forms).
var (
	udpConnectRequest = []byte("9876")
	udpConnectReply   = []byte("6789")
	legacyRequests    = [][]byte{{0x15, 0xcd, 0x5b, 0x07}, {0x07, 0x5b, 0xcd, 0x15}, []byte("6789")}
	legacyReplies     = [][]byte{{0xb1, 0x68, 0xde, 0x3a}, {0x3a, 0xde, 0x68, 0xb1}, []byte("9876")}
)

// isUDPConnectRequest reports whether b starts a UDP stream (any iperf3
// form, optionally followed by flowscope's stream header).
func isUDPConnectRequest(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	if string(b[:4]) == string(udpConnectRequest) {
		return true
	}
	for _, l := range legacyRequests {
		if string(b[:4]) == string(l) {
			return true
		}
	}
	return false
}

func isUDPConnectReply(b []byte) bool {
	if len(b) != 4 {
		return false
	}
	if string(b) == string(udpConnectReply) {
		return true
	}
	for _, l := range legacyReplies {
		if string(b) == string(l) {
			return true
		}
	}
	return false
}

// udpSocketBuffer is what UDP sockets ask for when -w is not given: the
// defaults (about 208 KiB) drop datagrams at gigabit rates. The kernel caps
// it at net.core.rmem_max/wmem_max.
const udpSocketBuffer = 4 << 20

// dialUDPStreams sets up the UDP streams one at a time, as iperf3 does:
// each connected socket sends the 4-byte connect request (with flowscope's
// stream header when agreed) and waits for the server's reply.
func (c *Client) dialUDPStreams(ctx context.Context, server net.Addr, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error) {
	cfg := c.cfg
	n := cfg.NumStreams()
	ta := server.(*net.TCPAddr)
	raddr := &net.UDPAddr{IP: ta.IP, Port: ta.Port, Zone: ta.Zone}
	var laddr *net.UDPAddr
	if cfg.BindAddr != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(cfg.BindAddr)}
	}
	network := "udp4"
	if ta.IP.To4() == nil {
		network = "udp6"
	}
	roles := ext.Has(wire.ExtRoles)
	flows := make(flowSet, 0, n)
	times := make([]time.Duration, 0, n)
	fail := func(idx int, err error) (flowSet, []time.Duration, error) {
		var fails setupFailures
		fails.add(fmt.Errorf("stream %d: %w", StreamID(idx), unwrapOpError(err)))
		c.findings.add(diagnose.UDPSetupFailed(fails.byCause, n))
		return flows, nil, fails.err(n)
	}
	for idx := range n {
		if ctx.Err() != nil {
			return flows, nil, &Error{Cause: CauseInterrupted, Err: fmt.Errorf("interrupted during setup: %w", ctx.Err())}
		}
		dir := cfg.dir(SideClient, idx)
		t := time.Now()
		opts := c.dataSockOpts(server, true)
		opts.window = 0 // set below, with a larger default for UDP
		d := net.Dialer{Control: opts.control}
		if laddr != nil || cfg.CPort > 0 {
			la := &net.UDPAddr{}
			if laddr != nil {
				la.IP = laddr.IP
			}
			if cfg.CPort > 0 {
				la.Port = cfg.CPort + idx
			}
			d.LocalAddr = la
		}
		nc, err := d.DialContext(ctx, network, raddr.String())
		if err != nil {
			return fail(idx, err)
		}
		conn := nc.(*net.UDPConn)
		buf := cfg.Window
		if buf == 0 {
			buf = udpSocketBuffer
		}
		_ = conn.SetReadBuffer(buf)
		_ = conn.SetWriteBuffer(buf)
		req := append([]byte(nil), udpConnectRequest...)
		if roles {
			req = append(req, cfg.roleHeader(idx)...)
			if ext.Has(wire.ExtUDPToken) {
				// Keyed only when the server challenged us: then it
				// requires the key, and the token is bound to its nonce.
				var key []byte
				if c.authNonce != nil {
					key = cfg.AuthKey
				}
				req = append(req, wire.UDPStreamToken(key, c.s.cookie, c.authNonce)...)
			}
		}
		// The reply; in -R up to two data datagrams may come first. A
		// refused request (ICMP port unreachable: the server's socket for
		// this stream is not bound yet) was never received, so it is sent
		// again.
		reply := make([]byte, MaxUDPSize)
		ok := false
		deadline := time.Now().Add(setupTimeout)
		sendReq := true
		for reads := 0; !ok && reads < 3; {
			if sendReq {
				if _, err := conn.Write(req); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
					conn.Close()
					return fail(idx, err)
				}
				sendReq = false
			}
			_ = conn.SetReadDeadline(deadline)
			m, err := conn.Read(reply)
			switch {
			case errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline):
				sendReq = true
				time.Sleep(10 * time.Millisecond)
				continue
			case err != nil:
				conn.Close()
				return fail(idx, fmt.Errorf("waiting for the UDP connect reply: %w", err))
			}
			reads++
			ok = isUDPConnectReply(reply[:m])
		}
		if !ok {
			conn.Close()
			return fail(idx, errors.New("no UDP connect reply among the first datagrams"))
		}
		_ = conn.SetReadDeadline(time.Time{})
		u := &udpFlow{size: cfg.BlockSize, rate: cfg.Rate, counter64: cfg.Counters64, burst: cfg.Burst, noGSO: cfg.NoGSO}
		flows = append(flows, newUDPFlow(idx, dir, conn, u))
		times = append(times, time.Since(t))
		emit(&Progress{Side: SideClient, Connected: len(flows), Total: n})
	}
	return flows, times, nil
}

// udpEndMargin: a UDP sender sends no datagram due this close to the
// test's end (the sleep granularity), where it would race TEST_END.
const udpEndMargin = 2 * time.Millisecond

// sendUntil gives the senders a timed test's end (its start, -O and -t).
// They send nothing after it whenever the code that stops them gets to
// run: a UDP sender sends only the datagrams due before it (none at the
// end, when the receiver stops counting), a TCP sender begins no block at
// or after it. Then they wait for the stop.
func (fs flowSet) sendUntil(end time.Time) {
	for _, f := range fs {
		if f.dir == Send {
			f.sendUntil = end
		}
	}
}
