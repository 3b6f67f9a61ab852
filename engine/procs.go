package engine

import (
	"runtime"
	"sync"
)

// GOMAXPROCS is changed in this one place, and only this way: while a test
// has several flows on owned sockets (see ownedSocket) that make raw
// system calls, each such flow holds a P while it sits in the kernel, so
// the engine lends itself one more P per flow (reserveProcs) and gives it
// back when the flows close (flowSet.closeAll). The loan is counted
// process-wide, so concurrent tests add up and the setting returns to what
// it was before the first loan, and it is bounded (maxLentProcs). Nothing
// else in the engine sets GOMAXPROCS; a program embedding the engine that
// sets it itself should do so while no test runs.

// extraProcs counts the Ps lent to owned flows, process-wide (a server
// runs several tests at once).
var extraProcs struct {
	sync.Mutex
	n    int
	base int // GOMAXPROCS before the first loan
}

// maxLentProcs bounds the Ps lent at once, process-wide: a server running
// many tests would otherwise reach a GOMAXPROCS in the thousands, and the
// garbage collector sizes its worker pool by GOMAXPROCS. Flows beyond it
// use ordinary system calls. 128 covers one 64-flow test in each direction
// of --loopback.
const maxLentProcs = 128

// reserveProcs raises GOMAXPROCS by up to n (within maxLentProcs) and
// returns by how much; n < 0 gives Ps back.
func reserveProcs(n int) int {
	if n == 0 {
		return 0
	}
	extraProcs.Lock()
	defer extraProcs.Unlock()
	if extraProcs.n == 0 {
		extraProcs.base = runtime.GOMAXPROCS(0)
	}
	n = min(n, maxLentProcs-extraProcs.n)
	if n == 0 {
		return 0
	}
	extraProcs.n = max(extraProcs.n+n, 0)
	runtime.GOMAXPROCS(extraProcs.base + extraProcs.n)
	return n
}
