//go:build darwin || freebsd

package sysctl

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// ReadInt reads an integer sysctl by its name, for example
// "kern.ipc.somaxconn". Both 32- and 64-bit values are read.
func ReadInt(name string) (int64, error) {
	b, err := unix.SysctlRaw(name)
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	switch len(b) {
	case 4:
		return int64(int32(binary.NativeEndian.Uint32(b))), nil
	case 8:
		return int64(binary.NativeEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("read sysctl %s: %d bytes, not an integer", name, len(b))
}
