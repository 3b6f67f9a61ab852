// Package wire implements iperf3's control protocol as flowscope speaks it:
// the test cookie, one-byte states, length-prefixed JSON messages, the
// parameter and results documents, and flowscope's negotiated extensions
// (the extension acknowledgement and the per-stream role header).
//
// Every decoder here reads bytes from the network: each bounds what it
// allocates and returns an error, never panics, on any input.
package wire

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CookieSize is the length of the test cookie on the wire, NUL included.
const CookieSize = 37

const cookieAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewCookie returns a fresh random test cookie (36 characters, no NUL).
func NewCookie() string {
	var b [CookieSize - 1]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	for i := range b {
		b[i] = cookieAlphabet[int(b[i])%len(cookieAlphabet)]
	}
	return string(b[:])
}

// EncodeCookie returns the 37 bytes that carry cookie on the wire.
func EncodeCookie(cookie string) []byte {
	b := make([]byte, CookieSize)
	copy(b[:CookieSize-1], cookie)
	return b
}

// ReadCookie reads a 37-byte cookie and returns it up to its first NUL, as
// iperf3 compares cookies.
func ReadCookie(r io.Reader) (string, error) {
	var b [CookieSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("read cookie: %w", err)
	}
	return DecodeCookie(b[:]), nil
}

// DecodeCookie returns the cookie in b up to its first NUL byte.
func DecodeCookie(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// State is one control-protocol state byte.
type State int8

// iperf3's states, with the values stock peers put on the wire.
const (
	TestStart       State = 1
	TestRunning     State = 2
	TestEnd         State = 4
	ParamExchange   State = 9
	CreateStreams   State = 10
	ServerTerminate State = 11
	ClientTerminate State = 12
	ExchangeResults State = 13
	DisplayResults  State = 14
	IperfDone       State = 16
	AccessDenied    State = -1
	ServerError     State = -2
)

// flowscope's own states. They are sent only to a peer that announced
// flowscope support, and lie far from every value iperf3 uses (1–16, -1, -2).
const (
	// ExtAccept: S→C before CREATE_STREAMS, followed by a length-prefixed
	// JSON Extensions document naming what the server agreed to.
	ExtAccept State = 100
	// Telemetry: S→C during the test, followed by a length-prefixed JSON
	// document (reserved for server-side telemetry).
	Telemetry State = 101
)

func (s State) String() string {
	switch s {
	case TestStart:
		return "TEST_START"
	case TestRunning:
		return "TEST_RUNNING"
	case TestEnd:
		return "TEST_END"
	case ParamExchange:
		return "PARAM_EXCHANGE"
	case CreateStreams:
		return "CREATE_STREAMS"
	case ServerTerminate:
		return "SERVER_TERMINATE"
	case ClientTerminate:
		return "CLIENT_TERMINATE"
	case ExchangeResults:
		return "EXCHANGE_RESULTS"
	case DisplayResults:
		return "DISPLAY_RESULTS"
	case IperfDone:
		return "IPERF_DONE"
	case AccessDenied:
		return "ACCESS_DENIED"
	case ServerError:
		return "SERVER_ERROR"
	case ExtAccept:
		return "FLOWSCOPE_EXT_ACCEPT"
	case Telemetry:
		return "FLOWSCOPE_TELEMETRY"
	}
	return fmt.Sprintf("state(%d)", int8(s))
}

// WriteState writes one state byte.
func WriteState(w io.Writer, s State) error {
	if _, err := w.Write([]byte{byte(s)}); err != nil {
		return fmt.Errorf("write state %v: %w", s, err)
	}
	return nil
}

// ReadState reads one state byte.
func ReadState(r io.ByteReader) (State, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, fmt.Errorf("read state: %w", err)
	}
	return State(int8(b)), nil
}

// Message size limits, applied before anything is allocated.
const (
	// MaxParamsSize bounds the parameter JSON (iperf3 ≥ 3.18 uses 8 KiB).
	MaxParamsSize = 8 * 1024
	// MaxResultsSize bounds a results JSON; thousands of streams and a
	// server's embedded output make it large, but never this large.
	MaxResultsSize = 64 << 20
)

// ErrTooLarge is returned for a message longer than the caller's limit.
var ErrTooLarge = errors.New("message too large")

// WriteMessage writes a 4-byte big-endian length and then payload, as one
// write so the peer usually sees one segment.
func WriteMessage(w io.Writer, payload []byte) error {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	return nil
}

// ReadMessage reads a length-prefixed message of at most limit bytes.
func ReadMessage(r io.Reader, limit int) ([]byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return nil, fmt.Errorf("read message length: %w", err)
	}
	n := binary.BigEndian.Uint32(lb[:])
	if limit < 0 || uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("read message: %d bytes, limit %d: %w", n, limit, ErrTooLarge)
	}
	// Grow with the data that actually arrives, so a peer that only claims
	// a large length costs nothing.
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) && buf.Len() > 0 {
			err = io.ErrUnexpectedEOF // as io.ReadFull reports a partial read
		}
		return nil, fmt.Errorf("read message body: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrorCode is an iperf3 i_errno value carried by SERVER_ERROR.
type ErrorCode int32

// The iperf3 error codes flowscope sends or explains.
const (
	ErrDuration       ErrorCode = 5  // "test duration too long"
	ErrNumStreams     ErrorCode = 6  // "number of parallel streams too large"
	ErrBlockSize      ErrorCode = 7  // "block size too large"
	ErrBufSize        ErrorCode = 8  // "socket buffer size too large"
	ErrInterval       ErrorCode = 9  // "invalid report interval"
	ErrMSS            ErrorCode = 10 // "TCP MSS too large"
	ErrOmit           ErrorCode = 12 // "bogus value for --omit"
	ErrBurst          ErrorCode = 15 // "invalid burst count"
	ErrEndConditions  ErrorCode = 16 // "only one test end condition (-t, -n, -k) may be specified"
	ErrNoSCTP         ErrorCode = 18 // "no SCTP support available"
	ErrUDPBlockSize   ErrorCode = 20 // "block size invalid"
	ErrBadTOS         ErrorCode = 21 // "bad TOS value"
	ErrReverseBidir   ErrorCode = 25 // "cannot be both reverse and bidirectional"
	ErrTotalRate      ErrorCode = 27
	ErrMaxDuration    ErrorCode = 37
	ErrMessage        ErrorCode = 110
	ErrRecvParams     ErrorCode = 114
	ErrAccessDenied   ErrorCode = 121
	ErrSetBuf2        ErrorCode = 141
	ErrAuth           ErrorCode = 142
	ErrNoMsg          ErrorCode = 144
	ErrServerTimeout  ErrorCode = 160
	ErrStreamID       ErrorCode = 208
	ErrFlowscopeParam ErrorCode = 1000 // flowscope: a parameter is out of range
)

// PeerError is a SERVER_ERROR received from (or sent to) a peer.
type PeerError struct {
	Code  ErrorCode
	Errno int32
}

func (e *PeerError) Error() string {
	msg := ""
	switch e.Code {
	case ErrDuration:
		msg = "test duration out of range"
	case ErrNumStreams:
		msg = "too many parallel streams"
	case ErrBlockSize, ErrUDPBlockSize:
		msg = "block size out of range"
	case ErrBufSize:
		msg = "socket buffer size out of range"
	case ErrInterval:
		msg = "invalid report interval"
	case ErrMSS:
		msg = "MSS out of range"
	case ErrOmit:
		msg = "invalid omit (-O)"
	case ErrBurst:
		msg = "invalid burst count"
	case ErrEndConditions:
		msg = "invalid test end condition (-t, -n, -k)"
	case ErrNoSCTP:
		msg = "protocol not supported (only TCP and UDP)"
	case ErrBadTOS:
		msg = "bad TOS value"
	case ErrReverseBidir:
		msg = "-R and --bidir cannot be combined"
	case ErrTotalRate:
		msg = "total requested bitrate is above the server's limit"
	case ErrMaxDuration:
		msg = "requested duration is above the server's limit"
	case ErrMessage:
		msg = "received an unknown control message"
	case ErrRecvParams:
		msg = "the server could not read the test parameters"
	case ErrAccessDenied:
		msg = "access denied"
	case ErrSetBuf2:
		msg = "socket buffer size not set correctly (the server's kernel limits -w)"
	case ErrAuth:
		msg = "test authorization failed"
	case ErrNoMsg:
		msg = "no data received for too long"
	case ErrServerTimeout:
		msg = "the server's test duration expired"
	case ErrStreamID:
		msg = "stream id mismatch in results"
	case ErrFlowscopeParam:
		msg = "the server rejected a test parameter"
	default:
		msg = fmt.Sprintf("error %d", e.Code)
	}
	if e.Errno != 0 {
		return fmt.Sprintf("server error: %s (errno %d)", msg, e.Errno)
	}
	return "server error: " + msg
}

// WriteServerError writes SERVER_ERROR with its two 32-bit words.
func WriteServerError(w io.Writer, code ErrorCode, errno int32) error {
	var b [9]byte
	b[0] = 0xfe // SERVER_ERROR
	binary.BigEndian.PutUint32(b[1:], uint32(code))
	binary.BigEndian.PutUint32(b[5:], uint32(errno))
	if _, err := w.Write(b[:]); err != nil {
		return fmt.Errorf("write server error: %w", err)
	}
	return nil
}

// ReadServerError reads the words that follow a SERVER_ERROR state. Old
// servers send only the first word and close, so a missing errno is 0.
func ReadServerError(r io.Reader) *PeerError {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return &PeerError{Code: -1}
	}
	pe := &PeerError{Code: ErrorCode(int32(binary.BigEndian.Uint32(b[:])))}
	if _, err := io.ReadFull(r, b[:]); err == nil {
		pe.Errno = int32(binary.BigEndian.Uint32(b[:]))
	}
	return pe
}

// NewReader returns the buffered reader a control connection is read
// through: states and JSON may arrive coalesced in one segment.
func NewReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 4096) }
