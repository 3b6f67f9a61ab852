package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// ExtKey is the parameter key a flowscope client adds to announce its
// extensions. Stock iperf3 servers ignore unknown keys.
const ExtKey = "flowscope"

// Extension names negotiated between flowscope peers.
const (
	// ExtRoles: every data connection sends a StreamHeader after the cookie,
	// so the server never infers roles from accept order.
	ExtRoles = "roles"
	// ExtManyStreams: more than 128 streams per direction.
	ExtManyStreams = "many-streams"
	// ExtDrain: senders shut down their write side at the end and receivers
	// read to EOF, so receiver totals equal sender totals exactly.
	ExtDrain = "drain"
)

// Extensions is the flowscope extension offer (client) or acceptance
// (server).
type Extensions struct {
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
	// ReverseBitrate is the per-stream rate of the server's sending streams
	// in a bidirectional test, when it differs from "bandwidth" (bit/s).
	ReverseBitrate int64 `json:"reverse_bitrate,omitempty"`
	// NoGSO asks the server to send and receive UDP one datagram per
	// system call (no UDP GSO/GRO batching).
	NoGSO bool `json:"no_gso,omitempty"`
}

// Has reports whether name is among the extensions.
func (e *Extensions) Has(name string) bool {
	if e == nil {
		return false
	}
	for _, x := range e.Extensions {
		if x == name {
			return true
		}
	}
	return false
}

// Params is the test description a client sends after PARAM_EXCHANGE.
// Boolean flags are sent only when set: iperf3 3.12 treats a present key as
// "on" whatever its value.
type Params struct {
	TCP, UDP        bool
	Omit            int64 // seconds
	Time            int64 // seconds, 0 for byte- or block-limited tests
	Num             int64 // bytes
	BlockCount      int64
	MSS             int64
	NoDelay         bool
	Parallel        int64
	Reverse         bool
	Bidirectional   bool
	Window          int64
	Len             int64
	Bandwidth       int64 // bit/s per stream
	FQRate          int64
	PacingTimer     int64
	Burst           int64
	TOS             int64
	FlowLabel       int64
	Title           string
	ExtraData       string
	Congestion      string
	GetServerOutput bool
	UDPCounters64   bool
	RepeatingLoad   bool
	ZeroCopy        bool
	DontFragment    bool
	SkipRxCopy      bool
	MPTCP           bool // iperf3 3.19's -m: the client's connections use MPTCP
	ClientVersion   string
	// ServerAffinity is the CPU the server should pin itself to (-A n,m);
	// nil when not asked.
	ServerAffinity *int64
	// Flowscope is the extension offer; nil from stock iperf3 clients.
	Flowscope *Extensions
	// Unknown lists keys this decoder does not know, for diagnostics.
	Unknown []string
}

// Marshal encodes p as compact JSON in the key order a stock client uses.
func (p *Params) Marshal() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	key := func(k string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
	}
	flag := func(k string, on bool) {
		if on {
			key(k)
			b.WriteString("true")
		}
	}
	num := func(k string, v int64) {
		key(k)
		b.WriteString(strconv.FormatInt(v, 10))
	}
	optNum := func(k string, v int64) {
		if v != 0 {
			num(k, v)
		}
	}
	intFlag := func(k string, on bool) {
		if on {
			num(k, 1)
		}
	}
	str := func(k, v string) {
		if v != "" {
			key(k)
			js, _ := json.Marshal(v)
			b.Write(js)
		}
	}
	flag("tcp", p.TCP)
	flag("udp", p.UDP)
	num("omit", p.Omit)
	if p.ServerAffinity != nil {
		num("server_affinity", *p.ServerAffinity)
	}
	num("time", p.Time)
	num("num", p.Num)
	num("blockcount", p.BlockCount)
	optNum("MSS", p.MSS)
	flag("nodelay", p.NoDelay)
	num("parallel", p.Parallel)
	flag("mptcp", p.MPTCP)
	flag("reverse", p.Reverse)
	flag("bidirectional", p.Bidirectional)
	optNum("window", p.Window)
	num("len", p.Len)
	optNum("bandwidth", p.Bandwidth)
	optNum("fqrate", p.FQRate)
	num("pacing_timer", p.PacingTimer)
	optNum("burst", p.Burst)
	optNum("TOS", p.TOS)
	optNum("flowlabel", p.FlowLabel)
	str("title", p.Title)
	str("extra_data", p.ExtraData)
	str("congestion", p.Congestion)
	intFlag("get_server_output", p.GetServerOutput)
	intFlag("udp_counters_64bit", p.UDPCounters64)
	intFlag("repeating_payload", p.RepeatingLoad)
	intFlag("zerocopy", p.ZeroCopy)
	intFlag("dont_fragment", p.DontFragment)
	intFlag("skip_rx_copy", p.SkipRxCopy)
	str("client_version", p.ClientVersion)
	if p.Flowscope != nil {
		key(ExtKey)
		js, _ := json.Marshal(p.Flowscope)
		b.Write(js)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// UnmarshalParams decodes a parameter document leniently, as peers of every
// iperf3 version write it: a flag is on when present with a true or non-zero
// value, numbers may be 3.12's unsigned form of negatives, unknown keys are
// collected and otherwise ignored.
func UnmarshalParams(data []byte) (*Params, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode parameters: %w", err)
	}
	if m == nil {
		return nil, errors.New("decode parameters: not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode parameters: text after the JSON object")
	}
	p := &Params{}
	var firstErr error
	num := func(k string, dst *int64) {
		if raw, ok := m[k]; ok {
			v, err := decodeInt(raw)
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("parameter %q: %w", k, err)
			}
			*dst = v
		}
	}
	flag := func(k string, dst *bool) {
		if raw, ok := m[k]; ok {
			*dst = decodeFlag(raw)
		}
	}
	str := func(k string, dst *string) {
		if raw, ok := m[k]; ok {
			if err := json.Unmarshal(raw, dst); err != nil && firstErr == nil {
				firstErr = fmt.Errorf("parameter %q: not a string", k)
			}
		}
	}
	known := map[string]bool{}
	for _, k := range []string{"tcp", "udp", "sctp", "omit", "time", "num", "blockcount", "MSS", "nodelay",
		"parallel", "reverse", "bidirectional", "window", "len", "bandwidth", "fqrate", "pacing_timer", "burst",
		"TOS", "flowlabel", "title", "extra_data", "congestion", "congestion_used", "get_server_output",
		"udp_counters_64bit", "repeating_payload", "zerocopy", "dont_fragment", "skip_rx_copy", "client_version",
		"server_affinity", "mptcp", ExtKey} {
		known[k] = true
	}
	flag("tcp", &p.TCP)
	flag("udp", &p.UDP)
	if _, ok := m["server_affinity"]; ok {
		var a int64
		num("server_affinity", &a)
		p.ServerAffinity = &a
	}
	num("omit", &p.Omit)
	num("time", &p.Time)
	num("num", &p.Num)
	num("blockcount", &p.BlockCount)
	num("MSS", &p.MSS)
	flag("nodelay", &p.NoDelay)
	num("parallel", &p.Parallel)
	flag("mptcp", &p.MPTCP)
	flag("reverse", &p.Reverse)
	flag("bidirectional", &p.Bidirectional)
	num("window", &p.Window)
	num("len", &p.Len)
	num("bandwidth", &p.Bandwidth)
	num("fqrate", &p.FQRate)
	num("pacing_timer", &p.PacingTimer)
	num("burst", &p.Burst)
	num("TOS", &p.TOS)
	num("flowlabel", &p.FlowLabel)
	str("title", &p.Title)
	str("extra_data", &p.ExtraData)
	str("congestion", &p.Congestion)
	flag("get_server_output", &p.GetServerOutput)
	flag("udp_counters_64bit", &p.UDPCounters64)
	flag("repeating_payload", &p.RepeatingLoad)
	flag("zerocopy", &p.ZeroCopy)
	flag("dont_fragment", &p.DontFragment)
	flag("skip_rx_copy", &p.SkipRxCopy)
	str("client_version", &p.ClientVersion)
	if raw, ok := m[ExtKey]; ok {
		var e Extensions
		if err := json.Unmarshal(raw, &e); err == nil {
			p.Flowscope = &e
		}
	}
	for k := range m {
		if !known[k] {
			p.Unknown = append(p.Unknown, k)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return p, nil
}

// decodeFlag treats true and non-zero numbers as on.
func decodeFlag(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	switch s {
	case "true":
		return true
	case "false", "null", "0", "":
		return false
	}
	if v, err := decodeInt(raw); err == nil {
		return v != 0
	}
	return true // present with an odd value: 3.12 would call it on
}

// decodeInt decodes a JSON number as int64. Values in [2^63, 2^64) are
// 3.12's unsigned rendering of negative numbers and map back to them.
func decodeInt(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return int64(u), nil // wraps 2^64-1 to -1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number: %.20q", s)
	}
	if f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, fmt.Errorf("number out of range: %.20q", s)
	}
	return int64(f), nil
}
