//go:build !linux

package sysctl

import "errors"

// CPUAllowed refuses every CPU: CPU affinity is Linux's only.
func CPUAllowed(int) error { return errors.New("CPU affinity is supported on Linux only") }

// CongestionAvailable leaves -C to the engine, which refuses it here in
// one line (no per-socket congestion control on this OS).
func CongestionAvailable(string) error { return nil }
