package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/units"
)

// Column padding of iperf3's report lines after the Bitrate column.
const (
	padNoRetr   = "                  " // 18 columns: no Retr/Cwnd
	padSumRetr  = "             "      // after a [SUM] Retr value
	padCwndTail = "       "            // after a Cwnd value
	separator   = "- - - - - - - - - - - - - - - - - - - - - - - - -"
)

// text is the iperf3-style human-readable reporter.
type text struct {
	mu   sync.Mutex
	w    io.Writer
	opts Options
	buf  bytes.Buffer

	start      *engine.Start
	side       engine.Side
	header     bool // the interval header was printed
	lastWasSep bool // the last line printed was the "- - -" separator
}

// NewText returns a Reporter that writes iperf3's text report to w: the
// connection lines, one line per stream per interval with [SUM] lines for
// multi-stream directions, and the sender/receiver summary. The client's
// report ends with "flowscope done." where iperf3 prints "iperf Done.".
// Stream ids take the place of iperf3's socket numbers. Errors are not
// printed (the caller reports End.Err), but what was measured before a
// failure still is.
func NewText(w io.Writer, opts Options) Reporter {
	return &text{w: w, opts: opts}
}

// WriteListening writes the banner iperf3's server prints while it waits
// for test number testNum (1-based) on port; a flowscope server calls it
// before each test, as nothing in the engine's events marks that moment.
func WriteListening(w io.Writer, port, testNum int, opts Options) error {
	t := &text{opts: opts}
	bar := strings.Repeat("-", 59)
	t.line(bar)
	t.line(fmt.Sprintf("Server listening on %d (test #%d)", port, testNum))
	t.line(bar)
	_, err := w.Write(t.buf.Bytes())
	return err
}

func (t *text) Handle(ev engine.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e := ev.(type) {
	case *engine.Start:
		t.onStart(e)
		t.dropIfSummaryOnly()
	case *engine.Sample:
		t.onSample(e)
		t.dropIfSummaryOnly()
	case *engine.End:
		t.onEnd(e)
	default:
		return
	}
	if t.buf.Len() > 0 {
		_, _ = t.w.Write(t.buf.Bytes())
		t.buf.Reset()
	}
}

// dropIfSummaryOnly discards the lines just built when only the summary
// is wanted.
func (t *text) dropIfSummaryOnly() {
	if t.opts.SummaryOnly {
		t.buf.Reset()
		t.lastWasSep = false
	}
}

// line adds one output line, with the title prefix if one is set.
func (t *text) line(s string) {
	if t.opts.Title != "" {
		t.buf.WriteString(t.opts.Title)
		t.buf.WriteString(":  ")
	}
	t.buf.WriteString(s)
	t.buf.WriteByte('\n')
	t.lastWasSep = s == separator
}

func (t *text) onStart(s *engine.Start) {
	t.start, t.side, t.header, t.lastWasSep = s, s.Side, false, false
	v := t.opts.Verbose
	ts := s.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	if v {
		t.line(version(s.Version))
		t.line(systemInfo())
		if s.Side == engine.SideClient {
			t.line(fmt.Sprintf("Control connection MSS %d", s.MSS))
		}
		t.line("Time: " + rfc1123(ts))
	}
	if s.Side == engine.SideClient {
		t.line(fmt.Sprintf("Connecting to host %s, port %d", s.Host, s.Port))
		if s.Params.Reverse && !s.Params.Bidir {
			t.line(fmt.Sprintf("Reverse mode, remote host %s is sending", s.Host))
		}
	} else {
		t.line(fmt.Sprintf("Accepted connection from %s, port %d", s.Host, s.Port))
	}
	if v {
		t.line("      Cookie: " + s.Cookie)
		t.line(fmt.Sprintf("      TCP MSS: %d (default)", s.MSS))
	}
	for _, st := range s.Streams {
		lh, lp := hostPort(st.Local)
		rh, rp := hostPort(st.Remote)
		t.line(fmt.Sprintf("[%3d] local %s port %d connected to %s port %d", st.ID, lh, lp, rh, rp))
	}
	if v {
		p := s.Params
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		length := secondsString(p.Duration) + " second test"
		if p.Duration == 0 && p.Bytes > 0 {
			length = fmt.Sprintf("%d bytes to send", p.Bytes)
		}
		t.line(fmt.Sprintf("Starting Test: protocol: %s, %d streams, %d byte blocks, omitting %s seconds, %s, tos 0",
			proto, p.NumStreams, p.BlockSize, secondsString(p.Omit), length))
	}
}

func (t *text) bidir() bool { return t.start != nil && t.start.Params.Bidir }

// label is the "[  1]" or, in bidir tests, "[  1][TX-C]" line prefix.
func (t *text) label(id string, dir engine.Dir) string {
	if !t.bidir() {
		return "[" + id + "]"
	}
	role := "TX"
	if dir == engine.Recv {
		role = "RX"
	}
	end := "C"
	if t.side == engine.SideServer {
		end = "S"
	}
	return "[" + id + "][" + role + "-" + end + "]"
}

func streamID(id int) string { return fmt.Sprintf("%3d", id) }

// columns is the Interval, Transfer and Bitrate part of a report line.
func (t *text) columns(from, to float64, n uint64, secs float64) string {
	return fmt.Sprintf(" %6.2f-%-6.2f sec  %s  %s", from, to,
		units.FormatBytes(float64(n), 'A'), units.FormatRate(bitrate(n, secs), t.format()))
}

func (t *text) format() byte {
	if t.opts.Format == 0 {
		return 'a'
	}
	return t.opts.Format
}

func (t *text) headerLine(withRetr, withCwnd bool) string {
	h := "[ ID]"
	if t.bidir() {
		h = "[ ID][Role]"
	}
	h += " Interval           Transfer     Bitrate"
	if withRetr {
		h += "         Retr"
		if withCwnd {
			h += "  Cwnd"
		}
	}
	return h
}

func (t *text) onSample(s *engine.Sample) {
	if t.start == nil {
		t.side = s.Side
	}
	if !t.header {
		wide := t.bidir()
		for i := range s.Streams {
			if st := &s.Streams[i]; st.Dir == engine.Send && st.TCP.Valid {
				wide = true
			}
		}
		t.line(t.headerLine(wide, wide))
		t.header = true
	}
	from, to, secs := seconds(s.Start), seconds(s.End), s.Seconds()
	tail := func(line string) string {
		if s.Omitted {
			return line + "(omitted)"
		}
		return line
	}
	groups := groupByDir(len(s.Streams), func(i int) engine.Dir { return s.Streams[i].Dir })
	perDir := 0
	for _, g := range groups {
		var sum uint64
		var retr uint64
		tcp := false
		for _, i := range g {
			st := &s.Streams[i]
			sum += st.Bytes
			l := t.label(streamID(st.ID), st.Dir) + t.columns(from, to, st.Bytes, secs)
			if st.Dir == engine.Send && st.TCP.Valid {
				tcp = true
				retr += st.TCP.Retransmits
				l += fmt.Sprintf("  %3d   %s%s", st.TCP.Retransmits, units.FormatBytes(float64(st.TCP.SndCwnd), 'A'), padCwndTail)
			} else {
				l += padNoRetr
			}
			t.line(tail(l))
		}
		perDir = max(perDir, len(g))
		if len(g) > 1 {
			l := t.label("SUM", s.Streams[g[0]].Dir) + t.columns(from, to, sum, secs)
			if tcp {
				l += fmt.Sprintf("  %3d%s", retr, padSumRetr)
			} else {
				l += padNoRetr
			}
			t.line(tail(l))
		}
	}
	if t.start != nil {
		perDir = t.start.Params.NumStreams
	}
	if perDir > 1 {
		t.line(separator)
	}
}

// summaryLine is one sender or receiver line of the final summary.
type summaryLine struct {
	label string
	v     view
	retr  int64 // < 0: no Retr column
	role  string
}

func (t *text) onEnd(e *engine.End) {
	defer func() { t.start, t.header, t.lastWasSep = nil, false, false }()
	if t.start == nil {
		return
	}
	client := t.side == engine.SideClient
	var lines []summaryLine
	groups := groupByDir(len(e.Streams), func(i int) engine.Dir { return e.Streams[i].Dir })
	for _, g := range groups {
		var sumS, sumR view
		sumRetr := int64(-1)
		for _, i := range g {
			r := &e.Streams[i]
			label := t.label(streamID(r.ID), r.Dir)
			// The server shows only its own side, as iperf3's does.
			if s := senderView(r); s.known && (client || r.Dir == engine.Send) {
				lines = append(lines, summaryLine{label, s, r.Retransmits, "sender"})
				addView(&sumS, s)
				if r.Retransmits >= 0 {
					sumRetr = max(sumRetr, 0) + r.Retransmits
				}
			}
			if rv := receiverView(r); rv.known && (client || r.Dir == engine.Recv) {
				lines = append(lines, summaryLine{label, rv, -1, "receiver"})
				addView(&sumR, rv)
			}
		}
		if len(g) > 1 {
			label := t.label("SUM", e.Streams[g[0]].Dir)
			if sumS.known {
				lines = append(lines, summaryLine{label, sumS, sumRetr, "sender"})
			}
			if sumR.known {
				lines = append(lines, summaryLine{label, sumR, -1, "receiver"})
			}
		}
	}
	if len(lines) == 0 && e.Err != nil {
		return
	}
	if !t.lastWasSep {
		t.line(separator)
	}
	if t.opts.Verbose {
		t.line("Test Complete. Summary Results:")
	}
	withRetr := false
	for _, l := range lines {
		withRetr = withRetr || l.role == "sender"
	}
	t.line(t.headerLine(withRetr, false))
	for _, l := range lines {
		s := l.label + t.columns(0, l.v.seconds, l.v.bytes, l.v.seconds)
		if l.retr >= 0 {
			s += fmt.Sprintf("  %3d%s", l.retr, padSumRetr)
		} else {
			s += padNoRetr
		}
		t.line(s + l.role)
	}
	if t.opts.Verbose {
		t.verboseEnd(e)
	}
	if client && e.Err == nil {
		t.line("")
		t.line("flowscope done.")
	}
}

// addView accumulates a per-stream count into a [SUM] count: bytes add up,
// the duration is the longest stream's.
func addView(sum *view, v view) {
	sum.bytes += v.bytes
	sum.seconds = max(sum.seconds, v.seconds)
	sum.known = true
}

func (t *text) verboseEnd(e *engine.End) {
	for i := range e.Streams {
		if r := &e.Streams[i]; r.Err != "" {
			t.line(t.label(streamID(r.ID), r.Dir) + " error: " + r.Err)
		}
	}
	p := t.start.Params
	localSends := p.Bidir || mainDir(t.side, p.Reverse) == engine.Send
	local, remote := "local/sender", "remote/receiver"
	if !localSends {
		local, remote = "local/receiver", "remote/sender"
	}
	cpu := fmt.Sprintf("CPU Utilization: %s %s", local, cpuString(e.LocalCPU))
	if e.HasRemote {
		cpu += fmt.Sprintf(", %s %s", remote, cpuString(e.RemoteCPU))
	}
	t.line(cpu)
	snd, rcv := e.Congestion, e.PeerCongestion
	if !localSends {
		snd, rcv = rcv, snd
	}
	client := t.side == engine.SideClient
	if snd != "" && (client || localSends) {
		t.line("snd_tcp_congestion " + snd)
	}
	if rcv != "" && (client || !localSends || p.Bidir) {
		t.line("rcv_tcp_congestion " + rcv)
	}
}

func cpuString(c engine.CPU) string {
	return fmt.Sprintf("%.1f%% (%.1f%%u/%.1f%%s)", finite(c.Total), finite(c.User), finite(c.System))
}

// rfc1123 formats t as iperf3 does: "Sun, 22 Nov 2026 00:01:41 GMT".
func rfc1123(t time.Time) string {
	return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
}

// secondsString shows a duration in whole seconds when it is whole, else
// with the needed decimals ("10", "0.5").
func secondsString(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
