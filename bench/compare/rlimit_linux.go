package main

import (
	"fmt"
	"syscall"
)

// raiseNofile raises this process's soft RLIMIT_NOFILE to the hard limit
// if it is below need. Calling syscall.Setrlimit also stops Go from
// restoring the original soft limit in child processes, so the servers
// and clients started afterwards inherit the raised limit.
func raiseNofile(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %v", err)
	}
	if lim.Max < need {
		return fmt.Errorf("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed; runs may fail", lim.Max, need)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d: %v", lim.Max, err)
	}
	return nil
}
