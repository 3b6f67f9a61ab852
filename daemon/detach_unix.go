//go:build unix

package daemon

import "syscall"

// detached starts the child in a session of its own: no terminal, and the
// parent's Ctrl-C does not reach it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func supported() error { return nil }
