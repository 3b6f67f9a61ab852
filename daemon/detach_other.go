//go:build !unix

package daemon

import (
	"errors"
	"syscall"
)

// detached: Start refuses before it would be needed.
func detached() *syscall.SysProcAttr { return nil }

// supported refuses -D: a child cannot be handed the ready pipe here, and
// services are the OS's way to run a server in the background.
func supported() error {
	return errors.New("-D: not supported on this OS; run the server as a service instead")
}
