//go:build !linux

package report

// unameString falls back to the OS, host name and architecture where
// uname(2) is not available through package syscall.
func unameString() string { return fallbackSystemInfo() }
