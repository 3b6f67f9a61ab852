//go:build linux || darwin || freebsd

package sysctl

// readOr reads an integer sysctl, or returns Unknown.
func readOr(name string) int64 {
	v, err := ReadInt(name)
	if err != nil {
		return Unknown
	}
	return v
}
