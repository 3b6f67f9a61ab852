//go:build linux && !flowscope_portable

package engine

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// zeroCopyFileSize is about how much one sendfile(2) call may move.
const zeroCopyFileSize = 4 << 20

// openZeroCopy gives every TCP sender its own descriptor of one unnamed
// file holding the payload: separate opens keep separate offsets, the pages
// are shared.
//
// The file is an O_TMPFILE in the temporary directory when it can be (on a
// disk file system its page cache uses large folios, which sendfile(2)
// moves with far fewer page look-ups than shmem's 4 KiB pages: on loopback
// 1.2× the throughput of a memfd at less CPU), else a memfd. Either way
// the 4 MiB stay in memory while the test runs and vanish when it ends.
func (fs flowSet) openZeroCopy(payload []byte) error {
	fd, err := unix.Open(os.TempDir(), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		fd, err = unix.MemfdCreate("flowscope-payload", unix.MFD_CLOEXEC)
	}
	if err != nil {
		return fmt.Errorf("-Z: payload file: %w", err)
	}
	src := os.NewFile(uintptr(fd), "flowscope-payload")
	defer src.Close()
	// Whole blocks (a stock peer reads block by block) adding up to about
	// 4 MiB: one sendfile(2) call then moves many blocks.
	for n := 0; n == 0 || n+len(payload) <= zeroCopyFileSize; n += len(payload) {
		if _, err := src.Write(payload); err != nil {
			return fmt.Errorf("-Z: fill payload: %w", err)
		}
	}
	path := "/proc/self/fd/" + strconv.Itoa(fd)
	for _, f := range fs {
		if f.dir != Send || f.tcp == nil {
			continue
		}
		zc, err := os.Open(path)
		if err != nil {
			for _, g := range fs {
				if g.zc != nil {
					_ = g.zc.Close()
					g.zc = nil
				}
			}
			return fmt.Errorf("-Z: open payload: %w", err)
		}
		f.zc = zc
	}
	return nil
}
