package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/wire"
)

// Fuzz targets for every decoder that reads network bytes. Run one with
//
//	go test ./wire -run='^$' -fuzz=FuzzUnmarshalParams -fuzztime=10s
//
// Crashers land in testdata/fuzz/<Target>/ and are replayed by go test.

// addTestdata seeds f with every captured file whose name has suffix.
func addTestdata(f *testing.F, suffix string, add func([]byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "iperf3-3.12", "*"+suffix))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata *%s: %v", suffix, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add(append(lengthPrefix(uint32(len(capturedUDPParams))), capturedUDPParams...), uint16(wire.MaxParamsSize))
	f.Add(append(lengthPrefix(2), "{}"...), uint16(2))
	f.Add(append(lengthPrefix(3), "{}"...), uint16(100))       // truncated body
	f.Add(append(lengthPrefix(9000), "{}"...), uint16(8192))   // over the limit
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, '{', '}'}, uint16(0)) // 4 GiB claim
	f.Add([]byte{0, 0}, uint16(10))
	f.Add([]byte{}, uint16(10))
	f.Add(lengthPrefix(0), uint16(0))
	addTestdata(f, ".control-c2s.bin", func(b []byte) { f.Add(b[wire.CookieSize:], uint16(wire.MaxParamsSize)) })
	f.Fuzz(func(t *testing.T, data []byte, limit16 uint16) {
		limit := int(limit16)
		r := bytes.NewReader(data)
		msg, err := wire.ReadMessage(r, limit)
		if len(data) < 4 {
			if err == nil || errors.Is(err, wire.ErrTooLarge) {
				t.Fatalf("ReadMessage(% x) = %q, %v; want a truncation error", data, msg, err)
			}
			return
		}
		n := int(binary.BigEndian.Uint32(data))
		switch {
		case n > limit:
			if !errors.Is(err, wire.ErrTooLarge) || msg != nil {
				t.Fatalf("length %d > limit %d: got %d bytes, %v; want ErrTooLarge", n, limit, len(msg), err)
			}
			if r.Len() != len(data)-4 {
				t.Fatalf("an oversized message consumed %d body bytes", len(data)-4-r.Len())
			}
		case len(data)-4 < n:
			if err == nil || errors.Is(err, wire.ErrTooLarge) {
				t.Fatalf("truncated body (%d of %d): got %v", len(data)-4, n, err)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated body: err %v does not wrap io.EOF/io.ErrUnexpectedEOF", err)
			}
		default:
			if err != nil {
				t.Fatalf("complete message of %d bytes (limit %d): %v", n, limit, err)
			}
			if len(msg) != n || len(msg) > limit || !bytes.Equal(msg, data[4:4+n]) {
				t.Fatalf("ReadMessage = %q, want %q", msg, data[4:4+n])
			}
			if r.Len() != len(data)-4-n {
				t.Fatalf("ReadMessage read %d bytes past the message", len(data)-4-n-r.Len())
			}
			// Writing it back gives the same bytes.
			var buf bytes.Buffer
			if err := wire.WriteMessage(&buf, msg); err != nil || !bytes.Equal(buf.Bytes(), data[:4+n]) {
				t.Fatalf("WriteMessage(ReadMessage(x)) = % x, %v; want % x", buf.Bytes(), err, data[:4+n])
			}
		}
	})
}

func FuzzUnmarshalParams(f *testing.F) {
	addTestdata(f, ".params.json", func(b []byte) { f.Add(b) })
	f.Add([]byte(capturedUDPParams))
	f.Add([]byte(`{"tcp":true,"omit":18446744073709551615,"time":10.5,"parallel":1e2,"reverse":false,"nodelay":"yes"}`))
	f.Add([]byte(`{"tcp":true,"flowscope":{"version":"0.1","extensions":["roles","many-streams","drain"]},"future":[1]}`))
	f.Add([]byte(`{"flowscope":null,"title":null,"zerocopy":{},"gso":1}`))
	f.Add([]byte(`{"time":"10"}`))
	f.Add([]byte(`{"title":"\u00fc\ud800<&>"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"tcp":tru`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := wire.UnmarshalParams(data)
		if err != nil {
			if p != nil {
				t.Fatalf("UnmarshalParams returned %+v with error %v", *p, err)
			}
			return
		}
		doc := p.Marshal()
		if !json.Valid(doc) {
			t.Fatalf("Marshal produced invalid JSON %q from %q", doc, data)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(doc, &top); err != nil {
			t.Fatalf("Marshal output %s: %v", doc, err)
		}
		for k, v := range top {
			if s := string(v); s == "false" || s == "null" || s == "0" && isFlagKey(k) {
				t.Fatalf("Marshal sent %q: %s (3.12 treats a present key as on)", k+":"+s, doc)
			}
		}
		q, err := wire.UnmarshalParams(doc)
		if err != nil {
			t.Fatalf("UnmarshalParams(Marshal()) failed: %v\ninput %q\nmarshal %s", err, data, doc)
		}
		if len(q.Unknown) != 0 {
			t.Fatalf("Marshal emitted keys its own decoder does not know: %v", q.Unknown)
		}
		want := *p
		want.Unknown = nil
		if !reflect.DeepEqual(*q, want) {
			t.Fatalf("round trip changed the parameters\ninput %q\nmarshal %s\n got %+v\nwant %+v", data, doc, *q, want)
		}
		if again := q.Marshal(); !bytes.Equal(again, doc) {
			t.Fatalf("Marshal is not stable: %s then %s", doc, again)
		}
	})
}

// isFlagKey reports whether k is a parameter that 3.12 reads by presence.
func isFlagKey(k string) bool {
	switch k {
	case "tcp", "udp", "nodelay", "reverse", "bidirectional", "get_server_output", "udp_counters_64bit",
		"repeating_payload", "zerocopy", "dont_fragment", "skip_rx_copy":
		return true
	}
	return false
}

func FuzzUnmarshalResults(f *testing.F) {
	addTestdata(f, "-results.json", func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"cpu_util_total":3.2,"cpu_util_user":0,"cpu_util_system":3.2,"sender_has_retransmits":18446744073709551615,"streams":[{"id":1,"bytes":5111808,"retransmits":18446744073709551615,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":2.000092}]}`))
	f.Add([]byte(`{"streams":[{"id":1,"bytes":100},{"id":3,"bytes":1e3,"omitted_errors":0}],"server_output_json":{"a":[1,"<&>"]}}`))
	f.Add([]byte(`{"streams":[{"id":1,"bytes":1,"jitter":9223372036854775808}],"cpu_util_total":1e308}`))
	f.Add([]byte(`{"cpu_util_total":1}`))
	f.Add([]byte(`{"streams":null}`))
	f.Add([]byte(`{"streams":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := wire.UnmarshalResults(data)
		if err != nil {
			if r != nil {
				t.Fatalf("UnmarshalResults returned %+v with error %v", *r, err)
			}
			return
		}
		if r.Streams == nil {
			t.Fatalf("decoded results without a streams slice")
		}
		checkResultsRoundTrip(t, r)
	})
}

func FuzzDecodeStreamHeader(f *testing.F) {
	f.Add(wire.StreamHeader{Role: wire.ClientSends, Index: 0}.Encode())
	f.Add(wire.StreamHeader{Role: wire.ServerSends, Index: 1<<32 - 1}.Encode())
	f.Add([]byte("FS\x02\x00\x00\x00\x00\x00"))
	f.Add([]byte("FS\x01\x02\x00\x00\x00\x00"))
	f.Add([]byte("FS\x01\x00\x00\x00\x00"))
	f.Add(wire.EncodeCookie("qywzn2tnqqm6rtnjtfyptbwkaerhmcoeuajd")[:8])
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := wire.DecodeStreamHeader(data)
		wellFormed := len(data) == wire.StreamHeaderSize && data[0] == 'F' && data[1] == 'S' && data[2] == 1 && data[3] <= 1
		if err != nil {
			if wellFormed {
				t.Fatalf("DecodeStreamHeader(% x) rejected a well-formed header: %v", data, err)
			}
			if h != (wire.StreamHeader{}) {
				t.Fatalf("DecodeStreamHeader returned %+v with error %v", h, err)
			}
			return
		}
		if !wellFormed {
			t.Fatalf("DecodeStreamHeader(% x) accepted a malformed header as %+v", data, h)
		}
		if enc := h.Encode(); !bytes.Equal(enc, data) {
			t.Fatalf("Encode(Decode(% x)) = % x", data, enc)
		}
		if h.Index != binary.BigEndian.Uint32(data[4:]) || byte(h.Role) != data[3] {
			t.Fatalf("DecodeStreamHeader(% x) = %+v", data, h)
		}
	})
}

func FuzzReadServerError(f *testing.F) {
	f.Add([]byte{0, 0, 0, 141, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 142})
	f.Add([]byte{0, 0, 0, 114, 0, 0, 0, 104, 0x0e})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0})
	f.Add([]byte{0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		pe := wire.ReadServerError(bytes.NewReader(data))
		if pe == nil {
			t.Fatal("ReadServerError returned nil")
		}
		want := wire.PeerError{Code: -1}
		if len(data) >= 4 {
			want.Code = wire.ErrorCode(int32(binary.BigEndian.Uint32(data)))
		}
		if len(data) >= 8 {
			want.Errno = int32(binary.BigEndian.Uint32(data[4:]))
		}
		if *pe != want {
			t.Fatalf("ReadServerError(% x) = %+v, want %+v", data, *pe, want)
		}
		if msg := pe.Error(); !strings.HasPrefix(msg, "server error: ") {
			t.Fatalf("Error() = %q", msg)
		}
		// Writing it back and reading it after the state byte is lossless.
		var buf bytes.Buffer
		if err := wire.WriteServerError(&buf, pe.Code, pe.Errno); err != nil {
			t.Fatal(err)
		}
		r := wire.NewReader(&buf)
		if s, err := wire.ReadState(r); err != nil || s != wire.ServerError {
			t.Fatalf("state %v, %v; want SERVER_ERROR", s, err)
		}
		if back := wire.ReadServerError(r); *back != *pe {
			t.Fatalf("round trip %+v, want %+v", *back, *pe)
		}
	})
}

func FuzzReadCookie(f *testing.F) {
	addTestdata(f, ".control-c2s.bin", func(b []byte) { f.Add(b) })
	f.Add(wire.EncodeCookie("qywzn2tnqqm6rtnjtfyptbwkaerhmcoeuajd"))
	f.Add([]byte(strings.Repeat("a", 40)))
	f.Add(append([]byte("abc\x00def"), make([]byte, 30)...))
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		c, err := wire.ReadCookie(r)
		if len(data) < wire.CookieSize {
			if err == nil {
				t.Fatalf("ReadCookie(%q) = %q from %d bytes, want an error", data, c, len(data))
			}
			return
		}
		if err != nil {
			t.Fatalf("ReadCookie(%q): %v", data, err)
		}
		if r.Len() != len(data)-wire.CookieSize {
			t.Fatalf("ReadCookie consumed %d bytes, want %d", len(data)-r.Len(), wire.CookieSize)
		}
		want := data[:wire.CookieSize]
		if i := bytes.IndexByte(want, 0); i >= 0 {
			want = want[:i]
		}
		if c != string(want) {
			t.Fatalf("ReadCookie(%q) = %q, want %q", data[:wire.CookieSize], c, want)
		}
		if wire.DecodeCookie(data[:wire.CookieSize]) != c {
			t.Fatalf("DecodeCookie and ReadCookie disagree on %q", data[:wire.CookieSize])
		}
		// A cookie of at most 36 bytes survives encoding.
		if len(c) < wire.CookieSize {
			back, err := wire.ReadCookie(bytes.NewReader(wire.EncodeCookie(c)))
			if err != nil || back != c {
				t.Fatalf("ReadCookie(EncodeCookie(%q)) = %q, %v", c, back, err)
			}
		}
	})
}

func FuzzUnmarshalTelemetry(f *testing.F) {
	f.Add([]byte(`{"phase":"setup","findings":[{"severity":"warning","kind":"backlog-small","what":"x","evidence":"y","fix":"z"}],"counters":{"TcpExt.ListenOverflows":12},"backlog":16}`))
	f.Add([]byte(`{"phase":"interval"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.UnmarshalTelemetry(data)
		if err != nil {
			return
		}
		b, err := wire.EncodeTelemetry(m)
		if err != nil {
			t.Fatal(err)
		}
		if wire.State(int8(b[0])) != wire.Telemetry {
			t.Fatal("bad state byte")
		}
		m2, err := wire.UnmarshalTelemetry(b[5:])
		if err != nil || m2.Phase != m.Phase || len(m2.Findings) != len(m.Findings) {
			t.Fatalf("round trip: %v %+v %+v", err, m, m2)
		}
	})
}

func FuzzDecodeAuth(f *testing.F) {
	f.Add([]byte(`{"nonce":"00112233445566778899aabbccddeeff"}`))
	f.Add([]byte(`{"mac":"` + strings.Repeat("ab", 32) + `"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := wire.DecodeAuthChallenge(b); err == nil && (len(n) < 16 || len(n) > 64) {
			t.Fatalf("nonce of %d bytes accepted", len(n))
		}
		if m, err := wire.DecodeAuthResponse(b); err == nil && len(m) != 32 {
			t.Fatalf("MAC of %d bytes accepted", len(m))
		}
	})
}
