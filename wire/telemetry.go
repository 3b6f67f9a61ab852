package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ExtTelemetry: the server sends Telemetry messages (state 101 and a
// length-prefixed JSON document) during setup and once per interval.
const ExtTelemetry = "telemetry"

// ExtClientView: the client sends the server the sender's view of the
// streams it sends (and its counts for the UDP streams it receives) in
// Telemetry messages of phase "interval", between TEST_RUNNING and
// TEST_END; they carry Streams only.
const ExtClientView = "client-view"

// Finding is a diagnosis as it travels in a Telemetry message.
type Finding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	What     string `json:"what"`
	Evidence string `json:"evidence,omitempty"`
	Fix      string `json:"fix,omitempty"`
	// Direction: "client-to-server", "server-to-client" or "" (the test).
	Direction string `json:"direction,omitempty"`
	// Streams are the ids it concerns.
	Streams []int `json:"streams,omitempty"`
	// Start and End are seconds on the sender's test clock; End is absent
	// while the finding holds. A peer's entry with the same kind,
	// direction and start is the same entry, updated.
	Start float64  `json:"start"`
	End   *float64 `json:"end,omitempty"`
}

// TelemetryMsg is what a flowscope server tells a flowscope client about
// its side of the test.
type TelemetryMsg struct {
	// Phase is "setup", "interval" or "end".
	Phase string `json:"phase"`
	// Findings are new diagnoses made by the server.
	Findings []Finding `json:"findings,omitempty"`
	// Counters are the server host's kernel counter increases since the
	// parameters arrived ("TcpExt.ListenOverflows", …).
	Counters map[string]int64 `json:"counters,omitempty"`
	// Backlog is the server listener's backlog; AcceptQueue its current
	// accept-queue length.
	Backlog     int64 `json:"backlog,omitempty"`
	AcceptQueue int64 `json:"accept_queue,omitempty"`
	// Streams are the sender's view of the interval's streams (the
	// sender-view extension, part of telemetry): what the server's kernel
	// says of the streams it sends, its counts for the UDP streams it
	// receives, and its verdict on streams with a problem.
	Streams []StreamView `json:"streams,omitempty"`
}

// StreamView is one stream in one interval as the server sees it. Keys
// are short: a message may carry a thousand of them.
type StreamView struct {
	ID     int      `json:"id"`
	State  string   `json:"st,omitempty"`
	Reason string   `json:"why,omitempty"`
	TCP    *TCPView `json:"tcp,omitempty"`
	UDP    *UDPView `json:"udp,omitempty"`
}

// TCPView is a sending socket's TCP_INFO (times in µs, sizes in bytes;
// Busy, RwndLimited and SndbufLimited cumulative).
type TCPView struct {
	Retransmits   uint64 `json:"retr,omitempty"`
	Cwnd          uint64 `json:"cwnd,omitempty"`
	SndWnd        uint64 `json:"wnd,omitempty"`
	RTT           uint32 `json:"rtt,omitempty"`
	RTTVar        uint32 `json:"rttvar,omitempty"`
	RTO           uint32 `json:"rto,omitempty"`
	Backoff       uint8  `json:"backoff,omitempty"`
	CAState       uint8  `json:"ca,omitempty"`
	Unacked       uint32 `json:"unacked,omitempty"`
	NotSent       uint32 `json:"notsent,omitempty"`
	Lost          uint32 `json:"lost,omitempty"`
	Delivery      uint64 `json:"rate,omitempty"`
	Busy          uint64 `json:"busy,omitempty"`
	RwndLimited   uint64 `json:"rwndlim,omitempty"`
	SndbufLimited uint64 `json:"sndbuflim,omitempty"`
}

// UDPView is a UDP receiver's counts for the interval (jitter in seconds).
type UDPView struct {
	Packets    uint64  `json:"pkts,omitempty"`
	Lost       int64   `json:"lost,omitempty"`
	OutOfOrder uint64  `json:"ooo,omitempty"`
	Duplicates uint64  `json:"dup,omitempty"`
	Jitter     float64 `json:"jitter,omitempty"`
}

// MaxTelemetrySize bounds one telemetry document.
const MaxTelemetrySize = 1 << 20

// Marshal encodes m.
func (m *TelemetryMsg) Marshal() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode telemetry: %w", err)
	}
	return b, nil
}

// UnmarshalTelemetry decodes a telemetry document.
func UnmarshalTelemetry(data []byte) (*TelemetryMsg, error) {
	var m TelemetryMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode telemetry: %w", err)
	}
	if m.Phase == "" {
		return nil, errors.New("decode telemetry: no phase")
	}
	return &m, nil
}

// EncodeTelemetry returns the state byte and framed document as one buffer,
// so a writer that holds a lock sends it in one call.
func EncodeTelemetry(m *TelemetryMsg) ([]byte, error) {
	js, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+len(js))
	b = append(b, byte(Telemetry))
	b = append(b, byte(len(js)>>24), byte(len(js)>>16), byte(len(js)>>8), byte(len(js)))
	return append(b, js...), nil
}
