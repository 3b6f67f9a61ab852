//go:build !linux && !darwin && !freebsd && !windows

package sysctl

// ReadTCPInfoFD returns ErrUnsupported: flowscope reads no per-socket
// statistics on this OS.
func ReadTCPInfoFD(uintptr) (TCPInfo, error) { return TCPInfo{}, ErrUnsupported }

func listenerQueueFD(uintptr) (queue, backlog uint32, err error) { return 0, 0, ErrUnsupported }
