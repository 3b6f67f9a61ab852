package main

import "syscall"

// procAttr makes the kernel kill a child if the harness dies without
// cleaning up (e.g. SIGKILL), so no server outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
