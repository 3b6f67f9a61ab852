package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ExtTelemetry: the server sends Telemetry messages (state 101 and a
// length-prefixed JSON document) during setup and once per interval.
const ExtTelemetry = "telemetry"

// Finding is a diagnosis as it travels in a Telemetry message.
type Finding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
	What     string `json:"what"`
	Evidence string `json:"evidence,omitempty"`
	Fix      string `json:"fix,omitempty"`
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
