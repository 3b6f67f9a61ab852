package sysctl

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// CPUAllowed says whether this process may run on cpu (-A checks its value
// with it).
func CPUAllowed(cpu int) error {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && !set.IsSet(cpu) {
		return fmt.Errorf("this process may not run on that CPU (it may use %d CPUs, numbered from 0)", set.Count())
	}
	return nil
}

// CongestionAvailable says whether the kernel has the congestion control
// algorithm cc, and lists those it has when it does not. Without a socket
// to ask it says nothing: the test's own sockets will.
func CongestionAvailable(cc string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc); err != nil {
		avail, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
		return fmt.Errorf("%v (available: %s)", err, strings.TrimSpace(string(avail)))
	}
	return nil
}
