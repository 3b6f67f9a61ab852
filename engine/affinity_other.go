//go:build !linux

package engine

import "errors"

// errNoAffinity refuses -A: this OS gives flowscope no way to pin threads.
var errNoAffinity = errors.New("-A: CPU affinity is supported on Linux only")

// PinProcess refuses -A.
func PinProcess(int) error { return errNoAffinity }

// pinProcess refuses every CPU (a server turns that into a finding).
func pinProcess(int) (func(), error) { return nil, errNoAffinity }

// checkCPU refuses every CPU: a server here cannot pin a test's flows (it
// says so in a finding).
func checkCPU(int) error { return errNoAffinity }

// pinThread is never reached (checkCPU refused the CPU).
func pinThread(int) (unpin func()) { return func() {} }
