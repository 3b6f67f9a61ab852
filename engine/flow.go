package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowscope/flowscope/sysctl"
)

// flow is one data connection and the goroutine that moves its bytes. The
// hot path touches only conn and the atomic counter.
type flow struct {
	idx int
	id  int
	dir Dir
	// preamble is how many bytes this side wrote before the payload
	// (cookie, stream header); TCP_INFO bytes_acked counts them.
	preamble uint64

	io   streamIO // the transport's flow loop and counters
	conn net.Conn
	tcp  *net.TCPConn    // nil for UDP
	raw  syscall.RawConn // the TCP socket, for TCP_INFO; nil for UDP
	udp  *udpFlow        // UDP state; nil for TCP
	zc   *os.File        // -Z: the payload, sent with sendfile(2); nil otherwise
	peer net.Addr        // the remote address, where conn does not know it
	// own: the TCP socket, moved out of Go's poller for blocking I/O on a
	// thread of its own (few flows); conn is closed then. nil otherwise.
	own   *ownedSocket
	local net.Addr // the local address, once conn is closed
	// rawIO: an owned socket's reads and writes are raw system calls
	// (see sockCall). procLent: GOMAXPROCS was raised for this flow (see
	// reserveProcs); closeAll gives it back.
	rawIO, procLent bool
	// skipCopy: a TCP receiver reads with MSG_TRUNC (--skip-rx-copy).
	skipCopy bool
	// pinCPU: the flow runs on a thread of its own pinned to CPU
	// pinCPU-1 (the client's -A n,m on a server); 0: not pinned.
	pinCPU int

	bytes atomic.Uint64 // bytes written (Send) or read (Recv)
	// stopping is set by stop; a flow that sleeps (a paced sender) waits
	// on stopped() as well, so it notices at once whatever its rate.
	stopping  atomic.Bool
	stopInit  sync.Once
	stopOnce  sync.Once
	stoppedCh chan struct{}
	// forceStop: stop even in the middle of a block (a blocking sender
	// otherwise finishes the block it is writing).
	forceStop atomic.Bool
	// rate, for a TCP sender with -b: bit/s the program writes at (the
	// kernel paces the wire too, SO_MAX_PACING_RATE). 0: as fast as it can.
	rate  uint64
	start time.Time // when the sender began, for its rate schedule
	// sendUntil, when set, is a timed test's end: a sender sends nothing
	// after it, even when the goroutine that stops the test runs late (a
	// machine short of CPU), so the test's bytes are the bytes of its time.
	sendUntil time.Time
	done      chan struct{}
	started   bool  // run was launched; done will close
	err       error // set before done is closed
	eof       bool  // receiver saw the peer's orderly end

	// infoFn, made in newFlow, reads TCP_INFO into info and infoErr, under
	// infoMu: a func made for every read would escape, and the sampler
	// reads every sender every interval.
	infoMu  sync.Mutex
	infoFn  func(fd uintptr)
	info    sysctl.TCPInfo
	infoErr error

	// sampler-owned state, touched only by the sampler under its lock
	s flowStats
}

// flowStats is the sampler's bookkeeping for one flow.
type flowStats struct {
	snap                 uint64 // counter read for the sample being taken
	last, base           uint64 // counter at the previous sample / measured start
	lastAcked, baseAcked uint64
	lastRetr, baseRetr   uint64
	lastReord, baseReord uint64        // the sender's reordering events (tcpi_reord_seen)
	lastMove             time.Duration // when bytes last moved
	maxCwnd, maxSndWnd   uint64
	minRTT, maxRTT       uint32
	rttSum, rttN         uint64
	hasTCP               bool
	baseRwnd, baseBusy   uint64 // TCP_INFO chronos at the measured start (µs)
	ti                   sysctl.TCPInfo
	tiValid              bool     // ti was read in this sample
	tiSkipped            bool     // this sample reads no TCP_INFO: the test ended while it was taken
	udpSnap              UDPStats // datagram counters read for the sample being taken
	udpLast, udpBase     UDPStats
}

func newFlow(idx int, dir Dir, conn *net.TCPConn, preamble int) (*flow, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("stream %d: %w", StreamID(idx), err)
	}
	f := &flow{
		idx:      idx,
		id:       StreamID(idx),
		dir:      dir,
		io:       tcpStream{},
		preamble: uint64(preamble),
		conn:     conn,
		tcp:      conn,
		raw:      raw,
		done:     make(chan struct{}),
	}
	f.infoFn = func(fd uintptr) { f.info, f.infoErr = sysctl.ReadTCPInfoFD(fd) }
	return f, nil
}

// stop tells the flow's goroutine to end; it is safe to call more than
// once and from any goroutine.
func (f *flow) stop() {
	f.stopping.Store(true)
	f.stopOnce.Do(func() { close(f.stopped()) })
}

// stopped returns a channel closed by stop.
func (f *flow) stopped() chan struct{} {
	f.stopInit.Do(func() { f.stoppedCh = make(chan struct{}) })
	return f.stoppedCh
}

// sleepUntil waits until t or until the flow is stopped; it reports
// whether the flow may go on (false: stopped).
func (f *flow) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return !f.stopping.Load()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return !f.stopping.Load()
	case <-f.stopped():
		return false
	}
}

// remoteAddr is the peer's address (a server's UDP sockets are connected
// by hand, so the conn itself does not know it).
func (f *flow) remoteAddr() net.Addr {
	if f.peer != nil {
		return f.peer
	}
	return f.conn.RemoteAddr()
}

// localAddr is the socket's local address.
func (f *flow) localAddr() net.Addr {
	if f.local != nil {
		return f.local
	}
	return f.conn.LocalAddr()
}

// readTCPInfo reads the flow's TCP_INFO; UDP flows have none. It
// allocates nothing (but an error).
func (f *flow) readTCPInfo() (sysctl.TCPInfo, error) {
	if f.raw == nil {
		return sysctl.TCPInfo{}, sysctl.ErrUnsupported
	}
	f.infoMu.Lock()
	defer f.infoMu.Unlock()
	if err := f.raw.Control(f.infoFn); err != nil {
		return sysctl.TCPInfo{}, fmt.Errorf("tcp_info: %w", err)
	}
	return f.info, f.infoErr
}

// byteLimit ends a test once a total byte count has moved (-n).
type byteLimit struct {
	limit uint64
	// sendersOnly: only what this side sends counts (a server's -n/-k:
	// the client counts what it receives).
	sendersOnly bool
	total       atomic.Uint64
	claimed     atomic.Uint64 // bytes the senders' blocks have claimed (claim)
	once        sync.Once
	hit         chan struct{}
}

func newByteLimit(n int64) *byteLimit {
	if n <= 0 {
		return nil
	}
	return &byteLimit{limit: uint64(n), hit: make(chan struct{})}
}

// serverByteLimit is the limit a server's senders stop at in a -n or -k
// test, as iperf3's do: TCP senders only (a UDP receiver counts what
// arrives, so a UDP sender goes on until TEST_END, as iperf3's server
// does, or losses would leave the client waiting for ever); nil when the
// test is not counted.
func serverByteLimit(p *Params) *byteLimit {
	if p.UDP() {
		return nil
	}
	n := p.Bytes
	if n == 0 && p.Blocks > 0 {
		n = p.Blocks * int64(p.BlockSize)
	}
	l := newByteLimit(n)
	if l != nil {
		l.sendersOnly = true
	}
	return l
}

// add counts n bytes and reports whether the limit is reached.
func (l *byteLimit) add(n int) bool {
	if l.total.Add(uint64(n)) >= l.limit {
		l.once.Do(func() { close(l.hit) })
		return true
	}
	return false
}

// claim reserves n bytes for a sender's next block and reports whether
// the block may go: not when the blocks already claimed cover the limit.
// Then the senders of a -P test together stop within one block of -n, as
// iperf3's do, instead of each finishing the block it had begun (up to
// P-1 blocks over). A nil limit claims everything.
func (l *byteLimit) claim(n int) bool {
	if l == nil {
		return true
	}
	return l.claimed.Add(uint64(n))-uint64(n) < l.limit
}

// left is how many bytes the limit still allows.
func (l *byteLimit) left() uint64 {
	return l.limit - min(l.total.Load(), l.limit)
}

// isReached reports whether the limit was hit (false for nil: no limit).
func (l *byteLimit) isReached() bool {
	select {
	case <-l.reached():
		return true
	default:
		return false
	}
}

// reached returns a channel closed when the limit is hit (nil: never).
func (l *byteLimit) reached() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.hit
}

// run moves bytes until stopped or the connection fails. buf is the
// payload (senders may share one read-only buffer) or the read buffer.
func (f *flow) run(buf []byte, limit *byteLimit) {
	defer close(f.done)
	defer func() {
		if r := recover(); r != nil {
			f.err = fmt.Errorf("stream %d: internal error: %v\n%s", f.id, r, debug.Stack())
		}
	}()
	if f.pinCPU > 0 {
		defer pinThread(f.pinCPU - 1)()
	}
	f.err = f.io.run(f, buf, limit)
}

func (f *flow) send(buf []byte, limit *byteLimit) error {
	for !f.stopping.Load() {
		if !f.pace() || !limit.claim(len(buf)) {
			return nil
		}
		n, err := f.conn.Write(buf)
		f.bytes.Add(uint64(n))
		if err != nil {
			if f.stopping.Load() {
				return nil
			}
			return streamErr(f.id, "write", err)
		}
		if limit != nil && limit.add(n) {
			return nil // -n reached: this sender is done
		}
	}
	return nil
}

// pace holds a rate-limited TCP sender to its schedule: the next block
// goes out when the bytes written so far are due. Without it the writes
// run ahead into the socket buffers (the kernel's pacing only shapes the
// wire), the counters overstate the rate, and the end of a test would
// wait for megabytes to drain. At a timed test's end (sendUntil) it waits
// for the stop. It returns false when the flow is stopping.
func (f *flow) pace() bool {
	if !f.sendUntil.IsZero() && !time.Now().Before(f.sendUntil) {
		<-f.stopped() // the test's time is up: nothing more to send
		return false
	}
	if f.rate == 0 {
		return true
	}
	if f.start.IsZero() {
		f.start = time.Now()
	}
	due := f.start.Add(time.Duration(float64(f.bytes.Load()) * 8 / float64(f.rate) * float64(time.Second)))
	return f.sleepUntil(due)
}

// sendFile is send with sendfile(2) from the payload file (-Z): the
// kernel moves the bytes, the process does not copy them. The file holds
// whole blocks of blockLen; with a byte limit it goes a block at a time,
// each claimed (see claim).
func (f *flow) sendFile(blockLen int, limit *byteLimit) error {
	defer f.zc.Close()
	var src io.Reader = f.zc
	var size int64
	if limit != nil {
		st, err := f.zc.Stat()
		if err != nil {
			return streamErr(f.id, "payload file", err)
		}
		size = st.Size()
	}
	var off int64
	for !f.stopping.Load() {
		if !f.pace() {
			return nil
		}
		if limit != nil {
			if !limit.claim(blockLen) {
				return nil
			}
			if off+int64(blockLen) > size {
				off = 0
			}
			if _, err := f.zc.Seek(off, io.SeekStart); err != nil {
				return streamErr(f.id, "rewind payload", err)
			}
			// A LimitedReader of the file itself: Go still uses sendfile(2).
			src = &io.LimitedReader{R: f.zc, N: int64(blockLen)}
			off += int64(blockLen)
		} else if _, err := f.zc.Seek(0, io.SeekStart); err != nil {
			return streamErr(f.id, "rewind payload", err)
		}
		n, err := f.tcp.ReadFrom(src)
		f.bytes.Add(uint64(n))
		if err != nil {
			if f.stopping.Load() {
				return nil
			}
			return streamErr(f.id, "sendfile", err)
		}
		if limit != nil && limit.add(int(n)) {
			return nil
		}
	}
	return nil
}

func (f *flow) recv(buf []byte, limit *byteLimit) error {
	read := f.conn.Read
	if f.skipCopy {
		read = f.truncReader()
	}
	for {
		n, err := read(buf)
		f.bytes.Add(uint64(n))
		if limit != nil && n > 0 {
			limit.add(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				f.eof = true
				return nil
			}
			if f.stopping.Load() {
				return nil
			}
			return streamErr(f.id, "read", err)
		}
	}
}

// blockBoundaryGrace bounds how long a sender to a stock peer may take to
// finish the block it is writing.
const blockBoundaryGrace = 5 * time.Second

// endErr returns the flow's error once it has ended, nil while it runs.
func (f *flow) endErr() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// flowSet is every flow of one test.
type flowSet []*flow

// allDone returns a channel closed once every flow has ended.
func (fs flowSet) allDone() <-chan struct{} {
	ch := make(chan struct{})
	if fs.ended() {
		close(ch)
		return ch
	}
	go func() {
		for _, f := range fs {
			<-f.done
		}
		close(ch)
	}()
	return ch
}

// ended reports whether every flow has ended already.
func (fs flowSet) ended() bool {
	for _, f := range fs {
		select {
		case <-f.done:
		default:
			return false
		}
	}
	return true
}

// maxBlockingFlows: tests with at most this many flows give each TCP
// flow an OS thread of its own and blocking I/O (see ownedSocket).
const maxBlockingFlows = 64

// maxReadBuffer bounds a TCP receiver's buffer with few flows, and
// manyFlowsReadBuffer with many: TCP is a byte stream, so a read buffer
// need not hold a block (-l 16M), and a larger one than the socket's
// receive buffer gains nothing.
const (
	maxReadBuffer        = 1 << 20
	manyFlowsReadBuffer  = 64 << 10
	manyFlowsReadBufFrom = maxBlockingFlows + 1
)

// tcpReadBufSize is the read buffer of each TCP receiver of a test with
// flows flows and block size block. A TCP receiver reads whatever has
// arrived, up to its buffer: with few flows a larger buffer means fewer
// read calls per byte; with thousands it would only cost memory.
func tcpReadBufSize(block, flows int) int {
	if flows >= manyFlowsReadBufFrom {
		return min(block, manyFlowsReadBuffer)
	}
	return max(min(block, maxReadBuffer), bigReadBuffer)
}

// TestMemory is what one test's flows on one side claim in buffers: each
// TCP receiver's read buffer, each UDP stream's datagram batch, and the
// senders' shared payload block. A server bounds it (--max-test-memory).
func (p *Params) TestMemory() uint64 {
	n := p.NumStreams()
	block := p.BlockSize
	if block <= 0 {
		block = DefaultBlockSize
	}
	var perStream uint64
	if p.UDP() {
		perStream = uint64(max(block*udpGSOBatch(block), udpGROBuffer))
	} else {
		perStream = uint64(tcpReadBufSize(block, n))
	}
	return mulSat(perStream, uint64(n)) + uint64(block)
}

// DefaultMaxTestMemory is a server's default bound on TestMemory: a 10,000-
// stream TCP test fits (64 KiB a stream), as do 128 streams of 1 MiB
// blocks (iperf3's own cap); --max-test-memory changes it.
const DefaultMaxTestMemory = 1 << 30

// bigReadBuffer is a TCP receiver's buffer when a test has few flows.
const bigReadBuffer = 512 << 10

// start launches every flow's goroutine. With zeroCopy, TCP senders send
// the payload with sendfile(2) from a payload file instead of write(2);
// with skipCopy, TCP receivers let the kernel drop what they read.
func (fs flowSet) start(sendBuf []byte, recvBufSize int, limit *byteLimit, zeroCopy, skipCopy bool) error {
	if zeroCopy {
		if err := fs.openZeroCopy(sendBuf); err != nil {
			return err
		}
	}
	if len(fs) == 0 || fs[0].udp == nil {
		recvBufSize = tcpReadBufSize(recvBufSize, len(fs))
	}
	owned := 0
	for _, f := range fs {
		if f.tcp != nil && len(fs) <= maxBlockingFlows {
			f.detach()
		}
		if f.own != nil {
			owned++
		}
	}
	// Several owned flows use raw system calls (see sockCall), each then
	// holding a P while in the kernel, as far as the process-wide loan
	// allows; a single one does better with ordinary calls (measured:
	// about 3 % on one loopback flow).
	if owned > 1 {
		lent := reserveProcs(owned)
		for _, f := range fs {
			if f.own != nil && lent > 0 {
				f.rawIO, f.procLent = true, true
				lent--
			}
		}
	}
	// Every flow's goroutine waits at a gate until all are launched: a
	// goroutine that began moving bytes at once would compete for the CPU
	// with the loop launching the rest, and with thousands of flows on a
	// busy machine the launch then took longer than the test (the last
	// flows started after the first had ended, past the server's
	// watchdog).
	gate := make(chan struct{})
	defer close(gate)
	for _, f := range fs {
		f.started = true
		f.skipCopy = skipCopy && f.tcp != nil && f.dir == Recv
		buf, lim := sendBuf, limit
		if f.dir == Recv {
			buf = make([]byte, recvBufSize)
			if limit != nil && limit.sendersOnly {
				lim = nil
			}
		}
		go func() {
			<-gate
			f.run(buf, lim)
		}()
	}
	return nil
}

// stopSenders ends every sender. With drain (a flowscope peer) blocked
// writes are cut short at once and each write side is shut down, so the
// peer reads to EOF after the last byte. A stock iperf3 server still reads
// whole blocks with blocking reads until it hears TEST_END, so with
// finishBlock (a client's senders to a stock server) each sender finishes
// the block it is writing (bounded by blockBoundaryGrace) and nothing is
// shut down. A stock client stops reading at TEST_END: a server's senders
// are cut short at once (neither drain nor finishBlock), or a blocked one
// would wait out the grace.
func (fs flowSet) stopSenders(drain, finishBlock bool) {
	now := time.Now()
	for _, f := range fs {
		if f.dir == Send {
			f.stop()
			if drain || !finishBlock {
				f.forceStop.Store(true) // an owned socket sees it within ioSlice
				if f.own == nil {
					_ = f.conn.SetWriteDeadline(now)
				}
			}
		}
	}
	// A sender to a stock peer finishes its block within the grace; then
	// every sender is cut short (deadline now, forceStop), and those still
	// not done senderStopBound later have their sockets closed under them:
	// the wait for the senders is bounded whatever they were doing, and
	// however many there are.
	deadline := time.Now().Add(blockBoundaryGrace)
	forced := false
	var cutOff time.Time
	for _, f := range fs {
		if f.dir != Send || !f.started {
			continue
		}
		if !forced && !f.waitDone(time.Until(deadline)) {
			for _, g := range fs {
				if g.dir == Send {
					g.forceStop.Store(true)
					if g.own == nil {
						_ = g.conn.SetWriteDeadline(time.Now())
					}
				}
			}
			forced = true
			cutOff = time.Now().Add(senderStopBound)
		}
		if forced && !f.waitDone(time.Until(cutOff)) {
			f.abort()
			<-f.done
		}
		switch {
		case !drain:
		case f.own != nil:
			f.own.shutdown(shutWrite)
		case f.tcp != nil:
			_ = f.tcp.CloseWrite()
		}
	}
}

// deliveredWait bounds how long a client waits for its senders' written
// bytes to reach a stock server before TEST_END (waitDelivered).
const deliveredWait = 2 * time.Second

// waitDelivered waits, at most d, until every TCP sender's socket has
// sent all it was given and had it acknowledged (TCP_INFO: nothing unsent,
// nothing unacknowledged). Senders without TCP_INFO are not waited for.
func (fs flowSet) waitDelivered(d time.Duration) {
	deadline := time.Now().Add(d)
	for _, f := range fs {
		if f.dir != Send || f.udp != nil {
			continue
		}
		for {
			ti, err := f.readTCPInfo()
			if err != nil || ti.NotsentBytes == 0 && ti.Unacked == 0 || !time.Now().Before(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// senderStopBound is how long the senders cut short may take to return
// before the sockets of those still running are closed under them.
const senderStopBound = 2 * time.Second

// waitDone waits up to d for the flow's goroutine to end and reports
// whether it did.
func (f *flow) waitDone(d time.Duration) bool {
	select {
	case <-f.done:
		return true
	default:
	}
	if d <= 0 {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-f.done:
		return true
	case <-timer.C:
		return false
	}
}

// abort closes the flow's socket under its goroutine (an owned socket is
// shut down; close waits for the goroutine), which then returns at once.
func (f *flow) abort() {
	f.stop()
	f.forceStop.Store(true)
	if f.own != nil {
		f.own.shutdown(shutBoth)
		return
	}
	_ = f.conn.Close()
}

// waitReceivers waits until every receiver saw EOF or failed, at most
// until timeout fires; it reports whether all finished.
func (fs flowSet) waitReceivers(timeout <-chan time.Time) bool {
	for _, f := range fs {
		if f.dir != Recv {
			continue
		}
		select {
		case <-f.done:
		case <-timeout:
			return false
		}
	}
	return true
}

// stopReceivers ends every receiver that is still reading.
func (fs flowSet) stopReceivers() {
	now := time.Now()
	for _, f := range fs {
		if f.dir == Recv {
			f.stop() // an owned socket sees it within ioSlice
			if f.own == nil {
				_ = f.conn.SetReadDeadline(now)
			}
		}
	}
	for _, f := range fs {
		if f.dir == Recv && f.started {
			<-f.done
		}
	}
}

// closeAll closes every connection and waits for every goroutine.
func (fs flowSet) closeAll() {
	lent := 0 // Ps to give back
	for _, f := range fs {
		f.abort() // an owned socket is closed below, once its goroutine ended
	}
	for _, f := range fs {
		if f.started {
			<-f.done
		}
		if f.own != nil {
			f.own.close()
		}
		if f.procLent {
			f.procLent = false
			lent++
		}
	}
	reserveProcs(-lent)
}

// describe fills start's per-stream addresses and socket buffer sizes, and
// returns the congestion control the streams use ("" for UDP).
func (fs flowSet) describe(start *Start) (congestion string) {
	for _, f := range fs {
		start.Streams = append(start.Streams, StreamInfo{ID: f.id, Dir: f.dir, Local: f.localAddr(), Remote: f.remoteAddr()})
	}
	if len(fs) == 0 {
		return ""
	}
	if fs[0].raw != nil {
		start.SndBuf, start.RcvBuf = bufSizes(fs[0].raw)
	} else if sc, ok := fs[0].conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			start.SndBuf, start.RcvBuf = bufSizes(rc)
		}
	}
	if fs[0].raw != nil {
		congestion, _ = sysctl.Congestion(fs[0].raw)
	}
	return congestion
}
