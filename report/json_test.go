package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/engine"
)

func runJSON(t *testing.T, sc scenario, opts Options) map[string]any {
	t.Helper()
	var b bytes.Buffer
	feed(NewJSON(&b, opts), sc.events())
	return decodeDoc(t, b.Bytes())
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	if dec.More() {
		t.Fatalf("more than one document:\n%s", b)
	}
	return doc
}

// find returns every value at path: keys separated by '.', "[]" expanding
// every array element ("intervals[].streams[].bytes").
func find(v any, path string) []any {
	if path == "" {
		return []any{v}
	}
	key, rest, _ := strings.Cut(path, ".")
	each := strings.HasSuffix(key, "[]")
	key = strings.TrimSuffix(key, "[]")
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	child, ok := m[key]
	if !ok {
		return nil
	}
	if !each {
		return find(child, rest)
	}
	arr, _ := child.([]any)
	var out []any
	for _, el := range arr {
		out = append(out, find(el, rest)...)
	}
	return out
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is %s, not a number", v, kind(v))
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// isInt reports whether a JSON number is written as an integer.
func isInt(v any) bool {
	n, ok := v.(json.Number)
	return ok && !strings.ContainsAny(string(n), ".eE")
}

// schema lists the keys of iperf3 3.12's TCP document with their JSON
// types; "int" is a number written as an integer.
var schema = map[string]string{
	"start":                                     "object",
	"start.connected":                           "array",
	"start.connected[].socket":                  "int",
	"start.connected[].local_host":              "string",
	"start.connected[].local_port":              "int",
	"start.connected[].remote_host":             "string",
	"start.connected[].remote_port":             "int",
	"start.version":                             "string",
	"start.system_info":                         "string",
	"start.timestamp.time":                      "string",
	"start.timestamp.timesecs":                  "int",
	"start.cookie":                              "string",
	"start.tcp_mss_default":                     "int",
	"start.target_bitrate":                      "int",
	"start.sock_bufsize":                        "int",
	"start.sndbuf_actual":                       "int",
	"start.rcvbuf_actual":                       "int",
	"start.test_start.protocol":                 "string",
	"start.test_start.num_streams":              "int",
	"start.test_start.blksize":                  "int",
	"start.test_start.omit":                     "int",
	"start.test_start.duration":                 "int",
	"start.test_start.bytes":                    "int",
	"start.test_start.blocks":                   "int",
	"start.test_start.reverse":                  "int",
	"start.test_start.tos":                      "int",
	"start.test_start.target_bitrate":           "int",
	"start.test_start.bidir":                    "int",
	"start.test_start.fqrate":                   "int",
	"start.test_start.interval":                 "number",
	"intervals":                                 "array",
	"intervals[].streams[].socket":              "int",
	"intervals[].streams[].start":               "number",
	"intervals[].streams[].end":                 "number",
	"intervals[].streams[].seconds":             "number",
	"intervals[].streams[].bytes":               "int",
	"intervals[].streams[].bits_per_second":     "number",
	"intervals[].streams[].omitted":             "bool",
	"intervals[].streams[].sender":              "bool",
	"intervals[].sum.start":                     "number",
	"intervals[].sum.end":                       "number",
	"intervals[].sum.seconds":                   "number",
	"intervals[].sum.bytes":                     "int",
	"intervals[].sum.bits_per_second":           "number",
	"intervals[].sum.omitted":                   "bool",
	"intervals[].sum.sender":                    "bool",
	"end.streams[].sender.socket":               "int",
	"end.streams[].sender.start":                "number",
	"end.streams[].sender.end":                  "number",
	"end.streams[].sender.seconds":              "number",
	"end.streams[].sender.bytes":                "int",
	"end.streams[].sender.bits_per_second":      "number",
	"end.streams[].sender.sender":               "bool",
	"end.streams[].receiver.socket":             "int",
	"end.streams[].receiver.start":              "number",
	"end.streams[].receiver.end":                "number",
	"end.streams[].receiver.seconds":            "number",
	"end.streams[].receiver.bytes":              "int",
	"end.streams[].receiver.bits_per_second":    "number",
	"end.streams[].receiver.sender":             "bool",
	"end.sum_sent.bytes":                        "int",
	"end.sum_sent.bits_per_second":              "number",
	"end.sum_sent.seconds":                      "number",
	"end.sum_sent.sender":                       "bool",
	"end.sum_received.bytes":                    "int",
	"end.sum_received.bits_per_second":          "number",
	"end.sum_received.sender":                   "bool",
	"end.cpu_utilization_percent.host_total":    "number",
	"end.cpu_utilization_percent.host_user":     "number",
	"end.cpu_utilization_percent.host_system":   "number",
	"end.cpu_utilization_percent.remote_total":  "number",
	"end.cpu_utilization_percent.remote_user":   "number",
	"end.cpu_utilization_percent.remote_system": "number",
	"flowscope":                                 "object",
	"flowscope.side":                            "string",
}

// Keys of the sender's TCP_INFO, present on sending streams only.
var (
	intervalTCPKeys = []string{"retransmits", "snd_cwnd", "snd_wnd", "rtt", "rttvar", "pmtu"}
	endTCPKeys      = []string{"retransmits", "max_snd_cwnd", "max_snd_wnd", "max_rtt", "min_rtt", "mean_rtt"}
)

func checkSchema(t *testing.T, doc map[string]any, extra map[string]string) {
	t.Helper()
	checkKinds(t, doc, schema)
	checkKinds(t, doc, extra)
}

// checkKinds asserts that every path of kinds is in doc with its type.
func checkKinds(t *testing.T, doc map[string]any, kinds map[string]string) {
	t.Helper()
	check := func(path, want string) {
		vals := find(doc, path)
		if len(vals) == 0 {
			t.Errorf("missing %s", path)
		}
		for _, v := range vals {
			got := kind(v)
			if want == "int" {
				if !isInt(v) {
					t.Errorf("%s = %v (%s), want an integer", path, v, got)
				}
				continue
			}
			if got != want {
				t.Errorf("%s = %v is %s, want %s", path, v, got, want)
			}
		}
	}
	for path, want := range kinds {
		check(path, want)
	}
}

func sideKeys(t *testing.T, obj any) []string {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", obj)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hasAll(m map[string]any, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

func hasNone(m map[string]any, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return false
		}
	}
	return true
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// checkRates asserts bits_per_second = bytes*8/seconds wherever both appear.
func checkRates(t *testing.T, doc map[string]any) {
	t.Helper()
	for _, p := range []string{"intervals[].streams[]", "intervals[].sum", "intervals[].sum_bidir_reverse",
		"end.streams[].sender", "end.streams[].receiver", "end.sum_sent", "end.sum_received",
		"end.sum_sent_bidir_reverse", "end.sum_received_bidir_reverse"} {
		for _, o := range find(doc, p) {
			m := o.(map[string]any)
			bytes, secs, bps := num(t, m["bytes"]), num(t, m["seconds"]), num(t, m["bits_per_second"])
			want := 0.0
			if secs > 0 {
				want = bytes * 8 / secs
			}
			if !near(bps, want) {
				t.Errorf("%s: bits_per_second %v, want %v*8/%v = %v", p, bps, bytes, secs, want)
			}
		}
	}
}

// checkSums asserts that every sum is the total of its streams: interval
// sums per direction, end sums over the streams' sender/receiver entries.
func checkSums(t *testing.T, doc map[string]any, bidir bool) {
	t.Helper()
	for i, iv := range find(doc, "intervals[]") {
		m := iv.(map[string]any)
		sums := map[bool]float64{}
		for _, s := range find(m, "streams[]") {
			sm := s.(map[string]any)
			sender := sm["sender"].(bool)
			if !bidir {
				sender = m["sum"].(map[string]any)["sender"].(bool)
			}
			sums[sender] += num(t, sm["bytes"])
		}
		for _, key := range []string{"sum", "sum_bidir_reverse"} {
			s, ok := m[key].(map[string]any)
			if !ok {
				if key == "sum" || bidir {
					t.Errorf("interval %d lacks %s", i, key)
				}
				continue
			}
			if got, want := num(t, s["bytes"]), sums[s["sender"].(bool)]; got != want {
				t.Errorf("interval %d %s.bytes = %v, want the streams' %v", i, key, got, want)
			}
		}
	}
	end := find(doc, "end")[0].(map[string]any)
	total := map[string]float64{}
	for _, s := range find(end, "streams[]") {
		sm := s.(map[string]any)
		suffix := ""
		if bidir && !sm["sender"].(map[string]any)["sender"].(bool) == (end["sum_sent"].(map[string]any)["sender"].(bool)) {
			suffix = "_bidir_reverse"
		}
		total["sum_sent"+suffix] += num(t, sm["sender"].(map[string]any)["bytes"])
		total["sum_received"+suffix] += num(t, sm["receiver"].(map[string]any)["bytes"])
	}
	for key, want := range total {
		if got := num(t, end[key].(map[string]any)["bytes"]); got != want {
			t.Errorf("end.%s.bytes = %v, want the streams' %v", key, got, want)
		}
	}
}

func TestJSONScenarios(t *testing.T) {
	tests := []struct {
		name  string
		sc    scenario
		extra map[string]string
	}{
		{"one stream", scenario{side: engine.SideClient, parallel: 1, intervals: 2}, map[string]string{
			"start.connecting_to.host": "string", "start.connecting_to.port": "int",
			"intervals[].streams[].retransmits": "int", "intervals[].streams[].snd_cwnd": "int",
			"intervals[].streams[].snd_wnd": "int", "intervals[].streams[].rtt": "int",
			"intervals[].streams[].rttvar": "int", "intervals[].streams[].pmtu": "int",
			"intervals[].sum.retransmits": "int", "end.streams[].sender.retransmits": "int",
			"end.streams[].sender.max_snd_cwnd": "int", "end.streams[].sender.max_snd_wnd": "int",
			"end.streams[].sender.max_rtt": "int", "end.streams[].sender.min_rtt": "int",
			"end.streams[].sender.mean_rtt": "int", "end.sum_sent.retransmits": "int",
			"end.sender_tcp_congestion": "string", "end.receiver_tcp_congestion": "string",
			"flowscope.peer": "string", "flowscope.connect_time_us.median": "number",
			"flowscope.streams[].acked_bytes": "int",
		}},
		{"three streams", scenario{side: engine.SideClient, parallel: 3, intervals: 3}, nil},
		{"reverse client", scenario{side: engine.SideClient, parallel: 2, intervals: 2, reverse: true}, nil},
		{"bidir client", scenario{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true}, map[string]string{
			"intervals[].sum_bidir_reverse.bytes": "int", "end.sum_sent_bidir_reverse.bytes": "int",
			"end.sum_received_bidir_reverse.bytes": "int",
		}},
		{"bidir server", scenario{side: engine.SideServer, parallel: 2, intervals: 2, bidir: true}, map[string]string{
			"start.accepted_connection.host": "string", "start.accepted_connection.port": "int",
			"end.sender_tcp_congestion": "string",
		}},
		{"server forward", scenario{side: engine.SideServer, parallel: 3, intervals: 2}, map[string]string{
			"end.receiver_tcp_congestion": "string",
		}},
		{"omitted", scenario{side: engine.SideClient, parallel: 2, intervals: 2, omitted: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.sc
			doc := runJSON(t, sc, Options{})
			checkSchema(t, doc, tt.extra)
			checkRates(t, doc)
			checkSums(t, doc, sc.bidir)
			if _, ok := doc["error"]; ok {
				t.Error("successful test has an error key")
			}
			if n := len(find(doc, "intervals[]")); n != sc.intervals+sc.omitted {
				t.Errorf("%d intervals, want %d", n, sc.intervals+sc.omitted)
			}
			if n := len(find(doc, "end.streams[]")); n != len(sc.dirs()) {
				t.Errorf("%d end streams, want %d", n, len(sc.dirs()))
			}
			om := find(doc, "intervals[].sum.omitted")
			for i, v := range om {
				if v.(bool) != (i < sc.omitted) {
					t.Errorf("interval %d omitted = %v", i, v)
				}
			}
			// TCP_INFO keys on sending streams only, as in iperf3.
			for _, s := range find(doc, "intervals[].streams[]") {
				m := s.(map[string]any)
				if m["sender"].(bool) && !hasAll(m, intervalTCPKeys) || !m["sender"].(bool) && !hasNone(m, intervalTCPKeys) {
					t.Errorf("interval stream keys %v (sender %v)", sideKeys(t, m), m["sender"])
				}
			}
			for _, s := range find(doc, "end.streams[]") {
				snd := s.(map[string]any)["sender"].(map[string]any)
				rcv := s.(map[string]any)["receiver"].(map[string]any)
				if !hasNone(rcv, endTCPKeys) {
					t.Errorf("receiver entry has TCP keys: %v", sideKeys(t, rcv))
				}
				wantTCP := snd["sender"].(bool) || sc.side == engine.SideClient
				if wantTCP && !hasAll(snd, endTCPKeys) || !wantTCP && !hasNone(snd, endTCPKeys) {
					t.Errorf("sender entry keys %v", sideKeys(t, snd))
				}
				if snd["sender"] != rcv["sender"] {
					t.Error("sender flags of one stream differ")
				}
			}
			// Bidir sums: forward = client→server on both sides.
			if sc.bidir {
				fwdSender := sc.side == engine.SideClient
				for _, s := range find(doc, "intervals[].sum.sender") {
					if s.(bool) != fwdSender {
						t.Errorf("interval sum.sender = %v, want %v", s, fwdSender)
					}
				}
				if got := find(doc, "end.sum_sent_bidir_reverse.sender")[0].(bool); got == fwdSender {
					t.Errorf("sum_sent_bidir_reverse.sender = %v", got)
				}
			} else if len(find(doc, "intervals[].sum_bidir_reverse")) > 0 || len(find(doc, "end.sum_sent_bidir_reverse")) > 0 {
				t.Error("bidir_reverse sums in a one-way test")
			}
		})
	}
}

// Exact values for one client stream.
func TestJSONValues(t *testing.T) {
	sc := scenario{side: engine.SideClient, parallel: 1, intervals: 2}
	doc := runJSON(t, sc, Options{Title: "lab"})
	want := map[string]any{
		"start.connected[].socket":                  1.0,
		"start.connected[].local_port":              40002.0,
		"start.connecting_to.port":                  float64(testPort),
		"start.timestamp.time":                      "Sat, 21 Nov 2026 23:58:20 GMT",
		"start.timestamp.timesecs":                  1795305500.0,
		"start.version":                             "flowscope " + engine.Version,
		"start.test_start.duration":                 2.0,
		"start.test_start.interval":                 1.0,
		"intervals[].streams[].bytes":               []float64{1_000_000_000, 1_987_654_321},
		"intervals[].streams[].retransmits":         []float64{0, 1},
		"intervals[].sum.bits_per_second":           []float64{8e9, 1_987_654_321 * 8},
		"end.streams[].sender.bytes":                2_987_654_321.0,
		"end.streams[].sender.retransmits":          1.0,
		"intervals[].streams[].reorder":             []float64{0, 1},
		"end.streams[].sender.reorder":              1.0,
		"end.streams[].receiver.bytes":              2_987_654_321.0 - 262144,
		"end.streams[].receiver.seconds":            2.0005,
		"end.sum_received.seconds":                  2.0005,
		"end.cpu_utilization_percent.remote_system": 45.0,
		"end.sender_tcp_congestion":                 "cubic",
		"end.receiver_tcp_congestion":               "bbr",
		"flowscope.streams[].acked_bytes":           2_987_654_321.0 - 2000,
		"flowscope.connect_time_us.max":             100.0,
		"title":                                     "lab",
	}
	for path, w := range want {
		vals := find(doc, path)
		var got []float64
		for _, v := range vals {
			if s, ok := v.(string); ok {
				if s != w {
					t.Errorf("%s = %q, want %q", path, s, w)
				}
				continue
			}
			got = append(got, num(t, v))
		}
		switch w := w.(type) {
		case float64:
			if len(got) != 1 || !near(got[0], w) {
				t.Errorf("%s = %v, want %v", path, got, w)
			}
		case []float64:
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s = %v, want %v", path, got, w)
			}
		}
	}
}

// Top-level key order follows iperf3, extras last.
func TestJSONKeyOrder(t *testing.T) {
	var b bytes.Buffer
	sc := scenario{side: engine.SideServer, parallel: 1, intervals: 1, err: errRefused}
	feed(NewJSON(&b, Options{Title: "x"}), sc.events())
	out := b.String()
	order := []string{`"start"`, `"connected"`, `"version"`, `"system_info"`, `"sock_bufsize"`, `"timestamp"`,
		`"accepted_connection"`, `"cookie"`, `"test_start"`, `"intervals"`, `"end"`, `"error"`, `"title"`, `"flowscope"`}
	last := -1
	for _, k := range order {
		i := strings.Index(out, k)
		if i <= last {
			t.Fatalf("key %s out of order in\n%s", k, out)
		}
		last = i
	}
}

func TestJSONErrorWithoutStart(t *testing.T) {
	var b bytes.Buffer
	NewJSON(&b, Options{}).Handle(&engine.End{Side: engine.SideClient, Err: errRefused})
	doc := decodeDoc(t, b.Bytes())
	if got := doc["error"]; got != errRefused.Error() {
		t.Errorf("error = %v", got)
	}
	start := doc["start"].(map[string]any)
	if keys := sideKeys(t, start); fmt.Sprint(keys) != "[connected system_info version]" {
		t.Errorf("start keys %v, want iperf3's connected, version, system_info", keys)
	}
	if c := start["connected"].([]any); len(c) != 0 {
		t.Errorf("connected = %v", c)
	}
	if iv := doc["intervals"].([]any); len(iv) != 0 {
		t.Errorf("intervals = %v", iv)
	}
	if e := doc["end"].(map[string]any); len(e) != 0 {
		t.Errorf("end = %v", e)
	}
	if fs := doc["flowscope"].(map[string]any); fs["side"] != "client" {
		t.Errorf("flowscope = %v", fs)
	}
}

// A failure mid-test keeps what was measured and adds "error".
func TestJSONErrorAfterStart(t *testing.T) {
	sc := scenario{side: engine.SideClient, parallel: 2, intervals: 1, err: errRefused, noPeer: true}
	doc := runJSON(t, sc, Options{})
	checkSchema(t, doc, map[string]string{"error": "string"})
	checkRates(t, doc)
	// Without the peer's results the receiver side counts nothing.
	if got := num(t, find(doc, "end.sum_received.bytes")[0]); got != 0 {
		t.Errorf("sum_received.bytes = %v, want 0", got)
	}
	if got := num(t, find(doc, "end.cpu_utilization_percent.remote_total")[0]); got != 0 {
		t.Errorf("remote_total = %v, want 0", got)
	}
}

// A server reuses its reporter: one self-contained document per test.
func TestJSONReuse(t *testing.T) {
	var b bytes.Buffer
	r := NewJSON(&b, Options{})
	feed(r, scenario{side: engine.SideServer, parallel: 3, intervals: 3}.events())
	feed(r, scenario{side: engine.SideServer, parallel: 1, intervals: 1, reverse: true}.events())
	dec := json.NewDecoder(&b)
	var docs []map[string]any
	for dec.More() {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2", len(docs))
	}
	if n := len(find(docs[1], "intervals[]")); n != 1 {
		t.Errorf("second document has %d intervals, want 1", n)
	}
	if n := len(find(docs[1], "start.connected[]")); n != 1 {
		t.Errorf("second document has %d connections, want 1", n)
	}
}

// Degenerate numbers (a zero-length interval, NaN CPU) still give valid JSON.
func TestJSONDegenerateNumbers(t *testing.T) {
	sc := scenario{side: engine.SideClient, parallel: 1, intervals: 1}
	evs := sc.events()
	smp := sc.sample(1, 1, false)
	smp.Start = smp.End
	end := evs[len(evs)-1].(*engine.End)
	end.LocalCPU.Total = math.NaN()
	end.Streams[0].Seconds = 0
	evs = append(evs[:len(evs)-1], smp, end)
	var b bytes.Buffer
	feed(NewJSON(&b, Options{}), evs)
	doc := decodeDoc(t, b.Bytes())
	checkRates(t, doc)
}

func TestJSONStream(t *testing.T) {
	sc := scenario{side: engine.SideClient, parallel: 2, intervals: 2, bidir: true, err: errRefused}
	var b bytes.Buffer
	feed(NewJSONStream(&b, Options{}), sc.events())
	var events []string
	var data []any
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if strings.Contains(line, "\n\t") || !strings.HasPrefix(line, `{"event":`) {
			t.Fatalf("not a compact event line: %q", line)
		}
		var ev struct {
			Event string
			Data  any
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		events = append(events, ev.Event)
		data = append(data, ev.Data)
	}
	if got := strings.Join(events, ","); got != "start,interval,interval,error,flowscope,end" {
		t.Fatalf("events %s", got)
	}
	// The data objects have the shape of the document's parts.
	var doc bytes.Buffer
	sc.err = nil
	feed(NewJSON(&doc, Options{}), sc.events())
	full := decodeDoc(t, doc.Bytes())
	same := func(name string, a, b any) {
		ka, kb := keyPaths(a), keyPaths(b)
		if fmt.Sprint(ka) != fmt.Sprint(kb) {
			t.Errorf("%s event keys %v\ndocument keys %v", name, ka, kb)
		}
	}
	same("start", data[0], full["start"])
	same("interval", data[1], find(full, "intervals[]")[0])
	same("end", data[5], full["end"])
	if data[3] != errRefused.Error() {
		t.Errorf("error data = %v", data[3])
	}

	b.Reset()
	NewJSONStream(&b, Options{}).Handle(&engine.End{Side: engine.SideServer, Err: errRefused})
	want := `{"event":"error","data":"unable to connect to server: connection refused"}` + "\n" +
		`{"event":"flowscope","data":{"side":"server","findings":[]}}` + "\n" + `{"event":"end","data":{}}` + "\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestJSONServerShowsOwnSideOnly: like iperf3's server, a flowscope
// server's document counts only its own side of each stream: the client's
// side has no bytes, over the server's own time, also in the sums.
func TestJSONServerShowsOwnSideOnly(t *testing.T) {
	for _, sc := range []scenario{
		{side: engine.SideServer, parallel: 2, intervals: 2},
		{side: engine.SideServer, parallel: 1, intervals: 2, reverse: true},
		{side: engine.SideServer, parallel: 1, intervals: 2, bidir: true},
	} {
		doc := runJSON(t, sc, Options{})
		e := sc.end()
		for i, s := range find(doc, "end.streams[]") {
			m := s.(map[string]any)
			own, other := m["receiver"].(map[string]any), m["sender"].(map[string]any)
			if e.Streams[i].Dir == engine.Send {
				own, other = other, own
			}
			str := fmt.Sprint
			if str(own["bytes"]) != str(e.Streams[i].Bytes) || str(other["bytes"]) != "0" ||
				str(other["seconds"]) != str(own["seconds"]) || str(other["bits_per_second"]) != "0" {
				t.Errorf("%+v stream %d: own side %v, client's side %v", sc, i, own, other)
			}
		}
		zero, own := "end.sum_sent.bytes", "end.sum_received.bytes" // the server receives
		if sc.reverse {
			zero, own = own, zero
		}
		if v := find(doc, zero); len(v) != 1 || fmt.Sprint(v[0]) != "0" {
			t.Errorf("%+v: %s = %v, want 0 (the client's count)", sc, zero, v)
		}
		if v := find(doc, own); len(v) != 1 || fmt.Sprint(v[0]) == "0" {
			t.Errorf("%+v: %s = %v, want the server's count", sc, own, v)
		}
	}
}

// TestMSSReported: with -M the JSON's start has iperf3 3.21's "tcp_mss"
// (the MSS asked for) instead of "tcp_mss_default", and -V's text says
// "TCP MSS: 1000" without "(default)".
func TestMSSReported(t *testing.T) {
	for _, side := range []engine.Side{engine.SideClient, engine.SideServer} {
		evs := scenario{side: side, parallel: 1, intervals: 1}.events()
		evs[1].(*engine.Start).Params.MSS = 1000
		var b bytes.Buffer
		feed(NewJSON(&b, Options{}), evs)
		doc := decodeDoc(t, b.Bytes())
		start := doc["start"].(map[string]any)
		if fmt.Sprint(start["tcp_mss"]) != "1000" || start["tcp_mss_default"] != nil {
			t.Errorf("%v: start has tcp_mss %v, tcp_mss_default %v; want 1000 and none", side, start["tcp_mss"], start["tcp_mss_default"])
		}
	}
	evs := scenario{side: engine.SideClient, parallel: 1, intervals: 1}.events()
	evs[1].(*engine.Start).Params.MSS = 1000
	var b bytes.Buffer
	feed(NewText(&b, Options{Verbose: true}), evs)
	if !strings.Contains(b.String(), "      TCP MSS: 1000\n") {
		t.Errorf("-V text does not say TCP MSS: 1000:\n%s", b.String())
	}
}
