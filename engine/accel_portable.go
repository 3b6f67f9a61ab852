//go:build !linux || flowscope_portable

package engine

import (
	"errors"
	"net"
)

// This build runs every flow on Go's portable network calls: no owned
// blocking sockets, no MSG_TRUNC reads, no -Z payload file, no UDP GSO/GRO
// (blocking_linux.go, zerocopy_linux.go and udpgso_linux.go have those).
// It is what macOS, FreeBSD and Windows run, and what Linux runs when
// built with -tags flowscope_portable, so CI tests this path on Linux.
const accelerated = false

// errNotAccelerated is what an acceleration would return here; nothing
// calls one (f.own is never set), so it marks code that cannot run.
var errNotAccelerated = errors.New("internal error: an acceleration of Linux was called in a portable build")

// ownedSocket is never made in this build (detach keeps every flow with
// Go's poller); the type exists so the flow loop compiles unchanged.
type ownedSocket struct{}

// The directions shutdown takes (unused: there is no owned socket).
const (
	shutWrite = 1
	shutBoth  = 2
)

func (*ownedSocket) Control(func(fd uintptr)) error    { return net.ErrClosed }
func (*ownedSocket) Read(func(fd uintptr) bool) error  { return net.ErrClosed }
func (*ownedSocket) Write(func(fd uintptr) bool) error { return net.ErrClosed }
func (*ownedSocket) shutdown(int)                      {}
func (*ownedSocket) close()                            {}

// detach keeps the flow with Go's poller.
func (*flow) detach() {}

func (*flow) sendOwned([]byte, *byteLimit) error       { return errNotAccelerated }
func (*flow) sendFileOwned(int, *byteLimit) error      { return errNotAccelerated }
func (*flow) recvOwned([]byte, *byteLimit) error       { return errNotAccelerated }
func (f *flow) truncReader() func([]byte) (int, error) { return f.conn.Read }

// openZeroCopy leaves every sender without a payload file: they write the
// payload as they would without -Z (a client refuses -Z here before a test
// starts; a server asked for it by its client sends this way).
func (flowSet) openZeroCopy([]byte) error { return nil }

// UDP datagrams move one per system call.
const (
	udpMaxSegments = 1
	udpGROBuffer   = 0
	udpGROOOB      = 0
)

func udpGSOBatch(int) int                  { return 1 }
func setUDPSegment(*net.UDPConn, int) bool { return false }
func enableUDPGRO(*net.UDPConn) bool       { return false }
func gsoRefused(error) bool                { return false }
func groSegmentSize([]byte) int            { return 0 }
