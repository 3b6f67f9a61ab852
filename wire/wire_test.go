package wire_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

const cookieAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// The UDP parameter document of the protocol notes (§2.2), as captured from
// a stock 3.12 client: -u -R --udp-counters-64bit --get-server-output -b 1M -t 2.
const capturedUDPParams = `{"udp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":1,"reverse":true,"len":32768,"bandwidth":1000000,"pacing_timer":1000,"get_server_output":1,"udp_counters_64bit":1,"client_version":"3.12"}`

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "iperf3-3.12", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errWriter fails every write.
type errWriter struct{}

var errBroken = errors.New("broken pipe (test)")

func (errWriter) Write([]byte) (int, error) { return 0, errBroken }

// ---------------------------------------------------------------- cookie

func TestNewCookie(t *testing.T) {
	t.Parallel()
	const n = 2000
	seen := make(map[string]bool, n)
	var used [256]int
	for range n {
		c := wire.NewCookie()
		if len(c) != 36 || wire.CookieSize != 37 {
			t.Fatalf("NewCookie() = %q: length %d, want 36", c, len(c))
		}
		for i := 0; i < len(c); i++ {
			if !strings.ContainsRune(cookieAlphabet, rune(c[i])) {
				t.Fatalf("NewCookie() = %q: byte %q at %d is outside %q", c, c[i], i, cookieAlphabet)
			}
			used[c[i]]++
		}
		if seen[c] {
			t.Fatalf("NewCookie() returned %q twice", c)
		}
		seen[c] = true
	}
	// 72,000 characters: every one of the 32 letters must turn up (each is
	// expected ~2,250 times; missing one means a biased mapping).
	for i := 0; i < len(cookieAlphabet); i++ {
		if used[cookieAlphabet[i]] == 0 {
			t.Errorf("letter %q never appeared in %d cookies", cookieAlphabet[i], n)
		}
	}
}

func TestEncodeCookie(t *testing.T) {
	t.Parallel()
	full := "qywzn2tnqqm6rtnjtfyptbwkaerhmcoeuajd"
	tests := []struct {
		name   string
		cookie string
		want   []byte
	}{
		{"stock length", full, append([]byte(full), 0)},
		{"short is NUL padded", "abc", append([]byte("abc"), make([]byte, 34)...)},
		{"empty", "", make([]byte, 37)},
		{"long is truncated to 36", full + "xyz", append([]byte(full), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wire.EncodeCookie(tt.cookie)
			if len(got) != wire.CookieSize {
				t.Fatalf("len = %d, want %d", len(got), wire.CookieSize)
			}
			if got[wire.CookieSize-1] != 0 {
				t.Errorf("last byte = %#x, want NUL", got[wire.CookieSize-1])
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("EncodeCookie(%q) = %q, want %q", tt.cookie, got, tt.want)
			}
		})
	}
}

func TestReadCookie(t *testing.T) {
	t.Parallel()
	stock := wire.NewCookie()
	noNUL := strings.Repeat("a", 37)
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr error // matched with errors.Is
		rest    string
	}{
		{"round trip", wire.EncodeCookie(stock), stock, nil, ""},
		{"state byte after cookie is left unread", append(wire.EncodeCookie(stock), 0x04), stock, nil, "\x04"},
		{"stops at first NUL", append([]byte("abc\x00def"), make([]byte, 30)...), "abc", nil, ""},
		{"NUL first", append([]byte{0}, []byte(strings.Repeat("z", 36))...), "", nil, ""},
		{"no NUL at all keeps 37 bytes", []byte(noNUL + "tail"), noNUL, nil, "tail"},
		{"short cookie", []byte("abcdef"), "", io.ErrUnexpectedEOF, ""},
		{"36 bytes", []byte(stock), "", io.ErrUnexpectedEOF, ""},
		{"nothing", nil, "", io.EOF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.in)
			got, err := wire.ReadCookie(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadCookie err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadCookie: %v", err)
			}
			if got != tt.want {
				t.Errorf("ReadCookie = %q, want %q", got, tt.want)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != tt.rest {
				t.Errorf("left unread %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestDecodeCookie(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"\x00", ""},
		{"abc", "abc"},
		{"abc\x00", "abc"},
		{"abc\x00\x00def", "abc"},
	}
	for _, tt := range tests {
		if got := wire.DecodeCookie([]byte(tt.in)); got != tt.want {
			t.Errorf("DecodeCookie(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// ---------------------------------------------------------------- states

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state wire.State
		b     byte
		name  string
	}{
		{wire.TestStart, 0x01, "TEST_START"},
		{wire.TestRunning, 0x02, "TEST_RUNNING"},
		{wire.TestEnd, 0x04, "TEST_END"},
		{wire.ParamExchange, 0x09, "PARAM_EXCHANGE"},
		{wire.CreateStreams, 0x0a, "CREATE_STREAMS"},
		{wire.ServerTerminate, 0x0b, "SERVER_TERMINATE"},
		{wire.ClientTerminate, 0x0c, "CLIENT_TERMINATE"},
		{wire.ExchangeResults, 0x0d, "EXCHANGE_RESULTS"},
		{wire.DisplayResults, 0x0e, "DISPLAY_RESULTS"},
		{wire.IperfDone, 0x10, "IPERF_DONE"},
		{wire.AccessDenied, 0xff, "ACCESS_DENIED"},
		{wire.ServerError, 0xfe, "SERVER_ERROR"},
		{wire.ExtAccept, 100, "FLOWSCOPE_EXT_ACCEPT"},
		{wire.Telemetry, 101, "FLOWSCOPE_TELEMETRY"},
		{wire.State(3), 0x03, "state(3)"},
		{wire.State(-128), 0x80, "state(-128)"},
		{wire.State(-3), 0xfd, "state(-3)"},
		{wire.State(127), 0x7f, "state(127)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := wire.WriteState(&buf, tt.state); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), []byte{tt.b}) {
				t.Fatalf("WriteState(%d) wrote % x, want %02x", tt.state, buf.Bytes(), tt.b)
			}
			got, err := wire.ReadState(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.state {
				t.Errorf("ReadState = %d, want %d", got, tt.state)
			}
			if s := got.String(); s != tt.name {
				t.Errorf("String() = %q, want %q", s, tt.name)
			}
		})
	}
}

func TestStateAllBytes(t *testing.T) {
	t.Parallel()
	for b := 0; b < 256; b++ {
		got, err := wire.ReadState(bytes.NewReader([]byte{byte(b)}))
		if err != nil {
			t.Fatal(err)
		}
		if int(got) != int(int8(b)) {
			t.Fatalf("ReadState(%#x) = %d, want %d", b, got, int8(b))
		}
	}
}

func TestStateErrors(t *testing.T) {
	t.Parallel()
	if _, err := wire.ReadState(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("ReadState(empty) err = %v, want io.EOF", err)
	}
	if err := wire.WriteState(errWriter{}, wire.TestEnd); !errors.Is(err, errBroken) {
		t.Errorf("WriteState to a broken writer: err = %v, want it to wrap %v", err, errBroken)
	}
}

// ---------------------------------------------------------------- messages

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"object", []byte("{}")},
		{"captured params", []byte(capturedUDPParams)},
		{"binary with NULs", []byte{0, 1, 2, 0xff, 0}},
		{"exactly MaxParamsSize", bytes.Repeat([]byte("x"), wire.MaxParamsSize)},
		{"larger than a bufio buffer", bytes.Repeat([]byte("0123456789"), 10_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := wire.WriteMessage(&buf, tt.payload); err != nil {
				t.Fatal(err)
			}
			wireBytes := buf.Bytes()
			if len(wireBytes) != 4+len(tt.payload) {
				t.Fatalf("wrote %d bytes, want %d", len(wireBytes), 4+len(tt.payload))
			}
			if n := binary.BigEndian.Uint32(wireBytes); n != uint32(len(tt.payload)) {
				t.Fatalf("length prefix %d, want %d (big-endian)", n, len(tt.payload))
			}
			// Exactly at the limit passes; one byte below the size fails.
			got, err := wire.ReadMessage(bytes.NewReader(wireBytes), len(tt.payload))
			if err != nil {
				t.Fatalf("ReadMessage(limit=len): %v", err)
			}
			if !bytes.Equal(got, tt.payload) {
				t.Errorf("ReadMessage = %q, want %q", got, tt.payload)
			}
			// Through the control-connection reader, followed by a state.
			r := wire.NewReader(io.MultiReader(bytes.NewReader(wireBytes), bytes.NewReader([]byte{0x0e})))
			if got, err = wire.ReadMessage(r, wire.MaxResultsSize); err != nil || !bytes.Equal(got, tt.payload) {
				t.Fatalf("ReadMessage via NewReader = %q, %v", got, err)
			}
			if s, err := wire.ReadState(r); err != nil || s != wire.DisplayResults {
				t.Errorf("state after message = %v, %v; want DISPLAY_RESULTS", s, err)
			}
			if len(tt.payload) > 0 {
				_, err := wire.ReadMessage(bytes.NewReader(wireBytes), len(tt.payload)-1)
				if !errors.Is(err, wire.ErrTooLarge) {
					t.Errorf("ReadMessage(limit=len-1) err = %v, want ErrTooLarge", err)
				}
			}
		})
	}
	if err := wire.WriteMessage(errWriter{}, []byte("{}")); !errors.Is(err, errBroken) {
		t.Errorf("WriteMessage to a broken writer: err = %v, want it to wrap %v", err, errBroken)
	}
}

func lengthPrefix(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

func TestReadMessageLimit(t *testing.T) {
	tests := []struct {
		name   string
		length uint32
		limit  int
	}{
		{"params over 8 KiB", wire.MaxParamsSize + 1, wire.MaxParamsSize},
		{"4 GiB params", math.MaxUint32, wire.MaxParamsSize},
		{"4 GiB results", math.MaxUint32, wire.MaxResultsSize},
		{"results just over", wire.MaxResultsSize + 1, wire.MaxResultsSize},
		{"zero limit", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The body is present but short: nothing must be read or
			// allocated for it once the length is over the limit.
			in := append(lengthPrefix(tt.length), "{}"...)
			const rounds = 50
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range rounds {
				r := bytes.NewReader(in)
				msg, err := wire.ReadMessage(r, tt.limit)
				if !errors.Is(err, wire.ErrTooLarge) {
					t.Fatalf("ReadMessage(len=%d, limit=%d) = %d bytes, %v; want ErrTooLarge", tt.length, tt.limit, len(msg), err)
				}
				if msg != nil {
					t.Fatalf("ReadMessage returned %d bytes with ErrTooLarge", len(msg))
				}
				if r.Len() != 2 {
					t.Fatalf("ReadMessage consumed %d body bytes of an oversized message", 2-r.Len())
				}
			}
			runtime.ReadMemStats(&after)
			if perCall := (after.TotalAlloc - before.TotalAlloc) / rounds; perCall > 16<<10 {
				t.Errorf("ReadMessage allocated %d bytes per rejected call, want a few hundred at most", perCall)
			}
		})
	}
	// Positive control: the measurement does see a message's allocation.
	t.Run("measurement sees an accepted 1 MiB message", func(t *testing.T) {
		in := append(lengthPrefix(1<<20), make([]byte, 1<<20)...)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		msg, err := wire.ReadMessage(bytes.NewReader(in), 1<<20)
		runtime.ReadMemStats(&after)
		if err != nil || len(msg) != 1<<20 {
			t.Fatalf("ReadMessage = %d bytes, %v", len(msg), err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d < 1<<20 {
			t.Errorf("TotalAlloc grew by %d bytes for a 1 MiB message: the allocation check is blind", d)
		}
	})
}

func TestReadMessageTruncated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       []byte
		wantErr  error
		inErrMsg string
	}{
		{"nothing", nil, io.EOF, "length"},
		{"half a length", []byte{0, 0}, io.ErrUnexpectedEOF, "length"},
		{"three bytes of length", []byte{0, 0, 0}, io.ErrUnexpectedEOF, "length"},
		{"length only", lengthPrefix(10), io.EOF, "body"},
		{"short body", append(lengthPrefix(10), "{\"tcp\""...), io.ErrUnexpectedEOF, "body"},
		{"one byte short", append(lengthPrefix(uint32(len(capturedUDPParams))), capturedUDPParams[:len(capturedUDPParams)-1]...), io.ErrUnexpectedEOF, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := wire.ReadMessage(bytes.NewReader(tt.in), wire.MaxParamsSize)
			if err == nil {
				t.Fatalf("ReadMessage = %q, want an error", msg)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantErr)
			}
			if errors.Is(err, wire.ErrTooLarge) {
				t.Errorf("err = %v: a truncated message is not ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), tt.inErrMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.inErrMsg)
			}
		})
	}
}

// TestCapturedControlStreams replays both directions of real 3.12 control
// connections through the package's readers, as a flowscope peer would.
func TestCapturedControlStreams(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"tcp-bidir", "udp-reverse"} {
		t.Run(name, func(t *testing.T) {
			// Client → server: cookie, params, TEST_END, results, IPERF_DONE.
			r := wire.NewReader(bytes.NewReader(readTestdata(t, name+".control-c2s.bin")))
			cookie, err := wire.ReadCookie(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(cookie) != 36 || strings.Trim(cookie, cookieAlphabet) != "" {
				t.Errorf("cookie %q is not 36 characters of the stock alphabet", cookie)
			}
			msg, err := wire.ReadMessage(r, wire.MaxParamsSize)
			if err != nil {
				t.Fatal(err)
			}
			if want := readTestdata(t, name+".params.json"); !bytes.Equal(msg, want) {
				t.Errorf("params = %s, want %s", msg, want)
			}
			if _, err := wire.UnmarshalParams(msg); err != nil {
				t.Error(err)
			}
			expectState(t, r, wire.TestEnd)
			if msg, err = wire.ReadMessage(r, wire.MaxResultsSize); err != nil {
				t.Fatal(err)
			}
			if _, err := wire.UnmarshalResults(msg); err != nil {
				t.Error(err)
			}
			expectState(t, r, wire.IperfDone)
			if _, err := wire.ReadState(r); !errors.Is(err, io.EOF) {
				t.Errorf("after IPERF_DONE: %v, want EOF", err)
			}

			// Server → client.
			r = wire.NewReader(bytes.NewReader(readTestdata(t, name+".control-s2c.bin")))
			for _, s := range []wire.State{wire.ParamExchange, wire.CreateStreams, wire.TestStart, wire.TestRunning, wire.ExchangeResults} {
				expectState(t, r, s)
			}
			if msg, err = wire.ReadMessage(r, wire.MaxResultsSize); err != nil {
				t.Fatal(err)
			}
			if want := readTestdata(t, name+".server-results.json"); !bytes.Equal(msg, want) {
				t.Errorf("server results = %s, want %s", msg, want)
			}
			expectState(t, r, wire.DisplayResults)
			if _, err := wire.ReadState(r); !errors.Is(err, io.EOF) {
				t.Errorf("after DISPLAY_RESULTS: %v, want EOF", err)
			}
		})
	}
}

func expectState(t *testing.T, r io.ByteReader, want wire.State) {
	t.Helper()
	got, err := wire.ReadState(r)
	if err != nil {
		t.Fatalf("waiting for %v: %v", want, err)
	}
	if got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

// ---------------------------------------------------------------- server errors

func TestWriteServerError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  wire.ErrorCode
		errno int32
		want  []byte
	}{
		// Captured from 3.12 for an unsatisfiable -w: 0xfe, 141, 0.
		{wire.ErrSetBuf2, 0, []byte{0xfe, 0, 0, 0, 141, 0, 0, 0, 0}},
		{wire.ErrRecvParams, 104, []byte{0xfe, 0, 0, 0, 114, 0, 0, 0, 104}},
		{wire.ErrFlowscopeParam, 0, []byte{0xfe, 0, 0, 0x03, 0xe8, 0, 0, 0, 0}},
		{-1, -1, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := wire.WriteServerError(&buf, tt.code, tt.errno); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), tt.want) {
			t.Errorf("WriteServerError(%d, %d) = % x, want % x", tt.code, tt.errno, buf.Bytes(), tt.want)
		}
		r := wire.NewReader(&buf)
		expectState(t, r, wire.ServerError)
		got := wire.ReadServerError(r)
		if got.Code != tt.code || got.Errno != tt.errno {
			t.Errorf("round trip = %+v, want code %d errno %d", *got, tt.code, tt.errno)
		}
	}
	if err := wire.WriteServerError(errWriter{}, wire.ErrAuth, 0); !errors.Is(err, errBroken) {
		t.Errorf("WriteServerError to a broken writer: err = %v, want it to wrap %v", err, errBroken)
	}
}

func TestReadServerError(t *testing.T) {
	t.Parallel()
	word := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	tests := []struct {
		name string
		in   []byte
		want wire.PeerError
	}{
		{"two words", append(word(141), word(0)...), wire.PeerError{Code: 141}},
		{"errno set", append(word(114), word(104)...), wire.PeerError{Code: 114, Errno: 104}},
		{"negative words", append(word(-5), word(-7)...), wire.PeerError{Code: -5, Errno: -7}},
		{"3.12 auth failure: one word then close", word(142), wire.PeerError{Code: 142}},
		{"one word and half an errno", append(word(142), 0, 0), wire.PeerError{Code: 142}},
		{"closed at once", nil, wire.PeerError{Code: -1}},
		{"half a code", []byte{0, 0, 0}, wire.PeerError{Code: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wire.ReadServerError(bytes.NewReader(tt.in))
			if got == nil {
				t.Fatal("ReadServerError returned nil")
			}
			if *got != tt.want {
				t.Errorf("ReadServerError(% x) = %+v, want %+v", tt.in, *got, tt.want)
			}
		})
	}
}

// TestReadServerErrorOneWordOverConn plays a 3.12 server that refuses the
// test with 0xfe and a single word (142) and then closes the connection.
func TestReadServerErrorOneWordOverConn(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		_, _ = server.Write([]byte{0xfe, 0, 0, 0, 142})
	}()
	if err := client.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(client)
	expectState(t, r, wire.ServerError)
	pe := wire.ReadServerError(r)
	if pe.Code != wire.ErrAuth || pe.Errno != 0 {
		t.Fatalf("ReadServerError = %+v, want code 142 errno 0", *pe)
	}
	if got, want := pe.Error(), "server error: test authorization failed"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestPeerErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code  wire.ErrorCode
		errno int32
		want  string
	}{
		{wire.ErrTotalRate, 0, "server error: total requested bitrate is above the server's limit"},
		{wire.ErrMaxDuration, 0, "server error: requested duration is above the server's limit"},
		{wire.ErrMessage, 0, "server error: received an unknown control message"},
		{wire.ErrRecvParams, 0, "server error: the server could not read the test parameters"},
		{wire.ErrRecvParams, 104, "server error: the server could not read the test parameters (errno 104)"},
		{wire.ErrAccessDenied, 0, "server error: access denied"},
		{wire.ErrSetBuf2, 0, "server error: socket buffer size not set correctly (the server's kernel limits -w)"},
		{wire.ErrAuth, 0, "server error: test authorization failed"},
		{wire.ErrNoMsg, 0, "server error: no data received for too long"},
		{wire.ErrServerTimeout, 0, "server error: the server's test duration expired"},
		{wire.ErrStreamID, 0, "server error: stream id mismatch in results"},
		{wire.ErrFlowscopeParam, 0, "server error: the server rejected a test parameter"},
		{999, 0, "server error: error 999"},
		{-1, 0, "server error: error -1"},
		{wire.ErrNumStreams, 0, "server error: too many parallel streams"},
		{wire.ErrNoSCTP, 0, "server error: protocol not supported (only TCP and UDP)"},
		{3, 22, "server error: error 3 (errno 22)"},
	}
	for _, tt := range tests {
		pe := &wire.PeerError{Code: tt.code, Errno: tt.errno}
		if got := pe.Error(); got != tt.want {
			t.Errorf("PeerError{%d, %d}.Error() = %q, want %q", tt.code, tt.errno, got, tt.want)
		}
	}
	// A PeerError survives wrapping.
	var err error = fmt.Errorf("test refused: %w", &wire.PeerError{Code: wire.ErrSetBuf2})
	var pe *wire.PeerError
	if !errors.As(err, &pe) || pe.Code != wire.ErrSetBuf2 {
		t.Errorf("errors.As(%v) = %v", err, pe)
	}
}

// ---------------------------------------------------------------- params

// capturedParams are the parameter documents of stock 3.12 clients in
// testdata, decoded by hand.
var capturedParams = []struct {
	file string
	want wire.Params
}{
	{"tcp-bidir.params.json", wire.Params{
		TCP: true, Time: 1, Parallel: 2, Bidirectional: true, Len: 131072, PacingTimer: 1000, ClientVersion: "3.12",
	}},
	{"tcp-bidir-window.params.json", wire.Params{
		TCP: true, Time: 1, Parallel: 2, Bidirectional: true, Window: 262144, Len: 131072, PacingTimer: 1000,
		Title: "bidir run", Congestion: "cubic", ClientVersion: "3.12",
	}},
	{"tcp-options.params.json", wire.Params{
		TCP: true, Omit: 1, Time: 1, MSS: 1400, NoDelay: true, Parallel: 2, Window: 262144, Len: 65536,
		FQRate: 100000000, PacingTimer: 2000, TOS: 16, Title: "run1", ExtraData: "lab", Congestion: "cubic",
		GetServerOutput: true, RepeatingLoad: true, ZeroCopy: true, ClientVersion: "3.12",
	}},
	{"tcp-reverse.params.json", wire.Params{
		TCP: true, Time: 1, Parallel: 1, Reverse: true, Len: 131072, PacingTimer: 1000, ClientVersion: "3.12",
	}},
	{"udp-reverse.params.json", wire.Params{
		UDP: true, Time: 2, Parallel: 1, Reverse: true, Len: 32768, Bandwidth: 1000000, PacingTimer: 1000,
		GetServerOutput: true, UDPCounters64: true, ClientVersion: "3.12",
	}},
	{"udp-bidir.params.json", wire.Params{
		UDP: true, Time: 1, Parallel: 2, Bidirectional: true, Len: 32768, Bandwidth: 2000000, PacingTimer: 1000,
		ClientVersion: "3.12",
	}},
}

func TestUnmarshalParamsCaptured(t *testing.T) {
	t.Parallel()
	for _, tt := range capturedParams {
		t.Run(tt.file, func(t *testing.T) {
			doc := readTestdata(t, tt.file)
			p, err := wire.UnmarshalParams(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("UnmarshalParams(%s)\n got %+v\nwant %+v", doc, *p, tt.want)
			}
			// Marshal reproduces the stock client's bytes exactly: same
			// keys, same order, compact.
			if got := p.Marshal(); !bytes.Equal(got, doc) {
				t.Errorf("Marshal differs from the stock client:\n got %s\nwant %s", got, doc)
			}
		})
	}
	// The document quoted in the protocol notes is the same capture.
	if got := string(readTestdata(t, "udp-reverse.params.json")); got != capturedUDPParams {
		t.Errorf("testdata udp-reverse.params.json = %s, want %s", got, capturedUDPParams)
	}
}

func TestParamsMarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    wire.Params
		want string
	}{
		{
			"zero value: only the always-sent numbers",
			wire.Params{},
			`{"omit":0,"time":0,"num":0,"blockcount":0,"parallel":0,"len":0,"pacing_timer":0}`,
		},
		{
			"captured UDP document",
			wire.Params{UDP: true, Time: 2, Parallel: 1, Reverse: true, Len: 32768, Bandwidth: 1000000, PacingTimer: 1000, GetServerOutput: true, UDPCounters64: true, ClientVersion: "3.12"},
			capturedUDPParams,
		},
		{
			"every key, in stock order",
			wire.Params{
				TCP: true, UDP: true, Omit: 1, Time: 2, Num: 3, BlockCount: 4, MSS: 5, NoDelay: true, Parallel: 6,
				Reverse: true, Bidirectional: true, Window: 7, Len: 8, Bandwidth: 9, FQRate: 10, PacingTimer: 11,
				Burst: 12, TOS: 13, FlowLabel: 14, Title: "t", ExtraData: "x", Congestion: "bbr",
				GetServerOutput: true, UDPCounters64: true, RepeatingLoad: true, ZeroCopy: true, DontFragment: true,
				SkipRxCopy: true, MPTCP: true, ClientVersion: "3.12",
				Flowscope: &wire.Extensions{Version: "0.1", Extensions: []string{wire.ExtRoles, wire.ExtDrain}},
			},
			`{"tcp":true,"udp":true,"omit":1,"time":2,"num":3,"blockcount":4,"MSS":5,"nodelay":true,"parallel":6,` +
				`"mptcp":true,"reverse":true,"bidirectional":true,"window":7,"len":8,"bandwidth":9,"fqrate":10,"pacing_timer":11,` +
				`"burst":12,"TOS":13,"flowlabel":14,"title":"t","extra_data":"x","congestion":"bbr",` +
				`"get_server_output":1,"udp_counters_64bit":1,"repeating_payload":1,"zerocopy":1,"dont_fragment":1,` +
				`"skip_rx_copy":1,"client_version":"3.12","flowscope":{"version":"0.1","extensions":["roles","drain"]}}`,
		},
		{
			"false flags are omitted entirely",
			wire.Params{TCP: true, Time: 10, Parallel: 1, Len: 131072, PacingTimer: 1000, Reverse: false, Bidirectional: false},
			`{"tcp":true,"omit":0,"time":10,"num":0,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000}`,
		},
		{
			"byte-limited test: time 0 is still sent",
			wire.Params{TCP: true, Num: 1 << 20, Parallel: 1, Len: 131072, PacingTimer: 1000},
			`{"tcp":true,"omit":0,"time":0,"num":1048576,"blockcount":0,"parallel":1,"len":131072,"pacing_timer":1000}`,
		},
		{
			"negative numbers as signed integers",
			wire.Params{TCP: true, Time: -1, Parallel: 1},
			`{"tcp":true,"omit":0,"time":-1,"num":0,"blockcount":0,"parallel":1,"len":0,"pacing_timer":0}`,
		},
		{
			"strings are JSON-escaped",
			wire.Params{TCP: true, Title: "a \"quoted\"\ttitle\n", ExtraData: "ü"},
			`{"tcp":true,"omit":0,"time":0,"num":0,"blockcount":0,"parallel":0,"len":0,"pacing_timer":0,"title":"a \"quoted\"\ttitle\n","extra_data":"ü"}`,
		},
		{
			"empty extension offer is still sent last",
			wire.Params{TCP: true, Flowscope: &wire.Extensions{}},
			`{"tcp":true,"omit":0,"time":0,"num":0,"blockcount":0,"parallel":0,"len":0,"pacing_timer":0,"flowscope":{"version":"","extensions":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.p.Marshal()
			if string(got) != tt.want {
				t.Errorf("Marshal\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("Marshal produced invalid JSON %s", got)
			}
			if bytes.Contains(got, []byte("false")) {
				t.Errorf("Marshal sent a false value: %s", got)
			}
		})
	}
}

// TestParamsMarshalFlagsOnlyWhenSet turns on one boolean at a time and
// checks that exactly that key appears: iperf3 3.12 treats any present key
// as on.
func TestParamsMarshalFlagsOnlyWhenSet(t *testing.T) {
	t.Parallel()
	keys := map[string]string{
		"TCP": "tcp", "UDP": "udp", "NoDelay": "nodelay", "Reverse": "reverse", "Bidirectional": "bidirectional",
		"GetServerOutput": "get_server_output", "UDPCounters64": "udp_counters_64bit",
		"RepeatingLoad": "repeating_payload", "ZeroCopy": "zerocopy", "DontFragment": "dont_fragment",
		"SkipRxCopy": "skip_rx_copy", "MPTCP": "mptcp",
	}
	base := keysOf(t, (&wire.Params{}).Marshal())
	typ := reflect.TypeFor[wire.Params]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Bool {
			continue
		}
		key, ok := keys[f.Name]
		if !ok {
			t.Errorf("Params.%s: new flag, add it to this test", f.Name)
			continue
		}
		var p wire.Params
		reflect.ValueOf(&p).Elem().Field(i).SetBool(true)
		got := keysOf(t, p.Marshal())
		want := append(slices.Clone(base), key)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Params{%s: true}.Marshal() keys = %v, want %v", f.Name, got, want)
		}
		back, err := wire.UnmarshalParams(p.Marshal())
		if err != nil || !reflect.DeepEqual(*back, p) {
			t.Errorf("Params{%s: true} round trip = %+v, %v", f.Name, back, err)
		}
	}
}

func keysOf(t *testing.T, doc []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestParamsKeyOrder(t *testing.T) {
	t.Parallel()
	p := wire.Params{TCP: true, Time: 10, Parallel: 4, Len: 131072, PacingTimer: 1000, Bidirectional: true,
		Window: 1 << 20, Title: "x", ClientVersion: "flowscope"}
	dec := json.NewDecoder(bytes.NewReader(p.Marshal()))
	var order []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"tcp", "omit", "time", "num", "blockcount", "parallel", "bidirectional", "window", "len", "pacing_timer", "title", "client_version"}
	if !slices.Equal(order, want) {
		t.Errorf("key order %v, want %v", order, want)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []wire.Params{
		{},
		{TCP: true, Time: 10, Parallel: 1, Len: 131072, PacingTimer: 1000, ClientVersion: "3.12"},
		{
			UDP: true, Omit: 2, Time: 30, Num: 5, BlockCount: 6, MSS: 1400, NoDelay: true, Parallel: 128,
			Reverse: true, Bidirectional: true, Window: 4 << 20, Len: 1460, Bandwidth: 1 << 30, FQRate: 1e9,
			PacingTimer: 1000, Burst: 10, TOS: 0xb8, FlowLabel: 0xfffff, Title: "tïtle \"x\"", ExtraData: "<&>",
			Congestion: "reno", GetServerOutput: true, UDPCounters64: true, RepeatingLoad: true, ZeroCopy: true,
			DontFragment: true, SkipRxCopy: true, ClientVersion: "flowscope 0.1",
			Flowscope: &wire.Extensions{Version: "1", Extensions: []string{wire.ExtRoles, wire.ExtManyStreams, wire.ExtDrain}},
		},
		{TCP: true, Time: math.MaxInt64, Num: math.MinInt64, Parallel: -1, Len: -1},
		{TCP: true, Flowscope: &wire.Extensions{Version: "2", Extensions: []string{}}},
	}
	for i, p := range tests {
		doc := p.Marshal()
		got, err := wire.UnmarshalParams(doc)
		if err != nil {
			t.Errorf("case %d: UnmarshalParams(%s): %v", i, doc, err)
			continue
		}
		if !reflect.DeepEqual(*got, p) {
			t.Errorf("case %d: round trip of %s\n got %+v\nwant %+v", i, doc, *got, p)
		}
	}
}

func TestUnmarshalParamsLenient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want wire.Params
	}{
		{"3.12 unsigned -1", `{"tcp":true,"omit":18446744073709551615,"time":18446744073709551615}`, wire.Params{TCP: true, Omit: -1, Time: -1}},
		{"2^63 wraps", `{"num":9223372036854775808}`, wire.Params{Num: math.MinInt64}},
		{"signed -1", `{"time":-1}`, wire.Params{Time: -1}},
		{"max int64", `{"num":9223372036854775807}`, wire.Params{Num: math.MaxInt64}},
		{"floats truncate", `{"time":10.0,"len":1.31072e5,"parallel":2.9}`, wire.Params{Time: 10, Len: 131072, Parallel: 2}},
		{"whitespace", " {\n \"tcp\" : true ,\t\"time\" : 3 } ", wire.Params{TCP: true, Time: 3}},
		{"flag true", `{"reverse":true}`, wire.Params{Reverse: true}},
		{"flag 1", `{"reverse":1}`, wire.Params{Reverse: true}},
		{"flag false", `{"reverse":false}`, wire.Params{}},
		{"flag 0", `{"reverse":0}`, wire.Params{}},
		{"flag 0.0", `{"reverse":0.0}`, wire.Params{}},
		{"flag null", `{"reverse":null}`, wire.Params{}},
		{"flag odd string counts as on", `{"nodelay":"yes"}`, wire.Params{NoDelay: true}},
		{"flag object counts as on", `{"zerocopy":{}}`, wire.Params{ZeroCopy: true}},
		{"int flag as true", `{"get_server_output":true,"udp_counters_64bit":2}`, wire.Params{GetServerOutput: true, UDPCounters64: true}},
		{"null string", `{"title":null}`, wire.Params{}},
		{"escaped string", `{"title":"\u00fc\n\"x\""}`, wire.Params{Title: "ü\n\"x\""}},
		{"known but unused keys", `{"sctp":true,"congestion_used":"bbr"}`, wire.Params{}},
		{"server affinity", `{"tcp":true,"server_affinity":1}`, wire.Params{TCP: true, ServerAffinity: ptr(int64(1))}},
		{"unknown keys are collected", `{"tcp":true,"authtoken":"abc","gso":1,"future":[1,2]}`, wire.Params{TCP: true, Unknown: []string{"authtoken", "future", "gso"}}},
		{"extension offer", `{"tcp":true,"flowscope":{"version":"0.1","extensions":["roles","many-streams"]}}`,
			wire.Params{TCP: true, Flowscope: &wire.Extensions{Version: "0.1", Extensions: []string{"roles", "many-streams"}}}},
		{"malformed extension offer is ignored", `{"tcp":true,"flowscope":"roles"}`, wire.Params{TCP: true}},
		{"empty object", `{}`, wire.Params{}},
		{"duplicate key: last wins", `{"time":1,"time":2}`, wire.Params{Time: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := wire.UnmarshalParams([]byte(tt.doc))
			if err != nil {
				t.Fatalf("UnmarshalParams(%s): %v", tt.doc, err)
			}
			slices.Sort(p.Unknown)
			if !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("UnmarshalParams(%s)\n got %+v\nwant %+v", tt.doc, *p, tt.want)
			}
		})
	}
}

func TestUnmarshalParamsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc string }{
		{"empty", ``},
		{"whitespace", "  \n"},
		{"null", `null`},
		{"array", `[{"tcp":true}]`},
		{"number", `42`},
		{"string", `"tcp"`},
		{"truncated", `{"tcp":tru`},
		{"truncated object", `{"tcp":true,"time":10`},
		{"trailing comma", `{"tcp":true,}`},
		{"time as string", `{"time":"10"}`},
		{"parallel as bool", `{"parallel":true}`},
		{"len as object", `{"len":{"v":1}}`},
		{"window as array", `{"window":[1]}`},
		{"number null", `{"omit":null}`},
		{"title as number", `{"title":5}`},
		{"congestion as array", `{"congestion":["bbr"]}`},
		{"client_version as bool", `{"client_version":true}`},
		{"out of range", `{"num":1e19}`},
		{"out of range negative", `{"num":-1e19}`},
		{"beyond uint64", `{"num":18446744073709551616}`},
		{"infinite", `{"time":1e400}`},
		{"binary", "\x00\xff\xfe"},
		{"text after the object", `{"tcp":true,"time":10} trailing`},
		{"second object", `{"tcp":true}{"udp":true}`},
		{"NUL after the object", "{\"tcp\":true}\x00"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := wire.UnmarshalParams([]byte(tt.doc))
			if err == nil {
				t.Fatalf("UnmarshalParams(%.60s) = %+v, want an error", tt.doc, *p)
			}
			if p != nil {
				t.Errorf("UnmarshalParams returned %+v along with error %v", *p, err)
			}
		})
	}
}

// ---------------------------------------------------------------- results

func TestUnmarshalResultsCaptured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file        string
		senderRetr  int64
		congestion  string
		ids         []int64
		retransmits []int64
		packets     int64 // of every stream
		outputText  string
		outputJSON  bool
	}{
		{"tcp-bidir.client-results.json", 1, "bbr", []int64{1, 3, 4, 5}, []int64{15, 14, -1, -1}, 0, "", false},
		{"tcp-bidir.server-results.json", 1, "bbr", []int64{1, 3, 4, 5}, []int64{-1, -1, 14, 23}, 0, "", false},
		{"tcp-bidir-window.client-results.json", 1, "cubic", []int64{1, 3, 4, 5}, []int64{6, 5, -1, -1}, 0, "", false},
		{"tcp-bidir-window.server-results.json", 1, "cubic", []int64{1, 3, 4, 5}, []int64{-1, -1, 5, 4}, 0, "", false},
		{"tcp-options.client-results.json", 1, "cubic", []int64{1, 3}, []int64{0, 0}, 0, "", false},
		{"tcp-options.server-results.json", -1, "cubic", []int64{1, 3}, []int64{-1, -1}, 0, "", true},
		{"tcp-reverse.client-results.json", -1, "bbr", []int64{1}, []int64{-1}, 0, "", false},
		{"tcp-reverse.server-results.json", 1, "bbr", []int64{1}, []int64{14}, 0, "", false},
		{"udp-reverse.client-results.json", -1, "", []int64{1}, []int64{-1}, 8, "", false},
		{"udp-reverse.server-results.json", 0, "", []int64{1}, []int64{-1}, 8, "Accepted connection from 127.0.0.1", false},
		{"udp-bidir.client-results.json", 0, "", []int64{1, 3, 4, 5}, []int64{-1, -1, -1, -1}, 8, "", false},
		{"udp-bidir.server-results.json", 0, "", []int64{1, 3, 4, 5}, []int64{-1, -1, -1, -1}, 8, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc := readTestdata(t, tt.file)
			r, err := wire.UnmarshalResults(doc)
			if err != nil {
				t.Fatal(err)
			}
			if r.SenderHasRetransmits != tt.senderRetr {
				t.Errorf("SenderHasRetransmits = %d, want %d", r.SenderHasRetransmits, tt.senderRetr)
			}
			if r.CongestionUsed != tt.congestion {
				t.Errorf("CongestionUsed = %q, want %q", r.CongestionUsed, tt.congestion)
			}
			if r.CPUTotal <= 0 || r.CPUTotal > 100 || r.CPUUser < 0 || r.CPUSystem < 0 {
				t.Errorf("CPU = %v/%v/%v, want percentages", r.CPUTotal, r.CPUUser, r.CPUSystem)
			}
			var ids, retr []int64
			for _, s := range r.Streams {
				ids = append(ids, s.ID)
				retr = append(retr, s.Retransmits)
				if s.Bytes <= 0 || s.Packets != tt.packets || s.StartTime != 0 || s.EndTime < 0.99 || s.EndTime > 2.1 || s.Jitter < 0 || s.Errors != 0 {
					t.Errorf("implausible stream %+v", s)
				}
			}
			if !slices.Equal(ids, tt.ids) || !slices.Equal(retr, tt.retransmits) {
				t.Errorf("ids %v retransmits %v, want %v %v", ids, retr, tt.ids, tt.retransmits)
			}
			if !strings.HasPrefix(r.ServerOutputText, tt.outputText) || (tt.outputText == "") != (r.ServerOutputText == "") {
				t.Errorf("ServerOutputText = %.60q, want prefix %q", r.ServerOutputText, tt.outputText)
			}
			if tt.outputJSON {
				var out struct {
					Start     map[string]any `json:"start"`
					Intervals []any          `json:"intervals"`
					End       map[string]any `json:"end"`
				}
				if err := json.Unmarshal(r.ServerOutputJSON, &out); err != nil || out.Start == nil || out.End == nil || len(out.Intervals) == 0 {
					t.Errorf("ServerOutputJSON = %.80s: %v", r.ServerOutputJSON, err)
				}
			} else if r.ServerOutputJSON != nil {
				t.Errorf("ServerOutputJSON = %.80s, want none", r.ServerOutputJSON)
			}
			checkResultsRoundTrip(t, r)
		})
	}
}

func TestUnmarshalResultsExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want wire.Results
	}{
		{
			"3.12 receiver with unsigned -1",
			`{"cpu_util_total":3.2,"cpu_util_user":0,"cpu_util_system":3.2,"sender_has_retransmits":18446744073709551615,` +
				`"congestion_used":"bbr","streams":[{"id":1,"bytes":5111808,"retransmits":18446744073709551615,"jitter":0,` +
				`"errors":0,"packets":0,"start_time":0,"end_time":2.000092}]}`,
			wire.Results{CPUTotal: 3.2, CPUSystem: 3.2, SenderHasRetransmits: -1, CongestionUsed: "bbr",
				Streams: []wire.StreamResults{{ID: 1, Bytes: 5111808, Retransmits: -1, EndTime: 2.000092}}},
		},
		{
			"3.14+ signed -1 and omitted_* keys",
			`{"cpu_util_total":1,"cpu_util_user":0.5,"cpu_util_system":0.5,"sender_has_retransmits":-1,"streams":[` +
				`{"id":1,"bytes":10,"retransmits":-1,"jitter":0.001,"errors":2,"omitted_errors":0,"packets":12,"omitted_packets":0,"start_time":0,"end_time":1}]}`,
			wire.Results{CPUTotal: 1, CPUUser: 0.5, CPUSystem: 0.5, SenderHasRetransmits: -1,
				Streams: []wire.StreamResults{{ID: 1, Bytes: 10, Retransmits: -1, Jitter: 0.001, Errors: 2, Packets: 12, EndTime: 1}}},
		},
		{
			"pre-3.2 peer: no start/end, no optional top-level keys",
			`{"streams":[{"id":1,"bytes":100,"retransmits":0,"jitter":0,"errors":0,"packets":0},{"id":3,"bytes":200}]}`,
			wire.Results{Streams: []wire.StreamResults{{ID: 1, Bytes: 100}, {ID: 3, Bytes: 200}}},
		},
		{
			"no streams at all",
			`{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":0,"streams":[]}`,
			wire.Results{Streams: []wire.StreamResults{}},
		},
		{
			// 2^63 as a float lies in the unsigned -1 range decodeFloat maps.
			// (18446744073709551615 itself rounds to 2^64 and is not mapped:
			// see the report in the wire test notes.)
			"float cpu in unsigned -1 range and integer floats",
			`{"cpu_util_total":9223372036854775808,"sender_has_retransmits":1.0,"streams":[{"id":1.0,"bytes":1e3}]}`,
			wire.Results{CPUTotal: -1, SenderHasRetransmits: 1, Streams: []wire.StreamResults{{ID: 1, Bytes: 1000}}},
		},
		{
			"unknown keys ignored, server output kept",
			`{"streams":[{"id":1,"bytes":1,"future":true}],"future":{"x":1},"server_output_text":"hi\n","server_output_json":{"start":{}}}`,
			wire.Results{Streams: []wire.StreamResults{{ID: 1, Bytes: 1}}, ServerOutputText: "hi\n", ServerOutputJSON: json.RawMessage(`{"start":{}}`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := wire.UnmarshalResults([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*r, tt.want) {
				t.Errorf("UnmarshalResults(%s)\n got %+v\nwant %+v", tt.doc, *r, tt.want)
			}
			checkResultsRoundTrip(t, r)
		})
	}
}

func TestUnmarshalResultsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, inMsg string }{
		{"empty", ``, ""},
		{"null", `null`, "not a JSON object"},
		{"array", `[]`, ""},
		{"truncated", `{"streams":[{"id":1,`, ""},
		{"missing streams", `{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0}`, "streams"},
		{"streams not an array", `{"streams":{"id":1}}`, "streams"},
		{"stream not an object", `{"streams":[1]}`, "streams"},
		{"stream without id", `{"streams":[{"bytes":1}]}`, `"id"`},
		{"stream without bytes", `{"streams":[{"id":1}]}`, `"bytes"`},
		{"null stream", `{"streams":[null]}`, `"id"`},
		{"id as string", `{"streams":[{"id":"1","bytes":1}]}`, `"id"`},
		{"bytes out of range", `{"streams":[{"id":1,"bytes":1e30}]}`, `"bytes"`},
		{"jitter as string", `{"streams":[{"id":1,"bytes":1,"jitter":"0"}]}`, `"jitter"`},
		{"retransmits as bool", `{"streams":[{"id":1,"bytes":1,"retransmits":true}]}`, `"retransmits"`},
		{"cpu as string", `{"cpu_util_total":"3","streams":[]}`, "cpu_util_total"},
		{"cpu infinite", `{"cpu_util_total":1e999,"streams":[]}`, "cpu_util_total"},
		{"sender_has_retransmits as null", `{"sender_has_retransmits":null,"streams":[]}`, "sender_has_retransmits"},
		{"second stream bad", `{"streams":[{"id":1,"bytes":1},{"id":3,"bytes":[]}]}`, "stream 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := wire.UnmarshalResults([]byte(tt.doc))
			if err == nil {
				t.Fatalf("UnmarshalResults(%s) = %+v, want an error", tt.doc, *r)
			}
			if r != nil {
				t.Errorf("UnmarshalResults returned %+v along with error %v", *r, err)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.inMsg)
			}
		})
	}
}

func TestResultsMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	r := &wire.Results{
		CPUTotal: 12.5, CPUUser: 2.25, CPUSystem: 10.25, SenderHasRetransmits: 1, CongestionUsed: "cubic",
		Streams: []wire.StreamResults{
			{ID: 1, Bytes: 5111808, Retransmits: 3, EndTime: 10.000092},
			{ID: 3, Bytes: 1 << 40, Retransmits: -1, Jitter: 1.5e-5, Errors: 7, Packets: 1000, StartTime: 0, EndTime: 9.99},
		},
		ServerOutputText: "text\n",
		ServerOutputJSON: json.RawMessage(`{"start":{"version":"iperf 3.12"}}`),
	}
	doc, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu_util_total":12.5`, `"sender_has_retransmits":1`, `"retransmits":-1`, `"streams":[{"id":1,`, `"end_time":10.000092`} {
		if !bytes.Contains(doc, []byte(key)) {
			t.Errorf("Marshal = %s, want it to contain %s", doc, key)
		}
	}
	got, err := wire.UnmarshalResults(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip\n got %+v\nwant %+v", *got, *r)
	}

	// Optional keys are left out when empty.
	doc, err = (&wire.Results{Streams: []wire.StreamResults{}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"cpu_util_total":0,"cpu_util_user":0,"cpu_util_system":0,"sender_has_retransmits":0,"streams":[]}`; string(doc) != want {
		t.Errorf("Marshal(empty) = %s, want %s", doc, want)
	}

	// Invalid embedded JSON is an error, not a panic.
	if _, err := (&wire.Results{ServerOutputJSON: json.RawMessage(`{`)}).Marshal(); err == nil {
		t.Error("Marshal with invalid server_output_json: no error")
	}
}

// checkResultsRoundTrip re-encodes a decoded document and decodes it again:
// nothing may change.
func checkResultsRoundTrip(t testing.TB, r *wire.Results) {
	t.Helper()
	doc, err := r.Marshal()
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", *r, err)
	}
	again, err := wire.UnmarshalResults(doc)
	if err != nil {
		t.Fatalf("UnmarshalResults(Marshal()) = %v for %s", err, doc)
	}
	want := *r
	want.ServerOutputJSON = normalizeJSON(t, want.ServerOutputJSON)
	again.ServerOutputJSON = normalizeJSON(t, again.ServerOutputJSON)
	if !reflect.DeepEqual(*again, want) {
		t.Fatalf("results round trip through %s\n got %+v\nwant %+v", doc, *again, want)
	}
}

// normalizeJSON compacts raw as json.Marshal does for a RawMessage.
func normalizeJSON(t testing.TB, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if raw == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("compact %.80s: %v", raw, err)
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, buf.Bytes())
	return esc.Bytes()
}

// ---------------------------------------------------------------- stream header

func TestStreamHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    wire.StreamHeader
		want []byte
	}{
		{wire.StreamHeader{Role: wire.ClientSends, Index: 0}, []byte{'F', 'S', 1, 0, 0, 0, 0, 0}},
		{wire.StreamHeader{Role: wire.ServerSends, Index: 1}, []byte{'F', 'S', 1, 1, 0, 0, 0, 1}},
		{wire.StreamHeader{Role: wire.ClientSends, Index: 255}, []byte{'F', 'S', 1, 0, 0, 0, 0, 0xff}},
		{wire.StreamHeader{Role: wire.ServerSends, Index: 256}, []byte{'F', 'S', 1, 1, 0, 0, 1, 0}},
		{wire.StreamHeader{Role: wire.ClientSends, Index: 0x01020304}, []byte{'F', 'S', 1, 0, 1, 2, 3, 4}},
		{wire.StreamHeader{Role: wire.ServerSends, Index: math.MaxUint32}, []byte{'F', 'S', 1, 1, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		b := tt.h.Encode()
		if len(b) != wire.StreamHeaderSize || !bytes.Equal(b, tt.want) {
			t.Errorf("%+v.Encode() = % x, want % x", tt.h, b, tt.want)
		}
		got, err := wire.DecodeStreamHeader(b)
		if err != nil || got != tt.h {
			t.Errorf("DecodeStreamHeader(% x) = %+v, %v; want %+v", b, got, err, tt.h)
		}
	}
}

func TestDecodeStreamHeaderRejects(t *testing.T) {
	t.Parallel()
	valid := wire.StreamHeader{Role: wire.ServerSends, Index: 7}.Encode()
	with := func(i int, v byte) []byte {
		b := slices.Clone(valid)
		b[i] = v
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		inMsg string
	}{
		{"empty", nil, "0 bytes"},
		{"7 bytes", valid[:7], "7 bytes"},
		{"9 bytes", append(slices.Clone(valid), 0), "9 bytes"},
		{"a cookie", wire.EncodeCookie(wire.NewCookie()), "37 bytes"},
		{"magic lower case", with(0, 'f'), "magic"},
		{"second magic byte", with(1, 'X'), "magic"},
		{"magic swapped", append([]byte("SF"), valid[2:]...), "magic"},
		{"all zero", make([]byte, 8), "magic"},
		{"version 0", with(2, 0), "version 0"},
		{"version 2", with(2, 2), "version 2"},
		{"version 255", with(2, 255), "version 255"},
		{"role 2", with(3, 2), "role 2"},
		{"role 255", with(3, 255), "role 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := wire.DecodeStreamHeader(tt.in)
			if err == nil {
				t.Fatalf("DecodeStreamHeader(% x) = %+v, want an error", tt.in, h)
			}
			if h != (wire.StreamHeader{}) {
				t.Errorf("DecodeStreamHeader returned %+v along with error", h)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.inMsg)
			}
		})
	}
}

// ---------------------------------------------------------------- stock iperf3

// TestStockIperf3Client lets Debian's iperf3 client talk to a minimal server
// built from this package: it must accept our PARAM_EXCHANGE, send
// parameters we decode, and give up with a non-zero exit status when we
// answer with SERVER_ERROR.
func TestStockIperf3Client(t *testing.T) {
	path, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 not installed (apt-get install iperf3): skipping the stock-client interoperability test")
	}
	if testing.Short() {
		t.Skip("skipping the stock iperf3 subprocess test in -short mode")
	}
	t.Parallel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	deadline := time.Now().Add(20 * time.Second)
	if err := ln.(*net.TCPListener).SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(5*time.Second))
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, path, "-c", "127.0.0.1", "-p", port, "-t", "1", "-P", "2", "--bidir")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v (iperf3 output: %s)", err, out.String())
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(conn)

	cookie, err := wire.ReadCookie(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(cookie) != 36 || strings.Trim(cookie, cookieAlphabet) != "" {
		t.Errorf("stock cookie %q is not 36 characters of %q", cookie, cookieAlphabet)
	}
	if err := wire.WriteState(conn, wire.ParamExchange); err != nil {
		t.Fatal(err)
	}
	doc, err := wire.ReadMessage(r, wire.MaxParamsSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stock client parameters: %s", doc)
	p, err := wire.UnmarshalParams(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !p.TCP || p.UDP || p.Parallel != 2 || !p.Bidirectional || p.Reverse || p.Time != 1 || p.Len <= 0 || p.ClientVersion == "" {
		t.Errorf("decoded %+v, want tcp, parallel 2, bidirectional, time 1", *p)
	}
	if p.ClientVersion == "3.12" {
		if len(p.Unknown) != 0 {
			t.Errorf("3.12 client sent keys we do not know: %v", p.Unknown)
		}
		if got := p.Marshal(); !bytes.Equal(got, doc) {
			t.Errorf("Marshal does not reproduce the 3.12 client's document:\n got %s\nwant %s", got, doc)
		}
	}

	// Refuse the test the way a stock server refuses an unsatisfiable -w.
	if err := wire.WriteServerError(conn, wire.ErrSetBuf2, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case waitErr = <-exited:
		waited = true
	case <-time.After(time.Until(deadline)):
		t.Fatalf("iperf3 did not exit after SERVER_ERROR; output: %s", out.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() == 0 {
		t.Fatalf("iperf3 exit = %v, want a non-zero exit status; output: %s", waitErr, out.String())
	}
	if !strings.Contains(out.String(), "socket buffer size not set correctly") {
		t.Errorf("iperf3 output %q does not report error 141 (IESETBUF2)", out.String())
	}
	// The client sends nothing more (no IPERF_DONE after SERVER_ERROR).
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Errorf("client sent % x after SERVER_ERROR, want nothing", rest)
	}
}

// lockedBuffer is a bytes.Buffer safe for the subprocess's output copiers
// and the test goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func ptr[T any](v T) *T { return &v }
