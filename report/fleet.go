package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/flowscope/flowscope/units"
)

// fleetKeys are the totals of iperf3's "end" that a multi-server run adds
// up, in output order.
var fleetKeys = []string{"sum_sent", "sum_received", "sum_sent_bidir_reverse", "sum_received_bidir_reverse"}

// fleetTotal is one of a multi-server run's totals: bytes, retransmits and
// datagrams added up, the rates added up (the tests ran at once), the
// longest time.
type fleetTotal struct {
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	Seconds       float64 `json:"seconds"`
	Bytes         uint64  `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Retransmits   *int64  `json:"retransmits,omitempty"`
	Packets       *uint64 `json:"packets,omitempty"`
	LostPackets   *int64  `json:"lost_packets,omitempty"`
	Sender        bool    `json:"sender"`
	Servers       int     `json:"servers"` // how many servers' results are in this total
}

// FleetSum is the overall sum of a multi-server run: how many servers'
// tests succeeded, and their end totals added up. Its JSON is the run's
// "sum" object: the counts, then the totals under iperf3's key names.
type FleetSum struct {
	Servers   int
	Succeeded int
	Failed    int
	Errors    []string // "host:port: error" per failed server
	totals    map[string]*fleetTotal
}

// Add counts one server's test: its end totals (see Totals) and its error,
// nil when it succeeded.
func (s *FleetSum) Add(label string, totals []Total, err error) {
	s.Servers++
	if err != nil {
		s.Failed++
		s.Errors = append(s.Errors, label+": "+err.Error())
	} else {
		s.Succeeded++
	}
	if s.totals == nil {
		s.totals = map[string]*fleetTotal{}
	}
	for _, one := range totals {
		t := s.totals[one.Key]
		if t == nil {
			t = &fleetTotal{Sender: one.Sender}
			s.totals[one.Key] = t
		}
		t.Servers++
		t.Bytes += one.Bytes
		t.BitsPerSecond += one.BitsPerSecond
		t.End = max(t.End, one.Seconds)
		t.Seconds = max(t.Seconds, one.Seconds)
		if one.Retransmits != nil {
			t.Retransmits = ptr(deref(t.Retransmits) + *one.Retransmits)
		}
		if one.Packets != nil {
			t.Packets = ptr(deref(t.Packets) + *one.Packets)
		}
		if one.LostPackets != nil {
			t.LostPackets = ptr(deref(t.LostPackets) + *one.LostPackets)
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// MarshalJSON writes the counts, then the totals under iperf3's key names.
func (s *FleetSum) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	head, err := json.Marshal(struct {
		Servers   int      `json:"servers"`
		Succeeded int      `json:"succeeded"`
		Failed    int      `json:"failed"`
		Errors    []string `json:"errors,omitempty"`
	}{s.Servers, s.Succeeded, s.Failed, s.Errors})
	if err != nil {
		return nil, err
	}
	b.Write(head[:len(head)-1])
	for _, k := range fleetKeys {
		t := s.totals[k]
		if t == nil {
			continue
		}
		v, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, ",%q:%s", k, v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// WriteText writes the overall [SUM] lines that follow the servers'
// summaries in the text output; format is the -f unit.
func (s *FleetSum) WriteText(w io.Writer, format byte) {
	if format == 0 {
		format = 'a'
	}
	fmt.Fprintf(w, "- - - - - - - - - - - - - - - - - - - - - - - - -\n")
	fmt.Fprintf(w, "All %d servers: %d succeeded, %d failed\n", s.Servers, s.Succeeded, s.Failed)
	bidir := s.totals["sum_sent_bidir_reverse"] != nil
	for _, k := range fleetKeys {
		t := s.totals[k]
		if t == nil {
			continue
		}
		label := "[SUM]"
		if bidir {
			label += "[TX-C]"
			if strings.HasSuffix(k, "_reverse") {
				label = "[SUM][RX-C]"
			}
		}
		role := "receiver"
		if strings.HasPrefix(k, "sum_sent") {
			role = "sender"
		}
		retr := "      "
		if t.Retransmits != nil && role == "sender" {
			retr = fmt.Sprintf("  %4d", *t.Retransmits)
		}
		of := ""
		if t.Servers != s.Servers {
			of = fmt.Sprintf("  (%d of %d servers)", t.Servers, s.Servers)
		}
		fmt.Fprintf(w, "%s %6.2f-%-6.2f sec  %s  %s%s  %s%s\n", label, 0.0, t.Seconds,
			units.FormatBytes(float64(t.Bytes), 'A'), units.FormatRate(t.BitsPerSecond, format), retr, role, of)
	}
}

// FleetDoc is one server's JSON document (NewJSON's) in a multi-server
// run, with the server's label.
type FleetDoc struct {
	Label string
	Doc   []byte
}

// WriteFleetJSON writes a multi-server run's document
// {"servers":[…],"sum":{…}}: each server's entry is exactly its iperf3
// document with "target" added as the first key.
func WriteFleetJSON(w io.Writer, docs []FleetDoc, sum *FleetSum) {
	servers := make([]json.RawMessage, 0, len(docs))
	for _, d := range docs {
		doc := bytes.TrimSpace(d.Doc)
		name, _ := json.Marshal(d.Label)
		if len(doc) < 2 || doc[0] != '{' {
			doc = []byte(`{"error":"no results"}`)
		}
		entry := []byte(`{"target":` + string(name))
		if rest := bytes.TrimSpace(doc[1:]); len(rest) > 0 && rest[0] != '}' {
			entry = append(entry, ',')
		}
		servers = append(servers, append(entry, doc[1:]...))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	err := enc.Encode(struct {
		Servers []json.RawMessage `json:"servers"`
		Sum     *FleetSum         `json:"sum"`
	}{servers, sum})
	if err != nil {
		b.Reset()
		msg, _ := json.Marshal("flowscope: cannot encode the results: " + err.Error())
		b.WriteString(`{"servers":[],"sum":{},"error":` + string(msg) + "}\n")
	}
	_, _ = w.Write(b.Bytes())
}

// WriteFleetStreamSum writes the final {"event":"sum","data":{…}} line of
// a multi-server --json-stream.
func WriteFleetStreamSum(w io.Writer, sum *FleetSum) {
	b, _ := json.Marshal(struct {
		Event string    `json:"event"`
		Data  *FleetSum `json:"data"`
	}{"sum", sum})
	_, _ = w.Write(append(b, '\n'))
}
