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
	"github.com/flowscope/flowscope/termsafe"
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
	udp        bool // a UDP test: datagram columns instead of TCP's
	header     bool // the interval header was printed
	lastWasSep bool // the last line printed was the "- - -" separator
}

// NewText returns a Reporter that writes iperf3's text report to w: the
// connection lines, one line per stream per interval with [SUM] lines for
// multi-stream directions, the sender/receiver summary and, when the End
// carries it (--get-server-output), the server's own report. The client's
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
		if !t.opts.SumIntervals {
			t.dropIfSummaryOnly()
		}
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

// line adds one output line, with the title prefix if one is set. Lines
// carry text from the peer (its cookie, version, errors, congestion
// control), so control characters are escaped.
func (t *text) line(s string) {
	if t.opts.Title != "" {
		t.buf.WriteString(termsafe.String(t.opts.Title))
		t.buf.WriteString(":  ")
	}
	t.buf.WriteString(termsafe.String(s))
	t.buf.WriteByte('\n')
	t.lastWasSep = s == separator
}

// raw adds text exactly as given, without the title prefix: iperf3 prints
// some of its output with printf rather than its prefixing iperf_printf.
// Control characters but newlines and tabs are escaped, as in line.
func (t *text) raw(s string) {
	t.buf.WriteString(termsafe.Lines(s))
	t.lastWasSep = false
}

func (t *text) onStart(s *engine.Start) {
	t.start, t.side, t.udp, t.header, t.lastWasSep = s, s.Side, isUDP(s), false, false
	v := t.opts.Verbose
	ts := s.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	if v {
		t.line(version(s.Version))
		// iperf3 3.12 prefixes the system line with the title twice, and
		// prints the control connection's MSS without it.
		sys := systemInfo()
		if t.opts.Title != "" {
			sys = t.opts.Title + ":  " + sys
		}
		t.line(sys)
		if s.Side == engine.SideClient {
			t.raw(fmt.Sprintf("Control connection MSS %d\n", s.MSS))
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
	if note := skipRxNote(s); note != "" {
		t.line(note)
	}
	if v {
		t.line("      Cookie: " + s.Cookie)
		if t.udp {
			t.line(fmt.Sprintf("      Target Bitrate: %d", s.Params.Rate))
		} else {
			if s.Params.MSS > 0 {
				t.line(fmt.Sprintf("      TCP MSS: %d", s.Params.MSS)) // -M, as iperf3 prints it
			} else {
				t.line(fmt.Sprintf("      TCP MSS: %d (default)", s.MSS))
			}
		}
	}
	for _, st := range s.Streams {
		lh, lp := hostPort(st.Local)
		rh, rp := hostPort(st.Remote)
		t.line(fmt.Sprintf("[%3d] local %s port %d connected to %s port %d", st.ID, lh, lp, rh, rp))
	}
	if v {
		p := s.Params
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		length := secondsString(p.Duration) + " second test"
		switch {
		case p.Blocks > 0:
			length = fmt.Sprintf("%d blocks to send", p.Blocks)
		case p.Duration == 0 && p.Bytes > 0:
			length = fmt.Sprintf("%d bytes to send", p.Bytes)
		}
		t.line(fmt.Sprintf("Starting Test: protocol: %s, %d streams, %d byte blocks, omitting %s seconds, %s, tos %d",
			proto, p.Parallel, p.BlockSize, secondsString(p.Omit), length, p.TOS))
	}
}

func (t *text) bidir() bool { return t.start != nil && t.start.Params.Bidir }

// label is the "[  1]" or, in bidir tests, "[  1][TX-C]" line prefix.
func (t *text) label(id string, dir engine.Dir) string {
	return "[" + id + "]" + t.role(dir)
}

// role is the "[TX-C]" part of a bidir test's line prefix, empty in other
// tests.
func (t *text) role(dir engine.Dir) string {
	if !t.bidir() {
		return ""
	}
	role := "TX"
	if dir == engine.Recv {
		role = "RX"
	}
	end := "C"
	if t.side == engine.SideServer {
		end = "S"
	}
	return "[" + role + "-" + end + "]"
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
	h := t.headerStart()
	if withRetr {
		h += "         Retr"
		if withCwnd {
			h += "  Cwnd"
		}
	}
	return h
}

func (t *text) headerStart() string {
	h := "[ ID]"
	if t.bidir() {
		h = "[ ID][Role]"
	}
	return h + " Interval           Transfer     Bitrate"
}

// udpHeaderLine is iperf3's UDP header: the receiver's (also used for the
// summary and in bidir tests) or the sender's.
func (t *text) udpHeaderLine(sender bool) string {
	if sender {
		return t.headerStart() + "         Total Datagrams"
	}
	return t.headerStart() + "         Jitter    Lost/Total Datagrams"
}

// udpSenderPad is what iperf3 puts between the Bitrate and Total Datagrams
// columns of a sender's interval line: wider in bidir tests, where the
// header is the receiver's.
func (t *text) udpSenderPad() string {
	if t.bidir() {
		return "            "
	}
	return "  "
}

// udpSenderColumns and udpReceiverColumns follow the Bitrate column of a
// UDP line.
func (t *text) udpSenderColumns(packets uint64) string {
	return fmt.Sprintf("%s%d  ", t.udpSenderPad(), packets)
}

func udpReceiverColumns(jitter float64, lost int64, total uint64, percent float64) string {
	return fmt.Sprintf("  %5.3f ms  %d/%d (%s%%)  ", jitterMS(jitter), lost, total, percentString(percent))
}

func (t *text) onSample(s *engine.Sample) {
	if t.start == nil {
		t.side = s.Side
	}
	for i := range s.Streams {
		t.udp = t.udp || s.Streams[i].UDP != nil
	}
	if !t.header && t.udp {
		// iperf3's header follows the test's mode: a sender's, or in
		// receiving and bidir tests the receiver's.
		var sender bool
		if t.start != nil {
			sender = !t.bidir() && mainDir(t.side, t.start.Params.Reverse) == engine.Send
		} else {
			sender = len(s.Streams) > 0 && s.Streams[0].Dir == engine.Send
		}
		t.line(t.udpHeaderLine(sender))
		t.header = true
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
	sumsOnly := t.opts.SummaryOnly && t.opts.SumIntervals
	perDir := 0
	for _, g := range groups {
		var sum uint64
		var retr uint64
		var dgrams intervalUDP
		tcp := false
		for _, i := range g {
			st := &s.Streams[i]
			sum += st.Bytes
			l := t.label(streamID(st.ID), st.Dir) + t.columns(from, to, st.Bytes, secs)
			if t.udp {
				var one intervalUDP
				one.add(st.Dir, st.UDP)
				dgrams.add(st.Dir, st.UDP)
				l += t.udpIntervalColumns(st.Dir, &one)
			} else if st.Dir == engine.Send && st.TCP.Valid {
				tcp = true
				retr += st.TCP.Retransmits
				l += fmt.Sprintf("  %3d   %s%s", st.TCP.Retransmits, units.FormatBytes(float64(st.TCP.SndCwnd), 'A'), padCwndTail)
			} else {
				l += padNoRetr
			}
			if !sumsOnly || len(g) == 1 {
				t.line(tail(l))
			}
		}
		perDir = max(perDir, len(g))
		if len(g) > 1 {
			dir := s.Streams[g[0]].Dir
			l := t.label("SUM", dir) + t.columns(from, to, sum, secs)
			if t.udp {
				l += t.udpIntervalColumns(dir, &dgrams)
			} else if tcp {
				l += fmt.Sprintf("  %3d%s", retr, padSumRetr)
			} else {
				l += padNoRetr
			}
			t.line(tail(l))
		}
	}
	if t.start != nil {
		perDir = t.start.Params.Parallel
	}
	if perDir > 1 && !sumsOnly {
		t.line(separator)
	}
}

// udpIntervalColumns are the datagram columns of an interval line.
func (t *text) udpIntervalColumns(dir engine.Dir, iu *intervalUDP) string {
	if dir == engine.Send {
		return t.udpSenderColumns(iu.packets)
	}
	return udpReceiverColumns(iu.jitter(), iu.lost, iu.packets, iu.lostPercent())
}

// summaryLine is one line of the final summary.
type summaryLine struct {
	text string
	// measured is false for the "(… statistics not available)" notes of a
	// verbose server.
	measured bool
	sender   bool // a measured sender line
}

func (t *text) onEnd(e *engine.End) {
	defer func() { t.start, t.udp, t.header, t.lastWasSep = nil, false, false, false }()
	if t.start == nil {
		return
	}
	for i := range e.Streams {
		t.udp = t.udp || e.Streams[i].UDP != nil
	}
	var lines []summaryLine
	if t.udp {
		lines = t.udpSummary(e)
	} else {
		lines = t.tcpSummary(e)
	}
	measured, withRetr := false, false
	for _, l := range lines {
		measured = measured || l.measured
		withRetr = withRetr || l.sender
	}
	if !measured && e.Err != nil {
		return
	}
	if !t.lastWasSep {
		t.line(separator)
	}
	if t.opts.Verbose {
		t.line("Test Complete. Summary Results:")
	}
	if t.udp {
		t.line(t.udpHeaderLine(false))
	} else {
		t.line(t.headerLine(withRetr, false))
	}
	for _, l := range lines {
		t.line(l.text)
	}
	if t.opts.Verbose {
		t.verboseEnd(e)
	}
	t.serverOutput(e)
	if t.side == engine.SideClient && e.Err == nil {
		t.line("")
		t.line("flowscope done.")
	}
}

// serverOutput is the server's report the client asked for
// (--get-server-output), as iperf3 3.12 prints it after the summary: a blank
// line (title-prefixed), then, without the prefix, "Server JSON output:" and
// the document as cJSON prints it, or "Server output:" and the server's
// text, each followed by a newline.
func (t *text) serverOutput(e *engine.End) {
	if js := serverOutputJSON(e); js != nil {
		if s, err := cjsonPrint(js); err == nil {
			t.line("")
			t.raw("Server JSON output:\n" + s + "\n")
		}
	}
	if e.ServerOutputText != "" {
		t.line("")
		t.raw("Server output:\n" + e.ServerOutputText + "\n")
	}
}

// notAvailable is the note iperf3's verbose server prints in place of the
// summary line of the side it did not see; nil otherwise.
func (t *text) notAvailable(id, what string) []summaryLine {
	if !t.opts.Verbose {
		return nil
	}
	return []summaryLine{{text: fmt.Sprintf("[%3s] (%s statistics not available)", id, what)}}
}

// tcpSummary is the TCP summary: per stream a sender and a receiver line,
// per multi-stream direction [SUM] lines. The server shows only its own
// side, as iperf3's does.
func (t *text) tcpSummary(e *engine.End) []summaryLine {
	server := t.side == engine.SideServer
	var lines []summaryLine
	add := func(label string, v view, retr int64, role string) {
		s := label + t.columns(0, v.seconds, v.bytes, v.seconds)
		if retr >= 0 {
			s += fmt.Sprintf("  %3d%s", retr, padSumRetr)
		} else {
			s += padNoRetr
		}
		lines = append(lines, summaryLine{text: s + role, measured: true, sender: role == "sender"})
	}
	groups := groupByDir(len(e.Streams), func(i int) engine.Dir { return e.Streams[i].Dir })
	for _, g := range groups {
		var sumS, sumR view
		sumRetr := int64(-1)
		dir := e.Streams[g[0]].Dir
		for _, i := range g {
			r := &e.Streams[i]
			id := streamID(r.ID)
			label := t.label(id, r.Dir)
			if server && r.Dir == engine.Recv {
				lines = append(lines, t.notAvailable(id, "sender")...)
			} else if s := senderView(r); s.known {
				add(label, s, r.Retransmits, "sender")
				addView(&sumS, s)
				if r.Retransmits >= 0 {
					sumRetr = max(sumRetr, 0) + r.Retransmits
				}
			}
			if server && r.Dir == engine.Send {
				lines = append(lines, t.notAvailable(id, "receiver")...)
			} else if rv := receiverView(r); rv.known {
				add(label, rv, -1, "receiver")
				addView(&sumR, rv)
			}
		}
		if len(g) > 1 {
			label := t.label("SUM", dir)
			if server && dir == engine.Recv {
				lines = append(lines, t.notAvailable("SUM", "sender")...)
			} else if sumS.known {
				add(label, sumS, sumRetr, "sender")
			}
			if server && dir == engine.Send {
				lines = append(lines, t.notAvailable("SUM", "receiver")...)
			} else if sumR.known {
				add(label, sumR, -1, "receiver")
			}
		}
	}
	return lines
}

// udpSummary is the UDP summary, iperf3's: per stream a sender line (its
// datagram count, no loss or jitter) and a receiver line (jitter,
// lost/total (percent) of the receiver's total), an out-of-order note
// between them when this side received datagrams out of order, and per
// multi-stream direction [SUM] lines whose loss share is over the senders'
// counts. The server shows only its own side.
func (t *text) udpSummary(e *engine.End) []summaryLine {
	server := t.side == engine.SideServer
	var lines []summaryLine
	add := func(label string, v view, cols, role string) {
		s := label + t.columns(0, v.seconds, v.bytes, v.seconds) + cols + role
		lines = append(lines, summaryLine{text: s, measured: true, sender: role == "sender"})
	}
	groups := groupByDir(len(e.Streams), func(i int) engine.Dir { return e.Streams[i].Dir })
	for _, g := range groups {
		var sumS, sumR view
		var counts udpGroup
		dir := e.Streams[g[0]].Dir
		for _, i := range g {
			r := &e.Streams[i]
			id := streamID(r.ID)
			label := t.label(id, r.Dir)
			c := udpResult(r)
			counts.add(c)
			s, rv := senderView(r), receiverView(r)
			if server && r.Dir == engine.Recv {
				lines = append(lines, t.notAvailable(id, "sender")...)
			} else if s.known {
				add(label, s, udpReceiverColumns(0, 0, c.sent, 0), "sender")
				addView(&sumS, s)
			}
			if c.outOfOrder > 0 {
				secs := s.seconds
				if !s.known {
					secs = rv.seconds
				}
				lines = append(lines, summaryLine{
					text:     fmt.Sprintf("[SUM]%s %4.1f-%4.1f sec  %d datagrams received out-of-order", t.role(r.Dir), 0.0, secs, c.outOfOrder),
					measured: true,
				})
			}
			if server && r.Dir == engine.Send {
				lines = append(lines, t.notAvailable(id, "receiver")...)
			} else if rv.known {
				add(label, rv, udpReceiverColumns(c.jitter, c.lost, c.received, lostPercent(c.lost, c.received)), "receiver")
				addView(&sumR, rv)
			}
		}
		if len(g) > 1 {
			// iperf3 prints no "not available" notes for UDP sums.
			label := t.label("SUM", dir)
			if sumS.known && !(server && dir == engine.Recv) {
				add(label, sumS, udpReceiverColumns(0, 0, counts.sent, 0), "sender")
			}
			if sumR.known && !(server && dir == engine.Send) {
				add(label, sumR, udpReceiverColumns(counts.jitter(), counts.lost, counts.received, counts.lostPercent()), "receiver")
			}
		}
	}
	return lines
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
	if t.udp {
		return
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

// skipRxNote says that receivers drop data without copying it
// (--skip-rx-copy), so nobody mistakes the figures for a normal test's;
// "" when the option is off.
func skipRxNote(s *engine.Start) string {
	if !s.Params.SkipRxCopy {
		return ""
	}
	note := "Receivers skip the copy into the program (--skip-rx-copy: MSG_TRUNC)"
	serverReceives := s.Params.Bidir || !s.Params.Reverse
	if s.Side == engine.SideClient && serverReceives && !s.PeerFlowscope {
		note += "; the server is stock iperf3, which copies unless it is 3.19 or later"
	}
	return note
}
