//go:build !linux && !darwin && !freebsd

package sysctl

// ReadInt returns ErrUnsupported: this OS has no sysctls.
func ReadInt(string) (int64, error) { return 0, ErrUnsupported }
