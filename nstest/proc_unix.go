//go:build unix

package nstest

import (
	"errors"
	"syscall"
)

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func killProcess(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }
