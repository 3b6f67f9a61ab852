package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// scenario is one test shape, run by every tool that can.
type scenario struct {
	name     string
	parallel int
	zerocopy bool
	// netns runs the server and the client in two network namespaces
	// joined by a veth pair (see netns.go) instead of on 127.0.0.1.
	netns bool
	// special names a scenario with its own runner and table (see
	// special.go); "" for the throughput scenarios.
	special string
	desc    string
}

var allScenarios = []scenario{
	{name: "p1", parallel: 1, desc: "1 TCP flow, default sizes"},
	{name: "p1-zerocopy", parallel: 1, zerocopy: true, desc: "1 flow, zero-copy send (-Z; flowscope only if its --help lists -Z)"},
	{name: "p8", parallel: 8, desc: "8 flows"},
	{name: "p128", parallel: 128, desc: "128 flows (iperf3's maximum)"},
	{name: "p1000", parallel: 1000, desc: "1,000 flows"},
	{name: "veth-p1", parallel: 1, netns: true, desc: "1 TCP flow across a veth pair between two network namespaces (MTU 1500; needs root)"},
	{name: "veth-p8", parallel: 8, netns: true, desc: "8 flows across the veth pair"},
	{name: "udp-max", special: "udp-max", parallel: 1,
		desc: "highest zero-loss UDP rate, 1,470-byte datagrams, bisection of -b"},
	{name: "setup-1000", special: "setup", parallel: 1000, desc: "time until 1,000 flows are connected"},
	{name: "setup-10000", special: "setup", parallel: 10000, desc: "time until 10,000 flows are connected"},
	{name: "sampler-10000", special: "sampler", parallel: 10000,
		desc: "CPU of the interval sampler with 10,000 rate-limited flows"},
	{name: "tui-p8", special: "tui", parallel: 8, desc: "flowscope -P 8 with the live TUI (in tmux) vs --no-tui"},
	{name: "overrun-1000", special: "overrun", parallel: 1000, desc: "how far past -t 5 a 1,000-flow test runs beside two CPU hogs"},
	{name: "overrun-5000", special: "overrun", parallel: 5000, desc: "how far past -t 15 a 5,000-flow test runs beside two CPU hogs"},
}

// defaultScenarios are the ones that fit in about two minutes with -t 4
// and three rounds on a small machine; -scenarios all adds the rest.
var defaultScenarios = []string{"p1", "p1-zerocopy", "p8"}

// measure is what one run's receiver reported.
type measure struct {
	bps     float64 // receiver throughput, bit/s
	bytes   float64 // bytes received
	seconds float64 // the interval the tool measured over
	note    string  // something odd but not fatal
}

// tool knows how to run and read one benchmark program.
type tool struct {
	name string
	bin  string
	// na says why the tool cannot run sc, or "" if it can.
	na func(sc scenario) string
	// serverArgs and clientArgs get the address the server binds to and
	// the client connects to (127.0.0.1, or the server's veth address).
	serverArgs func(host string, port int) []string
	clientArgs func(host string, port int, sc scenario) []string
	// parse reads the receiver's numbers once the client has exited;
	// the server is still running.
	parse func(ctx context.Context, c clientResult, srv *server, sc scenario) (measure, error)
}

type toolConfig struct {
	seconds  string // -t value
	cc       string // congestion control
	fsZeroCp bool   // flowscope accepts -Z
}

func flowscopeTool(bin string, tc toolConfig) *tool {
	return iperf3Like("flowscope", bin, tc, func(sc scenario) string {
		if sc.zerocopy && !tc.fsZeroCp {
			return "flowscope has no -Z yet"
		}
		return ""
	})
}

func iperf3Tool(bin string, tc toolConfig) *tool {
	return iperf3Like("iperf3", bin, tc, func(sc scenario) string {
		if sc.parallel > 128 {
			return "iperf3 allows at most -P 128"
		}
		return ""
	})
}

// iperf3Like is a tool with iperf3's command line and -J document, as
// flowscope and iperf3 both are; na says which scenarios it cannot run.
func iperf3Like(name, bin string, tc toolConfig, na func(scenario) string) *tool {
	return &tool{
		name: name,
		bin:  bin,
		na:   na,
		serverArgs: func(host string, port int) []string {
			return []string{bin, "-s", "-B", host, "-p", strconv.Itoa(port)}
		},
		clientArgs: func(host string, port int, sc scenario) []string {
			a := []string{bin, "-c", host, "-p", strconv.Itoa(port),
				"-P", strconv.Itoa(sc.parallel), "-t", tc.seconds, "-C", tc.cc, "-J"}
			if sc.zerocopy {
				a = append(a, "-Z")
			}
			return a
		},
		parse: func(_ context.Context, c clientResult, _ *server, _ scenario) (measure, error) {
			return parseIperf3JSON(c, tc.cc)
		},
	}
}

func iperf2Tool(bin string, tc toolConfig) *tool {
	return &tool{
		name: "iperf2",
		bin:  bin,
		na: func(sc scenario) string {
			if sc.zerocopy {
				return "iperf2 has no zero-copy send"
			}
			return ""
		},
		// -e: enhanced reports (the server prints a [SUM] line);
		// -f b: exact byte and bit/s counts instead of rounded units.
		serverArgs: func(host string, port int) []string {
			return []string{bin, "-s", "-B", host, "-p", strconv.Itoa(port),
				"-e", "-f", "b", "-Z", tc.cc}
		},
		clientArgs: func(host string, port int, sc scenario) []string {
			return []string{bin, "-c", host, "-p", strconv.Itoa(port),
				"-P", strconv.Itoa(sc.parallel), "-t", tc.seconds, "-Z", tc.cc, "-e", "-f", "b"}
		},
		parse: func(ctx context.Context, c clientResult, srv *server, sc scenario) (measure, error) {
			if c.err != nil {
				return measure{}, c.err
			}
			if !strings.Contains(c.stdout, "TCP congestion control set to "+tc.cc) {
				return measure{}, fmt.Errorf("client did not confirm congestion control %s%s", tc.cc, tail(c.stdout+c.stderr))
			}
			// The server prints its (receiver) report when its threads
			// finish, shortly after the client exits: wait for it.
			// With many flows it may drop some per-flow lines but still
			// print [SUM]: give stragglers a little time, then take [SUM].
			wait := 5*time.Second + time.Duration(sc.parallel)*10*time.Millisecond
			end := time.Now().Add(wait)
			var sumSeen time.Time
			for {
				out := srv.out.String()
				m, err := parseIperf2Server(out, sc.parallel, false)
				if err == nil {
					return m, nil
				}
				if sumSeen.IsZero() && strings.Contains(out, "[SUM]") {
					sumSeen = time.Now()
				}
				last := time.Now().After(end) || srv.exited() ||
					(!sumSeen.IsZero() && time.Since(sumSeen) > 2*time.Second)
				if last {
					if m, err = parseIperf2Server(srv.out.String(), sc.parallel, true); err == nil {
						return m, nil
					}
					return measure{}, fmt.Errorf("iperf2 server report: %v", err)
				}
				select {
				case <-ctx.Done():
					return measure{}, ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
		},
	}
}

// iperf3JSON is the part of iperf3's -J document we read; flowscope
// writes the same schema.
type iperf3JSON struct {
	Error string `json:"error"`
	End   struct {
		SumReceived *struct {
			Seconds       float64 `json:"seconds"`
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		SenderCC string `json:"sender_tcp_congestion"`
	} `json:"end"`
}

func parseIperf3JSON(c clientResult, cc string) (measure, error) {
	var doc iperf3JSON
	jerr := json.Unmarshal([]byte(c.stdout), &doc)
	switch {
	case jerr == nil && doc.Error != "":
		return measure{}, fmt.Errorf("%s", doc.Error)
	case c.err != nil:
		return measure{}, c.err
	case jerr != nil:
		return measure{}, fmt.Errorf("client JSON: %v%s", jerr, tail(c.stderr))
	case doc.End.SumReceived == nil:
		return measure{}, fmt.Errorf("client JSON has no end.sum_received")
	}
	if doc.End.SenderCC != "" && doc.End.SenderCC != cc {
		return measure{}, fmt.Errorf("sender congestion control is %q, want %q", doc.End.SenderCC, cc)
	}
	s := doc.End.SumReceived
	if s.BitsPerSecond <= 0 {
		return measure{}, fmt.Errorf("receiver reported %v bit/s", s.BitsPerSecond)
	}
	return measure{bps: s.BitsPerSecond, bytes: s.Bytes, seconds: s.Seconds}, nil
}

// iperf2 final report line with -e -f b, e.g.
//
//	[  1] 0.0000-2.0006 sec  13414127616 Bytes  53641208230 bits/sec  104901=2396:0:…
//	[SUM] 0.0000-2.0000 sec  28744876152 Bytes  114924800403 bits/sec  214724=…
var iperf2Line = regexp.MustCompile(`(?m)^\[\s*(\d+|SUM)\]\s+(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\s+sec\s+(\d+)\s+Bytes\s+(\d+)\s+bits/sec`)

// parseIperf2Server reads an iperf2 server's output (-e -f b) for one test
// of n flows. With n > 1 it needs the [SUM] line and n flow lines (and
// checks that they add up); with n == 1 there is no [SUM] line. If
// partialOK, a [SUM] line with fewer flow lines is accepted, with a note.
func parseIperf2Server(out string, n int, partialOK bool) (measure, error) {
	var flows []measure
	var sums []measure
	for _, m := range iperf2Line.FindAllStringSubmatch(out, -1) {
		from, _ := strconv.ParseFloat(m[2], 64)
		to, _ := strconv.ParseFloat(m[3], 64)
		b, err1 := strconv.ParseFloat(m[4], 64)
		bps, err2 := strconv.ParseFloat(m[5], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		x := measure{bps: bps, bytes: b, seconds: to - from}
		if m[1] == "SUM" {
			sums = append(sums, x)
		} else {
			flows = append(flows, x)
		}
	}
	if n == 1 {
		if len(flows) != 1 {
			return measure{}, fmt.Errorf("%d flow reports, want 1", len(flows))
		}
		return flows[0], nil
	}
	if len(sums) == 0 || (len(flows) < n && !partialOK) {
		return measure{}, fmt.Errorf("%d/%d flow reports, %d [SUM] lines", len(flows), n, len(sums))
	}
	var fb float64
	for _, f := range flows {
		fb += f.bytes
	}
	var total measure
	for _, s := range sums {
		total.bytes += s.bytes
		total.bps += s.bps
		total.seconds = max(total.seconds, s.seconds)
	}
	if len(flows) < n {
		total.note = fmt.Sprintf("server printed only %d/%d per-flow reports; used its [SUM] line", len(flows), n)
		return total, nil
	}
	if len(flows) != n {
		return measure{}, fmt.Errorf("%d flow reports, want %d", len(flows), n)
	}
	if fb != total.bytes {
		return measure{}, fmt.Errorf("flow reports add up to %.0f bytes, [SUM] says %.0f", fb, total.bytes)
	}
	if len(sums) > 1 {
		total.note = fmt.Sprintf("%d [SUM] lines added", len(sums))
	}
	return total, nil
}
