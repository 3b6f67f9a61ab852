package engine

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// blockingSliceTimeout bounds one blocking write, so a sender notices it
// should stop.
const blockingSliceTimeout = 20 * time.Millisecond

// blockingFD returns a blocking duplicate of the flow's socket whose
// writes give up after blockingSliceTimeout. The duplicate shares the open
// file description, so the Go runtime's descriptor turns blocking too:
// only this flow's goroutine may use the socket for I/O afterwards.
func (f *flow) blockingFD() (int, error) {
	var fd int
	var serr error
	err := f.raw.Control(func(s uintptr) {
		fd, serr = unix.Dup(int(s))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return -1, fmt.Errorf("dup socket: %w", err)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set blocking: %w", err)
	}
	tv := unix.NsecToTimeval(blockingSliceTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set SO_SNDTIMEO: %w", err)
	}
	return fd, nil
}

// sendBlocking is send with blocking write(2) on an OS thread of its own,
// as iperf2 runs a thread per flow: a full socket buffer puts the thread
// to sleep in the kernel instead of a round trip through the Go poller,
// which is measurably faster with a few fast flows. Each block is written
// whole (a stock peer reads block by block) unless the stop is forced.
func (f *flow) sendBlocking(buf []byte, limit *byteLimit) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := f.blockingFD()
	if err != nil {
		return f.send(buf, limit) // fall back to the poller
	}
	defer unix.Close(fd)
	for !f.stopping.Load() {
		if !f.pace() {
			return nil
		}
		for off := 0; off < len(buf); {
			n, err := unix.Write(fd, buf[off:])
			if n > 0 {
				off += n
				f.bytes.Add(uint64(n))
			}
			switch {
			case err == nil:
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
				if f.forceStop.Load() {
					return nil
				}
			case f.stopping.Load():
				return nil
			default:
				return fmt.Errorf("stream %d: write: %w", f.id, err)
			}
		}
		if limit != nil && limit.add(len(buf)) {
			return nil
		}
	}
	return nil
}
