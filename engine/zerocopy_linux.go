package engine

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openZeroCopy gives every TCP sender its own descriptor of one in-memory
// file holding the payload: separate opens keep separate offsets, the pages
// are shared.
func (fs flowSet) openZeroCopy(payload []byte) error {
	fd, err := unix.MemfdCreate("flowscope-payload", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("-Z: memfd_create: %w", err)
	}
	src := os.NewFile(uintptr(fd), "flowscope-payload")
	defer src.Close()
	if _, err := src.Write(payload); err != nil {
		return fmt.Errorf("-Z: fill payload: %w", err)
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
