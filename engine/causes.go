package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/wire"
)

// Cause says why a test failed or was refused, for callers that decide on
// it: metrics labels, findings, exit codes. Read it with CauseOf; the
// error's text is for people only.
type Cause uint8

// Why a test failed. The zero value is CauseOther.
const (
	// CauseOther: none of the causes below.
	CauseOther Cause = iota
	// CauseInvalid: the test's parameters are invalid (locally, or as the
	// server read them).
	CauseInvalid
	// CauseRejected: the server refused the test (its limits, or its
	// checks of the parameters).
	CauseRejected
	// CauseAuth: authentication was required, missing or wrong.
	CauseAuth
	// CauseBusy: the server was running as many tests as it may.
	CauseBusy
	// CauseConnect: the control connection could not be made.
	CauseConnect
	// CauseDataConnect: data connections could not be made (see
	// diagnose.SetupFailed for their errno classes).
	CauseDataConnect
	// CauseStreamsMissing: not every data connection arrived in time.
	CauseStreamsMissing
	// CauseTimeout: the peer did not answer in time.
	CauseTimeout
	// CausePeerGone: the peer closed, reset or aborted the control
	// connection, or left the test.
	CausePeerGone
	// CauseProtocol: the peer sent something the protocol does not allow.
	CauseProtocol
	// CauseShutdown: the server was shutting down.
	CauseShutdown
	// CauseInterrupted: this side's context was cancelled during setup.
	CauseInterrupted
	// CauseStalled: no stream moved a byte for the stall timeout.
	CauseStalled
	// CauseRateLimit: the test moved more than the server allows
	// (--max-bitrate).
	CauseRateLimit
	// CauseStream: a data stream failed (see StreamError).
	CauseStream
	// CauseFrontEnd: a front end's event callback panicked.
	CauseFrontEnd
	// CauseRoles: in --bidir with a stock iperf3 peer, the peer's roles
	// and this end's differ on some data connections (esnet/iperf#2029).
	CauseRoles
)

var causeNames = [...]string{
	CauseOther: "other", CauseInvalid: "invalid", CauseRejected: "rejected", CauseAuth: "auth",
	CauseBusy: "busy", CauseConnect: "connect", CauseDataConnect: "data-connect",
	CauseStreamsMissing: "streams-missing", CauseTimeout: "timeout", CausePeerGone: "peer-gone",
	CauseProtocol: "protocol", CauseShutdown: "shutdown", CauseInterrupted: "interrupted",
	CauseStalled: "stalled", CauseRateLimit: "rate-limit", CauseStream: "stream", CauseFrontEnd: "front-end", CauseRoles: "roles",
}

// String is the cause's stable short name.
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "other"
}

// Errors both roles share.
var (
	errShuttingDown     = &Error{Cause: CauseShutdown, Err: errors.New("server shutting down")}
	errServerTerminated = &Error{Cause: CauseShutdown, Err: errors.New("the server terminated the test")}
)

// Error is an engine error with its cause. Err says what happened, for
// people; Cause is for code.
type Error struct {
	Cause Cause
	Err   error
	// code is the iperf3 error code a server refuses the test with.
	code wire.ErrorCode
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// withCause returns err with cause c, keeping its text; nil stays nil. An
// error that already has a cause keeps it.
func withCause(c Cause, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Cause: c, Err: err}
}

// CauseOf returns why err happened: the cause of the first *Error in its
// chain or, for a SERVER_ERROR the peer sent, the cause its code means.
func CauseOf(err error) Cause {
	if err == nil {
		return CauseOther
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	var pe *wire.PeerError
	if errors.As(err, &pe) {
		return peerErrorCause(pe.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CauseInterrupted
	}
	return netCause(err)
}

// peerErrorCause is what an iperf3 error code from the server means.
func peerErrorCause(code wire.ErrorCode) Cause {
	switch code {
	case wire.ErrAuth:
		return CauseAuth
	case wire.ErrAccessDenied:
		return CauseBusy
	case wire.ErrTotalRate, wire.ErrMaxDuration, wire.ErrFlowscopeParam:
		return CauseRejected
	case wire.ErrServerTimeout:
		return CauseTimeout
	}
	return CauseOther
}

// refusalCode is the iperf3 error code a server refuses err with.
func refusalCode(err error, fallback wire.ErrorCode) wire.ErrorCode {
	var e *Error
	if errors.As(err, &e) && e.code != 0 {
		return e.code
	}
	return fallback
}

// netCause classifies a control-connection failure: the peer left, or did
// not answer in time.
func netCause(err error) Cause {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return CausePeerGone
	case isTimeout(err):
		return CauseTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return CauseTimeout
	}
	return CauseOther
}

// StreamError is a data stream's failure: which stream, in which
// operation, and the system's error.
type StreamError struct {
	Stream int    // the iperf3 stream id
	Op     string // "read", "write", "sendfile", …
	Err    error
}

func (e *StreamError) Error() string {
	if e.Op == "" {
		return "stream " + strconv.Itoa(e.Stream) + ": " + e.Err.Error()
	}
	return "stream " + strconv.Itoa(e.Stream) + ": " + e.Op + ": " + e.Err.Error()
}

func (e *StreamError) Unwrap() error { return e.Err }

// Class names the kind of failure, as diagnose counts connection failures
// (diagnose.CauseReset, CauseTimeout, …).
func (e *StreamError) Class() string { return failureCause(e.Err) }

// streamErr wraps a stream's system error.
func streamErr(id int, op string, err error) error {
	return &StreamError{Stream: id, Op: op, Err: err}
}

// failureCause names the errno class a connection failed with, for
// counting setup failures.
func failureCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return diagnose.CauseRefused
	case errors.Is(err, syscall.ECONNRESET):
		return diagnose.CauseReset
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return diagnose.CausePorts
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return diagnose.CauseFDs
	case isTimeout(err):
		return diagnose.CauseTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return diagnose.CauseTimeout
	}
	return diagnose.CauseOther
}

// codeForClient is the error code a client of that version knows for
// code: iperf3 before 3.17 has no "duration exceeds the server's maximum"
// (37) and would print "int_errno=37"; it gets "test duration too long".
func codeForClient(version string, code wire.ErrorCode) wire.ErrorCode {
	if code != wire.ErrMaxDuration {
		return code
	}
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil || major < 3 || (major == 3 && minor < 17) {
		return wire.ErrDuration
	}
	return code
}
