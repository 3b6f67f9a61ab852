package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// Keys flowscope emits beyond iperf3 3.12's document: the keys iperf3
// 3.13-3.21 added, and its own top-level object.
var allowedExtraKey = map[string]bool{
	"/start/test_start/bidir":        true, // iperf3 >= 3.13
	"/start/test_start/fqrate":       true, // iperf3 >= 3.13
	"/start/test_start/interval":     true, // iperf3 >= 3.17
	"/start/fq_rate":                 true, // iperf3 >= 3.20
	"/start/timestamp/timemillisecs": true, // iperf3 >= 3.20
	"/start/test_start/gso":          true, // iperf3 >= 3.21
	"/start/test_start/gro":          true, // iperf3 >= 3.21
	"/start/tcp_mss":                 true, // iperf3 >= 3.21 with -M
	"/intervals/streams/reorder":     true, // iperf3 >= 3.21
	"/end/streams/sender/reorder":    true, // iperf3 >= 3.21
}

// allowedExtra reports whether flowscope's document may have key path p
// where iperf3 3.12's has none: newer iperf3 versions' keys and
// flowscope's own object, also inside an embedded server report.
func allowedExtra(p string) bool {
	p = strings.TrimPrefix(p, "/server_output_json")
	return allowedExtraKey[p] || ownKey(p)
}

// ownKey reports whether p is in flowscope's own top-level object, the
// only keys it writes beyond iperf3 3.21's document.
func ownKey(p string) bool {
	p = strings.TrimPrefix(p, "/server_output_json")
	return p == "/flowscope" || strings.HasPrefix(p, "/flowscope/")
}

// iperf3Bin is the installed iperf3, or skips the test.
func iperf3Bin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("iperf3")
	if err != nil {
		t.Skip("iperf3 is not on PATH: skipping the comparison with a real iperf3 (apt-get install iperf3)")
	}
	if testing.Short() {
		t.Skip("-short: skipping the live iperf3 comparison")
	}
	return bin
}

// optionArgs are iperf3's options for optionsScenario, with the server's
// report requested.
var optionArgs = []string{"-T", "mytitle", "--extra-data", "hello", "-S", "16", "-k", "100", "--fq-rate", "1G", "--get-server-output"}

// keyCase is one kind of test whose -J documents are compared with a real
// iperf3's: the iperf3 client's options, the same test as flowscope
// events, and whether the iperf3 server reports in text.
type keyCase struct {
	name       string
	args       []string
	sc         scenario
	textServer bool
}

var keyCases = []keyCase{
	{"P1", nil, scenario{parallel: 1, intervals: 2}, false},
	{"P3", []string{"-P", "3"}, scenario{parallel: 3, intervals: 2}, false},
	{"reverse", []string{"-R"}, scenario{parallel: 1, intervals: 2, reverse: true}, false},
	{"bidir", []string{"--bidir", "-P", "2"}, scenario{parallel: 2, intervals: 2, bidir: true}, false},
	{"udp", []string{"-u", "-b", "10M"}, scenario{parallel: 1, intervals: 2, udp: true}, false},
	{"udp P2", []string{"-u", "-b", "10M", "-P", "2"}, scenario{parallel: 2, intervals: 2, udp: true}, false},
	{"udp reverse", []string{"-u", "-b", "10M", "-R"}, scenario{parallel: 1, intervals: 2, udp: true, reverse: true}, false},
	{"udp bidir", []string{"-u", "-b", "10M", "--bidir"}, scenario{parallel: 1, intervals: 2, udp: true, bidir: true}, false},
	{"udp bidir P2", []string{"-u", "-b", "10M", "--bidir", "-P", "2"}, scenario{parallel: 2, intervals: 2, udp: true, bidir: true}, false},
	{"options", optionArgs, optionsScenario(engine.SideClient), false},
	{"options text server", optionArgs, optionsScenario(engine.SideClient), true},
}

// TestKeysMatchIperf3 runs the installed iperf3 as server and client on
// loopback and compares the key paths (and, per object, the key order) of
// both of its -J documents with ours for the same kind of test, TCP and
// UDP, and a TCP test with -T, --extra-data, -S, -k, --fq-rate and
// --get-server-output, whose client document embeds the server's report
// (as JSON, or as text from a server without -J).
func TestKeysMatchIperf3(t *testing.T) {
	bin := iperf3Bin(t)
	out, _ := exec.Command(bin, "--version").Output()
	t.Logf("comparing with %s", strings.SplitN(string(out), "\n", 2)[0])
	tests := keyCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, server := iperf3Run{args: tt.args, textServer: tt.textServer}.run(t, bin)
			sides := []struct {
				side engine.Side
				real []byte
			}{{engine.SideClient, client}, {engine.SideServer, server}}
			if tt.textServer {
				sides = sides[:1]
			}
			for _, side := range sides {
				sc := tt.sc
				sc.side = side.side
				if side.side == engine.SideClient && slices.Contains(tt.args, "--get-server-output") {
					sc.serverText, sc.serverJSON = serverReport(sc, !tt.textServer)
				}
				var ours bytes.Buffer
				feed(NewJSON(&ours, Options{}), sc.events())
				compareKeys(t, side.side.String(), side.real, ours.Bytes(), keyRules{extra: allowedExtra})
				if tt.sc.opts != (testOptions{}) {
					compareOptionValues(t, side.side.String(), side.real, ours.Bytes())
				}
			}
		})
	}
}

// compareOptionValues checks that the values the options set are the same
// in both documents.
func compareOptionValues(t *testing.T, side string, realDoc, oursDoc []byte) {
	t.Helper()
	real, ours := decodeDoc(t, realDoc), decodeDoc(t, oursDoc)
	for _, p := range []string{
		"title", "extra_data",
		"start.test_start.tos", "start.test_start.blocks", "start.test_start.bytes", "start.test_start.duration",
		"server_output_json.start.test_start.tos", "server_output_json.start.test_start.blocks",
		"server_output_json.start.test_start.bytes",
	} {
		if r, o := find(real, p), find(ours, p); fmt.Sprint(r) != fmt.Sprint(o) {
			t.Errorf("%s: %s is %v in flowscope, %v in iperf3", side, p, o, r)
		}
	}
}

// The client's text report around the server's report (--get-server-output
// with -T), from a JSON and from a text server: the lines before and after
// it, and the server's JSON document as iperf3 prints it.
func TestTextServerOutputMatchesIperf3(t *testing.T) {
	bin := iperf3Bin(t)
	for _, textServer := range []bool{false, true} {
		name := "json server"
		if textServer {
			name = "text server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			real, _ := iperf3Run{args: optionArgs, textServer: textServer, textClient: true}.run(t, bin)
			sc := optionsScenario(engine.SideClient)
			sc.serverText, sc.serverJSON = serverReport(sc, !textServer)
			ours := runText(sc, Options{Title: "mytitle"})
			realSkel, err := serverOutputSkeleton(string(real), "iperf Done.")
			if err != nil {
				t.Fatalf("iperf3: %v\n%s", err, real)
			}
			ourSkel, err := serverOutputSkeleton(ours, "flowscope done.")
			if err != nil {
				t.Fatalf("flowscope: %v\n%s", err, ours)
			}
			if realSkel != ourSkel {
				t.Errorf("around the server's report\n flowscope %q\n iperf3    %q", ourSkel, realSkel)
			}
			if textServer {
				return
			}
			// iperf3's rendering of the server's document is cjsonPrint's.
			r := string(real)
			doc := r[strings.Index(r, "Server JSON output:\n")+len("Server JSON output:\n"):]
			doc = doc[:strings.Index(doc, "\n}\n")+2]
			if got, err := cjsonPrint([]byte(doc)); err != nil || got != doc {
				t.Errorf("cjsonPrint (%v)\n%s\niperf3\n%s", err, got, doc)
			}
		})
	}
}

// serverOutputSkeleton is a client text report's frame of the server's
// report: the line before the heading, the heading, and what follows the
// server's report (its last line is the summary's receiver line, or the
// closing brace of its JSON document), with the final line done replaced.
func serverOutputSkeleton(out, done string) (string, error) {
	i := strings.Index(out, "Server output:\n")
	heading := "Server output:\n"
	end := strings.LastIndex(out, "receiver\n") + len("receiver\n")
	if i < 0 {
		i = strings.Index(out, "Server JSON output:\n")
		heading = "Server JSON output:\n"
		end = strings.LastIndex(out, "\n}\n") + len("\n}\n")
	}
	if i < 0 || end < i {
		return "", errors.New("no server report")
	}
	before := out[:i]
	prev := before[strings.LastIndex(strings.TrimSuffix(before, "\n"), "\n")+1:]
	tail := strings.Replace(out[end:], done, "DONE", 1)
	return prev + heading + "…" + tail, nil
}

// keyRules say which key paths may differ: extra, the keys only flowscope
// may have; missing (if set), the real iperf3's keys flowscope does not
// write yet.
type keyRules struct {
	extra, missing func(string) bool
}

func (r keyRules) skip(p string) bool { return r.extra(p) || (r.missing != nil && r.missing(p)) }

// compareKeys compares the key paths, value kinds and key order of a real
// iperf3 document with flowscope's.
func compareKeys(t *testing.T, side string, realDoc, oursDoc []byte, rules keyRules) {
	t.Helper()
	real, ours := decodeDoc(t, realDoc), decodeDoc(t, oursDoc)
	have := map[string]bool{}
	for _, p := range keyPaths(ours) {
		have[p] = true
	}
	want := map[string]bool{}
	for _, p := range keyPaths(real) {
		want[p] = true
		if !have[p] && (rules.missing == nil || !rules.missing(p)) {
			t.Errorf("%s: iperf3 has %s, flowscope does not", side, p)
		}
	}
	for p := range have {
		if !want[p] && !rules.extra(p) {
			t.Errorf("%s: flowscope has %s, iperf3 does not", side, p)
		}
	}
	// The kind of every value (string, number, bool, object, array) at
	// each key path both documents have.
	realKinds, ourKinds := valueKinds(real), valueKinds(ours)
	for p, k := range realKinds {
		if o, ok := ourKinds[p]; ok && fmt.Sprint(o) != fmt.Sprint(k) {
			t.Errorf("%s: %s is %v in flowscope, %v in iperf3", side, p, o, k)
		}
	}
	// Key order and per-element key sets, for the first interval and every
	// connection and end stream (both documents list streams in the same
	// order).
	rs, os := objectShapes(realDoc, rules.skip), objectShapes(oursDoc, rules.skip)
	for p, keys := range rs {
		if got := os[p]; fmt.Sprint(got) != fmt.Sprint(keys) {
			t.Errorf("%s: %s keys\n flowscope %v\n iperf3    %v", side, p, got, keys)
		}
	}
}

// valueKinds maps each key path of a decoded document (as keyPaths names
// them) to the sorted kinds of the values found there.
func valueKinds(doc any) map[string][]string {
	sets := map[string]map[string]bool{}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if sets[p+"/"+k] == nil {
					sets[p+"/"+k] = map[string]bool{}
				}
				sets[p+"/"+k][kind(c)] = true
				walk(c, p+"/"+k)
			}
		case []any:
			for _, c := range v {
				walk(c, p)
			}
		}
	}
	walk(doc, "")
	out := map[string][]string{}
	for p, set := range sets {
		for k := range set {
			out[p] = append(out[p], k)
		}
		sort.Strings(out[p])
	}
	return out
}

// indexFree matches the array indices of objectShapes' positions.
var indexFree = regexp.MustCompile(`\[[0-9]+\]`)

// objectShapes maps each object's position in a raw document
// ("/end/streams[1]/sender"; intervals after the first skipped) to its keys
// in document order (first occurrence), without the keys skip names.
func objectShapes(doc []byte, skip func(string) bool) map[string][]string {
	out := map[string][]string{}
	var walk func(v []byte, p string)
	walk = func(v []byte, p string) {
		v = bytes.TrimSpace(v)
		switch {
		case len(v) > 0 && v[0] == '{':
			dec := json.NewDecoder(bytes.NewReader(v))
			_, _ = dec.Token() // {
			keys := []string{}
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return
				}
				k, _ := tok.(string)
				var c json.RawMessage
				if err := dec.Decode(&c); err != nil {
					return
				}
				// iperf3 3.12's client repeats sock_bufsize, sndbuf_actual
				// and rcvbuf_actual for every stream after the first: a
				// duplicate-key bug flowscope does not copy.
				if skip(indexFree.ReplaceAllString(p+"/"+k, "")) || seen[k] {
					continue
				}
				seen[k] = true
				keys = append(keys, k)
				walk(c, p+"/"+k)
			}
			out[p] = keys
		case len(v) > 0 && v[0] == '[':
			var arr []json.RawMessage
			_ = json.Unmarshal(v, &arr)
			for i, c := range arr {
				if p == "/intervals" && i > 0 {
					break
				}
				walk(c, p+"["+strconv.Itoa(i)+"]")
			}
		}
	}
	walk(doc, "")
	return out
}

// iperf3Run is one iperf3 test on loopback: the client's options after
// -c and -p (-t 1 unless they set -k), and which ends report in text
// rather than -J.
type iperf3Run struct {
	args                   []string
	textServer, textClient bool
}

// run runs the test and returns the client's and the server's output.
func (r iperf3Run) run(t *testing.T, bin string) (client, server []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	port := strconv.Itoa(freePort(t))

	var srvOut, srvErr bytes.Buffer
	srvArgs := []string{"-s", "-1", "-B", "127.0.0.1", "-p", port}
	if !r.textServer {
		srvArgs = append(srvArgs, "-J")
	}
	srv := exec.CommandContext(ctx, bin, srvArgs...)
	srv.Stdout, srv.Stderr = &srvOut, &srvErr
	srv.WaitDelay = 5 * time.Second
	if err := srv.Start(); err != nil {
		t.Fatalf("starting iperf3 server: %v", err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = srv.Process.Kill()
			_ = srv.Wait()
		}
	})

	cliArgs := []string{"-c", "127.0.0.1", "-p", port}
	if !r.textClient {
		cliArgs = append(cliArgs, "-J")
	}
	if !slices.Contains(r.args, "-k") {
		cliArgs = append(cliArgs, "-t", "1")
	}
	cliArgs = append(cliArgs, r.args...)
	// The server listens shortly after it starts; retry while refused.
	var cliOut []byte
	for attempt := 0; ; attempt++ {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, cliArgs...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		// -J reports the error on stdout, text on stderr.
		if bytes.Contains(append(out, stderr.Bytes()...), []byte("Connection refused")) && attempt < 50 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("iperf3 client: %v\n%s%s", err, out, stderr.Bytes())
		}
		cliOut = out
		break
	}
	waitErr := srv.Wait()
	waited = true
	if waitErr != nil {
		t.Fatalf("iperf3 server: %v\n%s%s", waitErr, srvOut.Bytes(), srvErr.Bytes())
	}
	for name, b := range map[string][]byte{"client": cliOut, "server": srvOut.Bytes()} {
		if (name == "client" && r.textClient) || (name == "server" && r.textServer) {
			continue
		}
		if e, ok := decodeDoc(t, b)["error"]; ok {
			t.Fatalf("iperf3 %s reported an error: %v", name, e)
		}
	}
	return cliOut, srvOut.Bytes()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
