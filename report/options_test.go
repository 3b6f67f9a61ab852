package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowscope/flowscope/engine"
)

// serverReport is what a flowscope server sends a client that asked for its
// report (--get-server-output): the server side of sc rendered from the
// server's own events and its local End, without peer results, as the
// server's ServerOutput hook does.
func serverReport(sc scenario, asJSON bool) (text string, js []byte) {
	sc.side, sc.noPeer, sc.serverText, sc.serverJSON = engine.SideServer, true, "", nil
	var b bytes.Buffer
	if asJSON {
		feed(NewJSON(&b, Options{ServerOutput: true}), sc.events())
		return "", bytes.TrimSpace(b.Bytes())
	}
	feed(NewText(&b, Options{}), sc.events())
	return b.String(), nil
}

// topKeys lists a JSON object's keys in document order.
func topKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// -T, --extra-data, -S, -k and --fq-rate in the JSON documents of both
// ends, with iperf3 3.12's values and top-level key order.
func TestJSONOptions(t *testing.T) {
	for _, side := range []engine.Side{engine.SideClient, engine.SideServer} {
		t.Run(side.String(), func(t *testing.T) {
			sc := optionsScenario(side)
			var b bytes.Buffer
			feed(NewJSON(&b, Options{Title: "ignored: the test has a title"}), sc.events())
			doc := decodeDoc(t, b.Bytes())
			want := map[string]any{
				"title": "mytitle", "extra_data": "hello",
				"start.test_start.tos": 16.0, "start.test_start.blocks": 100.0,
				"start.test_start.bytes": 0.0, "start.test_start.duration": 0.0,
				"start.test_start.fqrate": 1e9,
			}
			for path, w := range want {
				got := find(doc, path)
				if len(got) == 1 {
					if _, isStr := w.(string); !isStr {
						got[0] = num(t, got[0])
					}
				}
				if len(got) != 1 || got[0] != w {
					t.Errorf("%s = %v, want %v", path, got, w)
				}
			}
			keys := strings.Join(topKeys(t, b.Bytes()), ",")
			if keys != "start,intervals,end,title,extra_data,flowscope" {
				t.Errorf("top-level keys %s", keys)
			}
		})
	}
	// Without a title in the test, Options.Title names it.
	var b bytes.Buffer
	feed(NewJSON(&b, Options{Title: "lab"}), scenario{side: engine.SideClient, parallel: 1, intervals: 1}.events())
	if got := find(decodeDoc(t, b.Bytes()), "title"); len(got) != 1 || got[0] != "lab" {
		t.Errorf("title = %v", got)
	}
	// The report a server sends the client has neither.
	_, js := serverReport(optionsScenario(engine.SideServer), true)
	if keys := strings.Join(topKeys(t, js), ","); keys != "start,intervals,end,flowscope" {
		t.Errorf("server output's top-level keys %s", keys)
	}
}

// The server's report in the client's document: an object or a string,
// after title and extra_data (and error), as iperf3 3.12 places them.
func TestJSONServerOutput(t *testing.T) {
	text, _ := serverReport(optionsScenario(engine.SideServer), false)
	_, js := serverReport(optionsScenario(engine.SideServer), true)

	sc := optionsScenario(engine.SideClient)
	sc.serverJSON = js
	sc.err = errRefused
	var b bytes.Buffer
	feed(NewJSON(&b, Options{}), sc.events())
	if keys := strings.Join(topKeys(t, b.Bytes()), ","); keys != "start,intervals,end,error,title,extra_data,server_output_json,flowscope" {
		t.Errorf("top-level keys %s", keys)
	}
	doc := decodeDoc(t, b.Bytes())
	if got := find(doc, "server_output_json.start.accepted_connection.port"); len(got) != 1 || num(t, got[0]) != 40000 {
		t.Errorf("server_output_json.start.accepted_connection.port = %v", got)
	}

	sc = optionsScenario(engine.SideClient)
	sc.serverText = text
	b.Reset()
	feed(NewJSON(&b, Options{}), sc.events())
	if keys := strings.Join(topKeys(t, b.Bytes()), ","); keys != "start,intervals,end,title,extra_data,server_output_text,flowscope" {
		t.Errorf("top-level keys %s", keys)
	}
	if got := find(decodeDoc(t, b.Bytes()), "server_output_text"); len(got) != 1 || got[0] != text {
		t.Errorf("server_output_text = %q, want %q", got, text)
	}

	// A report that is not JSON cannot be embedded: the document stays valid.
	sc = optionsScenario(engine.SideClient)
	sc.serverJSON = []byte(`{"start":`)
	b.Reset()
	feed(NewJSON(&b, Options{}), sc.events())
	if keys := strings.Join(topKeys(t, b.Bytes()), ","); keys != "start,intervals,end,title,extra_data,flowscope" {
		t.Errorf("top-level keys %s", keys)
	}
}

// --json-stream: the server's report as its own event between error and
// end, as iperf3 3.17's iperf_json_finish emits it; no title or extra data.
func TestJSONStreamServerOutput(t *testing.T) {
	for _, asJSON := range []bool{true, false} {
		text, js := serverReport(optionsScenario(engine.SideServer), asJSON)
		sc := optionsScenario(engine.SideClient)
		sc.serverText, sc.serverJSON, sc.err = text, js, errRefused
		var b bytes.Buffer
		feed(NewJSONStream(&b, Options{}), sc.events())
		var events []string
		var last any
		for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			var ev struct {
				Event string
				Data  any
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			events = append(events, ev.Event)
			if strings.HasPrefix(ev.Event, "server_output") {
				last = ev.Data
			}
		}
		want, wantKind := "start,interval,interval,error,server_output_json,flowscope,end", "object"
		if !asJSON {
			want, wantKind = "start,interval,interval,error,server_output_text,flowscope,end", "string"
		}
		if got := strings.Join(events, ","); got != want {
			t.Errorf("events %s, want %s", got, want)
		}
		if k := kind(last); k != wantKind {
			t.Errorf("server output data is a %s, want a %s", k, wantKind)
		}
		if strings.Contains(b.String(), "mytitle") || strings.Contains(b.String(), "hello") {
			t.Errorf("the stream has the title or extra data:\n%s", b.String())
		}
	}
}

// The client's text report with the server's text report, as iperf3 3.12
// prints it with -T and --get-server-output (checked against real output:
// the server's lines and the "Server output:" heading carry no title).
func TestTextServerOutput(t *testing.T) {
	text, _ := serverReport(optionsScenario(engine.SideServer), false)
	wantServer := `Accepted connection from 127.0.0.1, port 40000
[  1] local 127.0.0.1 port 5201 connected to 127.0.0.1 port 40002
[ ID] Interval           Transfer     Bitrate
[  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec                  
[  1]   1.00-2.00   sec  1.85 GBytes  15.9 Gbits/sec                  
- - - - - - - - - - - - - - - - - - - - - - - - -
[ ID] Interval           Transfer     Bitrate
[  1]   0.00-2.00   sec  2.78 GBytes  12.0 Gbits/sec                  receiver
`
	if text != wantServer {
		t.Fatalf("server report\n%s\nwant\n%s", text, wantServer)
	}
	sc := optionsScenario(engine.SideClient)
	sc.serverText = text
	got := runText(sc, Options{Title: "mytitle"})
	want := `mytitle:  Connecting to host 127.0.0.1, port 5201
mytitle:  [  1] local 127.0.0.1 port 40002 connected to 127.0.0.1 port 5201
mytitle:  [ ID] Interval           Transfer     Bitrate         Retr  Cwnd
mytitle:  [  1]   0.00-1.00   sec   954 MBytes  8.00 Gbits/sec    0   1023 KBytes       
mytitle:  [  1]   1.00-2.00   sec  1.85 GBytes  15.9 Gbits/sec    1   1023 KBytes       
mytitle:  - - - - - - - - - - - - - - - - - - - - - - - - -
mytitle:  [ ID] Interval           Transfer     Bitrate         Retr
mytitle:  [  1]   0.00-2.00   sec  2.78 GBytes  12.0 Gbits/sec    1             sender
mytitle:  [  1]   0.00-2.00   sec  2.78 GBytes  11.9 Gbits/sec                  receiver
mytitle:  
Server output:
` + wantServer + `
mytitle:  
mytitle:  flowscope done.
`
	if got != want {
		t.Errorf("client report\n%s\nwant\n%s", got, want)
	}
	// Without a title the heading follows a blank line.
	if got := runText(sc, Options{}); !strings.Contains(got, "receiver\n\nServer output:\nAccepted connection") ||
		!strings.HasSuffix(got, "receiver\n\n\nflowscope done.\n") {
		t.Errorf("client report without a title\n%s", got)
	}
}

// A server's JSON report in the client's text report: "Server JSON
// output:" and the document as cJSON prints it.
func TestTextServerJSONOutput(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "iperf3_server_output_json.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario{side: engine.SideClient, parallel: 1, intervals: 1}
	sc.serverJSON = raw
	got := runText(sc, Options{})
	// raw ends with the document's newline; iperf3 adds a blank line.
	want := "receiver\n\nServer JSON output:\n" + string(raw) + "\nflowscope done.\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("client report\n%s\nwant it to end with\n%s", got, want)
	}
}

// -V with -T, -S and -k: iperf3 3.12 prints the system line with the title
// twice and the control connection's MSS without it, and the test line
// counts blocks and shows the TOS.
func TestTextVerboseOptions(t *testing.T) {
	got := runText(optionsScenario(engine.SideClient), Options{Title: "mytitle", Verbose: true})
	for _, want := range []string{
		"mytitle:  flowscope " + engine.Version + "\nmytitle:  mytitle:  " + systemInfo() + "\nControl connection MSS 32768\nmytitle:  Time: ",
		"mytitle:  Starting Test: protocol: TCP, 1 streams, 131072 byte blocks, omitting 0 seconds, 100 blocks to send, tos 16\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q\n%s", want, got)
		}
	}
	got = runText(optionsScenario(engine.SideServer), Options{Verbose: true})
	if want := "Starting Test: protocol: TCP, 1 streams, 131072 byte blocks, omitting 0 seconds, 100 blocks to send, tos 16\n"; !strings.Contains(got, want) {
		t.Errorf("server report lacks %q\n%s", want, got)
	}
}

// cjsonPrint reproduces iperf3's own rendering of a server's JSON report
// (testdata: a real iperf3 3.12 client's "Server JSON output:").
func TestCJSONPrintMatchesIperf3(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "iperf3_server_output_json.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(string(raw), "\n")
	got, err := cjsonPrint(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Go's compact rendering of the same document prints the same.
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	if got, _ := cjsonPrint(compact.Bytes()); got != want {
		t.Errorf("from compact JSON got\n%s", got)
	}
}

func TestCJSONPrintCases(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{}`, "{\n}"},
		{`[]`, "[]"},
		{`{"a":{},"b":[],"c":[{"d":null}]}`, "{\n\t\"a\":\t{\n\t},\n\t\"b\":\t[],\n\t\"c\":\t[{\n\t\t\t\"d\":\tnull\n\t\t}]\n}"},
		{`[1,-0,2147483647,2147483648,-2147483648,1e15,1234567890123456789,0.1,1.0000679492950439,16930206276.41857,1e-7]`,
			"[1, 0, 2147483647, 2147483648, -2147483648, 1e+15, 1.2345678901234568e+18, 0.1, 1.0000679492950439, 16930206276.41857, 1e-07]"},
		{`["a\"b\\c\/d\n\t\u0001é<>&", true, false]`, "[\"a\\\"b\\\\c/d\\n\\t\\u0001é<>&\", true, false]"},
	} {
		got, err := cjsonPrint([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`{"a":`, `{} {}`, ``} {
		if _, err := cjsonPrint([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
