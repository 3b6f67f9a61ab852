package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// StreamResults is one stream's line in a results document.
type StreamResults struct {
	ID          int64   `json:"id"`
	Bytes       int64   `json:"bytes"`
	Retransmits int64   `json:"retransmits"`
	Jitter      float64 `json:"jitter"`
	Errors      int64   `json:"errors"`
	// OmittedErrors and OmittedPackets are the counts of the omitted
	// seconds (-O) within Errors and Packets (iperf3 >= 3.13; a 3.21
	// client without them shows a UDP sender's datagrams as 0).
	OmittedErrors  int64   `json:"omitted_errors"`
	Packets        int64   `json:"packets"`
	OmittedPackets int64   `json:"omitted_packets"`
	StartTime      float64 `json:"start_time"`
	EndTime        float64 `json:"end_time"`
}

// Results is the document each side sends during EXCHANGE_RESULTS.
type Results struct {
	CPUTotal             float64         `json:"cpu_util_total"`
	CPUUser              float64         `json:"cpu_util_user"`
	CPUSystem            float64         `json:"cpu_util_system"`
	SenderHasRetransmits int64           `json:"sender_has_retransmits"`
	CongestionUsed       string          `json:"congestion_used,omitempty"`
	Streams              []StreamResults `json:"streams"`
	ServerOutputText     string          `json:"server_output_text,omitempty"`
	ServerOutputJSON     json.RawMessage `json:"server_output_json,omitempty"`
}

// Marshal encodes r as compact JSON.
func (r *Results) Marshal() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode results: %w", err)
	}
	return b, nil
}

// UnmarshalResults decodes a peer's results leniently: numbers may be 3.12's
// unsigned rendering of -1, optional keys may be missing, unknown keys are
// ignored. A document without "streams" is an error.
func UnmarshalResults(data []byte) (*Results, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode results: %w", err)
	}
	if m == nil {
		return nil, errors.New("decode results: not a JSON object")
	}
	r := &Results{}
	var err error
	getF := func(k string, dst *float64, required bool) {
		raw, ok := m[k]
		if !ok {
			if required && err == nil {
				err = fmt.Errorf("decode results: missing %q", k)
			}
			return
		}
		v, e := decodeFloat(raw)
		if e != nil && err == nil {
			err = fmt.Errorf("decode results: %q: %w", k, e)
		}
		*dst = v
	}
	getF("cpu_util_total", &r.CPUTotal, false)
	getF("cpu_util_user", &r.CPUUser, false)
	getF("cpu_util_system", &r.CPUSystem, false)
	if raw, ok := m["sender_has_retransmits"]; ok {
		v, e := decodeInt(raw)
		if e != nil && err == nil {
			err = fmt.Errorf("decode results: sender_has_retransmits: %w", e)
		}
		r.SenderHasRetransmits = v
	}
	if raw, ok := m["congestion_used"]; ok {
		_ = json.Unmarshal(raw, &r.CongestionUsed)
	}
	if raw, ok := m["server_output_text"]; ok {
		_ = json.Unmarshal(raw, &r.ServerOutputText)
	}
	if raw, ok := m["server_output_json"]; ok {
		r.ServerOutputJSON = raw
	}
	raw, ok := m["streams"]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil, errors.New("decode results: missing \"streams\"")
	}
	var streams []map[string]json.RawMessage
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if e := dec.Decode(&streams); e != nil {
		return nil, fmt.Errorf("decode results streams: %w", e)
	}
	r.Streams = make([]StreamResults, 0, len(streams))
	for i, sm := range streams {
		var s StreamResults
		intField := func(k string, dst *int64, required bool) {
			raw, ok := sm[k]
			if !ok {
				if required && err == nil {
					err = fmt.Errorf("decode results: stream %d: missing %q", i, k)
				}
				return
			}
			v, e := decodeInt(raw)
			if e != nil && err == nil {
				err = fmt.Errorf("decode results: stream %d: %q: %w", i, k, e)
			}
			*dst = v
		}
		floatField := func(k string, dst *float64) {
			if raw, ok := sm[k]; ok {
				v, e := decodeFloat(raw)
				if e != nil && err == nil {
					err = fmt.Errorf("decode results: stream %d: %q: %w", i, k, e)
				}
				*dst = v
			}
		}
		intField("id", &s.ID, true)
		intField("bytes", &s.Bytes, true)
		intField("retransmits", &s.Retransmits, false)
		floatField("jitter", &s.Jitter)
		intField("errors", &s.Errors, false)
		intField("omitted_errors", &s.OmittedErrors, false)
		intField("packets", &s.Packets, false)
		intField("omitted_packets", &s.OmittedPackets, false)
		floatField("start_time", &s.StartTime)
		floatField("end_time", &s.EndTime)
		r.Streams = append(r.Streams, s)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func decodeFloat(raw json.RawMessage) (float64, error) {
	s := string(bytes.TrimSpace(raw))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number: %.20q", s)
	}
	if f >= 1<<63 && f <= 1<<64 {
		return -1, nil // 3.12's unsigned -1
	}
	return f, nil
}

// StreamHeaderSize is the length of the flowscope stream header.
const StreamHeaderSize = 8

// StreamRole says who sends on a data connection.
type StreamRole uint8

const (
	// ClientSends: the client writes, the server reads.
	ClientSends StreamRole = 0
	// ServerSends: the server writes, the client reads.
	ServerSends StreamRole = 1
)

// StreamHeader is what a flowscope client writes right after the cookie on
// every data connection when the roles extension was agreed, so the server
// never infers roles from accept order.
type StreamHeader struct {
	Role  StreamRole
	Index uint32 // 0-based position among the test's streams
}

var streamMagic = [2]byte{'F', 'S'}

const streamHeaderVersion = 1

// Encode returns the header's 8 wire bytes: "FS", version, role, index (BE).
func (h StreamHeader) Encode() []byte {
	b := make([]byte, StreamHeaderSize)
	b[0], b[1] = streamMagic[0], streamMagic[1]
	b[2] = streamHeaderVersion
	b[3] = byte(h.Role)
	b[4] = byte(h.Index >> 24)
	b[5] = byte(h.Index >> 16)
	b[6] = byte(h.Index >> 8)
	b[7] = byte(h.Index)
	return b
}

// DecodeStreamHeader parses 8 header bytes.
func DecodeStreamHeader(b []byte) (StreamHeader, error) {
	if len(b) != StreamHeaderSize {
		return StreamHeader{}, fmt.Errorf("stream header: %d bytes, want %d", len(b), StreamHeaderSize)
	}
	if b[0] != streamMagic[0] || b[1] != streamMagic[1] {
		return StreamHeader{}, errors.New("stream header: bad magic")
	}
	if b[2] != streamHeaderVersion {
		return StreamHeader{}, fmt.Errorf("stream header: unknown version %d", b[2])
	}
	role := StreamRole(b[3])
	if role != ClientSends && role != ServerSends {
		return StreamHeader{}, fmt.Errorf("stream header: unknown role %d", b[3])
	}
	idx := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	return StreamHeader{Role: role, Index: idx}, nil
}
