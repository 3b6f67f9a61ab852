// Package sysctl reads the host's network limits and per-socket kernel
// state: /proc/sys values and TCP_INFO. Readings that a platform cannot
// provide return ErrUnsupported.
package sysctl

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where the platform has no such reading.
var ErrUnsupported = errors.New("not supported on this platform")

// ReadInt reads an integer sysctl by its dotted name, for example
// "net.core.somaxconn".
func ReadInt(name string) (int64, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse sysctl %s: %w", name, err)
	}
	return v, nil
}

// Somaxconn returns net.core.somaxconn, the cap on every listen backlog.
func Somaxconn() (int, error) {
	v, err := ReadInt("net.core.somaxconn")
	return int(v), err
}
