package engine

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// setupTimeout bounds every control-protocol step before the test runs.
const setupTimeout = 10 * time.Second

// resultsTimeout bounds the results exchange after the test.
const resultsTimeout = 15 * time.Second

// drainTimeout bounds how long receivers may take to read to EOF after the
// senders stopped, when both sides agreed to drain.
const drainTimeout = 10 * time.Second

// ourExtensions is what flowscope offers and accepts.
var ourExtensions = []string{wire.ExtRoles, wire.ExtManyStreams, wire.ExtDrain, wire.ExtTelemetry, wire.ExtUDPToken, wire.ExtClientView}

// newPayload returns the block senders share read-only: random bytes, or
// with repeating iperf3's "0123456789…" pattern (--repeating-payload).
func newPayload(size int, repeating bool) []byte {
	b := make([]byte, size)
	if repeating {
		for i := range b {
			b[i] = '0' + byte(i%10)
		}
		return b
	}
	_, _ = rand.Read(b)
	return b
}

// setupFailures counts stream setup errors by cause.
type setupFailures struct {
	total   int
	byCause map[string]int
	first   error
}

func (s *setupFailures) add(err error) {
	if s.byCause == nil {
		s.byCause = map[string]int{}
	}
	s.total++
	s.byCause[failureCause(err)]++
	if s.first == nil {
		s.first = err
	}
}

// err summarises the failures in one line, or returns nil.
func (s *setupFailures) err(n int) error {
	if s.total == 0 {
		return nil
	}
	causes := make([]string, 0, len(s.byCause))
	for c, k := range s.byCause {
		causes = append(causes, fmt.Sprintf("%d %s", k, c))
	}
	sort.Strings(causes)
	return &Error{Cause: CauseDataConnect, Err: fmt.Errorf("%d of %d data connections failed (%s); first: %w", s.total, n, strings.Join(causes, ", "), s.first)}
}

// hostPort splits a net.Addr into host and port.
func hostPort(a net.Addr) (string, int) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String(), ta.Port
	}
	return a.String(), 0
}

type stateResult struct {
	state wire.State
	err   error
}

func ioReadFull(c net.Conn, b []byte) (int, error) { return io.ReadFull(c, b) }
