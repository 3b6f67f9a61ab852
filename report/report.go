// Package report holds flowscope's headless front ends: an iperf3-style text
// report, an iperf3 3.12-schema JSON document (-J) and a JSON event stream
// (--json-stream). Each consumes the engine's events and nothing else.
package report

import (
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowscope/flowscope/engine"
)

// Options configure a Reporter.
type Options struct {
	// Format is the -f unit for rates: 0 or 'a' adaptive bits, 'A'
	// adaptive bytes, k/m/g/t or K/M/G/T forced (see units.FormatRate).
	Format byte
	// Title prefixes every text line (iperf3 -T). In JSON the top-level
	// "title" key is the test's title (TestParams.Title), or this one when
	// the test carries none.
	Title string
	// Verbose adds iperf3 -V's extra text lines (system, cookie, test
	// parameters, CPU use, congestion control, per-stream errors).
	Verbose bool
	// SummaryOnly makes the text reporter print only each test's final
	// summary (from the "- - -" separator to "flowscope done."), the part a
	// live UI leaves on the screen after it exits. JSON reporters ignore it.
	SummaryOnly bool
	// SumIntervals keeps, with SummaryOnly, one line per interval and
	// direction before the summary: the SUM of a direction's streams (the
	// stream itself when it has one) — the table a live view leaves.
	SumIntervals bool
	// ServerOutput marks the JSON document a server sends a client that
	// asked for its report (--get-server-output; see
	// engine.ServerConfig.ServerOutput): like iperf3's, it has no "title" or
	// "extra_data", which the ends' own documents carry.
	ServerOutput bool
}

// Reporter consumes engine events in order: Start, zero or more Samples, End
// (End may come without Start on early failure). A server reuses one
// reporter for consecutive tests, so state resets at each Start. Handle is
// called from the engine's goroutine, one call at a time; implementations
// still serialise calls with a mutex. Unknown event types are ignored.
// Write errors are not reported: the output is best effort, like a log.
type Reporter interface {
	Handle(ev engine.Event)
}

// version is the string reported as iperf3's "version", e.g.
// "flowscope 0.1.0".
func version(v string) string {
	if v == "" {
		v = engine.Version
	}
	if strings.HasPrefix(v, "flowscope") {
		return v
	}
	return "flowscope " + v
}

// hostPort splits a stream address (TCP or UDP) into host and port, showing
// IPv4-mapped IPv6 addresses as plain IPv4 the way iperf3 does.
func hostPort(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	switch t := a.(type) {
	case *net.TCPAddr:
		if t == nil {
			return "", 0
		}
		return ipString(t.IP), t.Port
	case *net.UDPAddr:
		if t == nil {
			return "", 0
		}
		return ipString(t.IP), t.Port
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	port, _ := strconv.Atoi(p)
	if ip := net.ParseIP(h); ip != nil {
		h = ipString(ip)
	}
	return h, port
}

func ipString(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// finite maps NaN and ±Inf to 0 so that JSON encoding cannot fail.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// bitrate is bytes*8/seconds, or 0 for an empty or degenerate interval.
func bitrate(bytes uint64, seconds float64) float64 {
	if !(seconds > 0) || math.IsInf(seconds, 0) {
		return 0
	}
	return finite(float64(bytes) * 8 / seconds)
}

// seconds converts a duration to float seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }

// forwardDir is the local direction of the client→server streams: Send on
// the client, Recv on the server. In a bidir test iperf3's "sum" covers the
// forward streams and "sum_bidir_reverse" the others.
func forwardDir(side engine.Side) engine.Dir {
	if side == engine.SideClient {
		return engine.Send
	}
	return engine.Recv
}

// mainDir is the local direction of a non-bidir test's streams.
func mainDir(side engine.Side, reverse bool) engine.Dir {
	d := forwardDir(side)
	if reverse {
		d = 1 - d
	}
	return d
}

// view is one side's count for a stream in the results.
type view struct {
	bytes   uint64
	seconds float64
	known   bool
}

// senderView is the count of whichever side sent on the stream: local when
// this side sends, else the peer's (if the peer reported it).
func senderView(r *engine.StreamResult) view {
	if r.Dir == engine.Send {
		return view{r.Bytes, r.Seconds, true}
	}
	return view{r.PeerBytes, r.PeerSeconds, r.HasPeer}
}

// receiverView is the count of whichever side received on the stream.
func receiverView(r *engine.StreamResult) view {
	if r.Dir == engine.Recv {
		return view{r.Bytes, r.Seconds, true}
	}
	return view{r.PeerBytes, r.PeerSeconds, r.HasPeer}
}

// groupByDir splits indices 0..n-1 by the direction dir(i) returns, keeping
// the order of first appearance of each direction and of the items in it.
func groupByDir(n int, dir func(i int) engine.Dir) [][]int {
	var groups [][]int
	pos := [2]int{-1, -1}
	for i := 0; i < n; i++ {
		d := dir(i) & 1
		if pos[d] < 0 {
			pos[d] = len(groups)
			groups = append(groups, nil)
		}
		groups[pos[d]] = append(groups[pos[d]], i)
	}
	return groups
}

// durationStats returns the minimum, median (mean of the middle two for an
// even count) and maximum of ds.
func durationStats(ds []time.Duration) (min, med, max time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}

// Tee returns a Reporter that hands every event to each of reps in turn,
// e.g. --json-stream-full-output's event stream followed by the -J
// document.
func Tee(reps ...Reporter) Reporter { return tee(reps) }

type tee []Reporter

// Func makes a function a Reporter.
type Func func(engine.Event)

// Handle calls f.
func (f Func) Handle(ev engine.Event) { f(ev) }

func (t tee) Handle(ev engine.Event) {
	for _, r := range t {
		r.Handle(ev)
	}
}
