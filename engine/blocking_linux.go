//go:build linux && !flowscope_portable

package engine

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvLowWater is SO_RCVLOWAT for TCP receivers when a test has few flows.
const recvLowWater = 64 << 10

// ioSlice bounds one blocking read, write or sendfile on an owned socket,
// so its goroutine notices within this long that it should stop.
const ioSlice = 20 * time.Millisecond

// ownedSocket is a TCP socket taken out of Go's network poller: a blocking
// descriptor that one flow's goroutine reads or writes with plain system
// calls on an OS thread of its own, as iperf2 runs a thread per flow.
//
// Why: with a handful of fast flows, the poller costs more than the copy.
// Even a blocking duplicate of a pollable socket stays registered with the
// runtime's epoll, which then wakes a thread for every segment or ACK that
// arrives (tens of thousands of wake-ups a second per flow); closing the Go
// connection after duplicating the descriptor removes that registration.
//
// The descriptor is closed only by close, after the flow's goroutine has
// ended; Control (TCP_INFO for the sampler) is safe at any time and fails
// with net.ErrClosed afterwards.
type ownedSocket struct {
	mu sync.RWMutex
	fd int // -1 once closed
}

// Control calls fn with the descriptor, as syscall.RawConn does.
func (s *ownedSocket) Control(fn func(fd uintptr)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return net.ErrClosed
	}
	fn(uintptr(s.fd))
	return nil
}

// Read calls fn once with the descriptor (it is blocking: there is nothing
// to wait for), to satisfy syscall.RawConn.
func (s *ownedSocket) Read(fn func(fd uintptr) bool) error {
	return s.Control(func(fd uintptr) { fn(fd) })
}

// Write calls fn once with the descriptor, to satisfy syscall.RawConn.
func (s *ownedSocket) Write(fn func(fd uintptr) bool) error {
	return s.Control(func(fd uintptr) { fn(fd) })
}

// The directions shutdown takes.
const (
	shutWrite = unix.SHUT_WR
	shutBoth  = unix.SHUT_RDWR
)

// shutdown shuts down one or both directions (shutWrite, shutBoth); a
// goroutine blocked in the socket returns at once.
func (s *ownedSocket) shutdown(how int) {
	_ = s.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), how) })
}

// close closes the descriptor; call it once no goroutine uses it.
func (s *ownedSocket) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}

// detach moves the flow's TCP socket out of Go's poller into an
// ownedSocket (see there); conn is closed then, and every use of the socket
// goes through f.own (and f.raw, which points to it). It is best effort: if
// the descriptor cannot be duplicated (a tight RLIMIT_NOFILE, say) the flow
// stays with the poller.
func (f *flow) detach() {
	var fd int
	var serr error
	err := f.raw.Control(func(s uintptr) {
		fd, serr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil || serr != nil {
		return
	}
	tv := unix.NsecToTimeval(ioSlice.Nanoseconds())
	if unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) != nil ||
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) != nil ||
		unix.SetNonblock(fd, false) != nil {
		_ = unix.SetNonblock(fd, true) // the poller's descriptor shares the flag
		_ = unix.Close(fd)
		return
	}
	if f.dir == Recv {
		// With few fast flows, waking the reader for every segment costs
		// more than the copy: wake it when recvLowWater bytes are there
		// (EOF still wakes it at once). The kernel caps this at half the
		// receive buffer.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVLOWAT, recvLowWater)
	}
	f.peer = f.conn.RemoteAddr()
	f.local = f.conn.LocalAddr()
	// The socket stays open through fd; closing the Go side deregisters it
	// from the runtime's epoll.
	_ = f.conn.Close()
	f.own = &ownedSocket{fd: fd}
	f.raw = f.own
}

// sendOwned writes the payload with blocking write(2) on a locked OS
// thread: a full socket buffer puts the thread to sleep in the kernel. Each
// block is written whole (a stock peer reads block by block) unless the
// stop is forced.
func (f *flow) sendOwned(buf []byte, limit *byteLimit) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd := f.own.fd // valid until close, which waits for this goroutine
	for !f.stopping.Load() {
		if !f.pace() || !limit.claim(len(buf)) {
			return nil
		}
		for off := 0; off < len(buf); {
			n, err := sockCall(unix.SYS_WRITE, fd, buf[off:], 0, f.rawIO)
			if n > 0 {
				off += n
				f.bytes.Add(uint64(n))
			}
			if stop, err := f.sendErr(err); stop {
				return err
			}
		}
		if limit != nil && limit.add(len(buf)) {
			return nil
		}
	}
	return nil
}

// sendErr sorts out an error from a blocking send: whether the sender
// stops, and with which error (nil for an ordinary stop).
func (f *flow) sendErr(err error) (stop bool, _ error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return f.forceStop.Load(), nil // a slice ended: go on unless forced
	case f.stopping.Load():
		return true, nil
	default:
		return true, streamErr(f.id, "write", err)
	}
}

// sendFileOwned is sendOwned with sendfile(2) from the payload file (-Z):
// the kernel moves the bytes, the process does not copy them. blockLen is
// the block size; the file holds whole blocks.
func (f *flow) sendFileOwned(blockLen int, limit *byteLimit) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer f.zc.Close()
	st, err := f.zc.Stat()
	if err != nil {
		return streamErr(f.id, "payload file", err)
	}
	size := st.Size()
	src := int(f.zc.Fd())
	fd := f.own.fd
	var off int64
	for {
		if off == size {
			off = 0
		}
		if off%int64(blockLen) == 0 && (f.stopping.Load() || !f.pace() || !limit.claim(blockLen)) {
			return nil
		}
		count := int(size - off)
		if limit != nil { // a block at a time, each claimed (see claim)
			count = min(count, blockLen-int(off%int64(blockLen)))
		}
		n, err := unix.Sendfile(fd, src, &off, count) // advances off
		if n > 0 {
			f.bytes.Add(uint64(n))
			if limit != nil && limit.add(n) {
				return nil
			}
		}
		if stop, err := f.sendErr(err); stop {
			return err
		}
	}
}

// recvOwned reads with blocking read(2) on a locked OS thread until EOF,
// an error, or the flow is stopped.
func (f *flow) recvOwned(buf []byte, limit *byteLimit) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd := f.own.fd
	trap, flags := uintptr(unix.SYS_READ), 0
	if f.skipCopy {
		trap, flags = unix.SYS_RECVFROM, unix.MSG_TRUNC // dropped, not copied
	}
	for {
		n, err := sockCall(trap, fd, buf, flags, f.rawIO)
		switch {
		case n > 0:
			f.bytes.Add(uint64(n))
			if limit != nil {
				limit.add(n)
			}
		case err == nil: // n == 0: the peer's orderly end, or our shutdown
			if f.stopping.Load() {
				return nil
			}
			f.eof = true
			return nil
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			if f.stopping.Load() {
				return nil
			}
		case f.stopping.Load():
			return nil
		default:
			return streamErr(f.id, "read", err)
		}
	}
}

// When a test has several owned flows, their reads and writes are raw
// system calls (sockCall): the Go runtime is not told the goroutine is in the kernel,
// so it keeps its P, and neither sysmon nor the scheduler hands Ps around
// for every call (with ordinary calls, eight senders on two Ps queue for a
// P after every write). Measured with 8 flows on loopback: about 20 % more
// throughput and 15 % less CPU per byte than ordinary calls, which raising
// GOMAXPROCS alone does not give. Each flow blocked in the kernel then holds
// a P, so GOMAXPROCS is raised by one per such flow for as long as the
// flows exist, up to maxLentProcs (reserveProcs); the other goroutines keep
// the Ps they had.

// sockCall is read(2) (trap SYS_READ), write(2) (SYS_WRITE) or recv(2)
// with flags (SYS_RECVFROM) on fd and b; raw makes it a raw system call.
// It is unix.Read and friends without their allocation (Recvfrom's
// sender address) and with the raw choice.
func sockCall(trap uintptr, fd int, b []byte, flags int, raw bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	// The pointer conversion stays inside each call expression, where the
	// compiler keeps b alive through the call.
	var n uintptr
	var errno unix.Errno
	if raw {
		n, _, errno = unix.RawSyscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
	} else {
		n, _, errno = unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(flags), 0, 0)
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// truncReader returns conn.Read with MSG_TRUNC through the poller: the
// kernel drops up to len(buf) bytes without copying them (the buffer only
// gives the size). It returns io.EOF at the peer's end, as Read does. The
// func it hands the poller is made once, here: one made for every read
// would escape, an allocation per read.
func (f *flow) truncReader() func(buf []byte) (int, error) {
	var (
		b   []byte
		n   int
		err error
	)
	recv := func(fd uintptr) bool {
		n, err = sockCall(unix.SYS_RECVFROM, int(fd), b, unix.MSG_TRUNC, true) // non-blocking here
		return !errors.Is(err, unix.EAGAIN)
	}
	return func(buf []byte) (int, error) {
		b = buf
		rerr := f.raw.Read(recv)
		switch {
		case rerr != nil:
			return 0, rerr
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
