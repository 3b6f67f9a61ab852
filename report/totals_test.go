package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/engine"
)

// Totals state exactly what the JSON document's "end" sums state, for TCP
// and UDP, either side, reverse and bidir, with and without the peer's
// results.
func TestTotalsMatchJSON(t *testing.T) {
	for _, sc := range []scenario{
		{side: engine.SideClient, parallel: 3, intervals: 2},
		{side: engine.SideClient, parallel: 2, intervals: 2, reverse: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true},
		{side: engine.SideServer, parallel: 2, intervals: 2, bidir: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, noPeer: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, udp: true},
		{side: engine.SideClient, parallel: 2, intervals: 2, udp: true, bidir: true},
		{side: engine.SideServer, parallel: 1, intervals: 2, udp: true, reverse: true},
	} {
		t.Run(fmt.Sprintf("%+v", sc), func(t *testing.T) {
			var b bytes.Buffer
			evs := sc.events()
			feed(NewJSON(&b, Options{}), evs)
			var doc struct {
				End map[string]json.RawMessage `json:"end"`
			}
			if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			totals := Totals(sc.start(), sc.end())
			want := 2
			if sc.bidir {
				want = 4
			}
			if len(totals) != want {
				t.Fatalf("%d totals, want %d", len(totals), want)
			}
			for _, tot := range totals {
				var js struct {
					Seconds       float64 `json:"seconds"`
					Bytes         uint64  `json:"bytes"`
					BitsPerSecond float64 `json:"bits_per_second"`
					Sender        bool    `json:"sender"`
					Retransmits   *int64  `json:"retransmits"`
					Packets       *uint64 `json:"packets"`
					LostPackets   *int64  `json:"lost_packets"`
				}
				if err := json.Unmarshal(doc.End[tot.Key], &js); err != nil {
					t.Fatalf("%s: %v in %s", tot.Key, err, b.Bytes())
				}
				got := fmt.Sprint(tot.Seconds, tot.Bytes, tot.BitsPerSecond, tot.Sender, deref(tot.Retransmits), deref(tot.Packets), deref(tot.LostPackets))
				exp := fmt.Sprint(js.Seconds, js.Bytes, js.BitsPerSecond, js.Sender, deref(js.Retransmits), deref(js.Packets), deref(js.LostPackets))
				if got != exp || (tot.Retransmits == nil) != (js.Retransmits == nil) {
					t.Errorf("%s: totals %s, document %s", tot.Key, got, exp)
				}
			}
		})
	}
	if Totals(nil, &engine.End{Err: errors.New("refused")}) != nil {
		t.Error("a test without results has totals")
	}
}

// A fleet's sum adds the servers' totals; a failed server counts as failed
// and its partial results still count.
func TestFleetSum(t *testing.T) {
	sc := scenario{side: engine.SideClient, parallel: 2, intervals: 2}
	one := Totals(sc.start(), sc.end())
	var s FleetSum
	s.Add("a:5201", one, nil)
	s.Add("b:5201", one, errors.New("control connection lost"))
	s.Add("c:5201", nil, errors.New("connection refused"))
	if s.Servers != 3 || s.Succeeded != 1 || s.Failed != 2 || len(s.Errors) != 2 || s.Errors[1] != "c:5201: connection refused" {
		t.Fatalf("counts %+v", s)
	}
	sent := s.totals["sum_sent"]
	if sent.Servers != 2 || sent.Bytes != 2*one[0].Bytes || sent.BitsPerSecond != 2*one[0].BitsPerSecond || *sent.Retransmits != 2**one[0].Retransmits {
		t.Errorf("sum_sent %+v from %+v", sent, one[0])
	}
	var text bytes.Buffer
	s.WriteText(&text, 'a')
	if !strings.Contains(text.String(), "All 3 servers: 1 succeeded, 2 failed") || !strings.Contains(text.String(), "(2 of 3 servers)") {
		t.Errorf("text:\n%s", text.String())
	}
	js, err := json.Marshal(&s)
	if err != nil || !strings.HasPrefix(string(js), `{"servers":3,"succeeded":1,"failed":2,"errors":[`) || !strings.Contains(string(js), `"sum_sent":{`) {
		t.Errorf("json %s, %v", js, err)
	}
}
