package sysctl

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReadInt reads an integer sysctl by its dotted name, for example
// "net.core.somaxconn".
func ReadInt(name string) (int64, error) {
	b, err := os.ReadFile(procSys(name))
	if err != nil {
		return 0, fmt.Errorf("read sysctl %s: %w", name, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse sysctl %s: %w", name, err)
	}
	return v, nil
}

func procSys(name string) string { return "/proc/sys/" + strings.ReplaceAll(name, ".", "/") }
