package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/flowscope/flowscope/engine"
)

// Map classes: a stream's rate against the median, and the states that
// override it.
const (
	mapIdle    = iota // closed, connecting, or not measured yet
	mapSlow           // below half the median
	mapLow            // 0.5–0.8 × median
	mapMedian         // 0.8–1.25 × median
	mapFast           // above 1.25 × median
	mapStalled        // no bytes for the stall window
	mapFailed
	mapClasses
)

// Glyphs get denser with the rate so the map reads without colour too.
var mapGlyph = [mapClasses]string{
	mapIdle:    "·",
	mapSlow:    "░",
	mapLow:     "▒",
	mapMedian:  "▓",
	mapFast:    "█",
	mapStalled: "X",
	mapFailed:  "x",
}

// mapSelGlyph marks the cursor's cell.
const mapSelGlyph = "@"

var mapLegend = [mapClasses]string{
	mapIdle:    "idle",
	mapSlow:    "<0.5×",
	mapLow:     "0.5–0.8×",
	mapMedian:  "0.8–1.25×",
	mapFast:    ">1.25×",
	mapStalled: "stalled",
	mapFailed:  "failed",
}

// mapClass classifies one stream for the map.
func mapClass(s *stream, median float64) int {
	switch {
	case s.state == engine.StateFailed:
		return mapFailed
	case s.state == engine.StateStalled || s.endedStalled:
		return mapStalled
	case s.state != engine.StateRunning || !s.sampled:
		return mapIdle
	}
	if median <= 0 {
		if s.rate > 0 {
			return mapFast
		}
		return mapSlow
	}
	switch q := s.rate / median; {
	case q < 0.5:
		return mapSlow
	case q < 0.8:
		return mapLow
	case q <= 1.25:
		return mapMedian
	}
	return mapFast
}

// mapGeometry is the map's flows per row, rows on screen and cell width
// for a body of height h: two columns per flow when they all fit that way,
// else one.
func (ts *testScreen) mapGeometry(h int) (cols, rows, cellW int) {
	rows = max(1, h-3)
	if w2 := (ts.width - 2) / 2; ts.count() <= w2*rows {
		return max(1, w2), rows, 2
	}
	return max(1, ts.width-2), rows, 1
}

// mapView shows every stream as one cell, coloured by rate against the
// median of its direction, in the list's order.
func (ts *testScreen) mapView(h int) []string {
	st := ts.st
	r := ts.run
	out := make([]string, 0, h)
	if len(r.streams) == 0 {
		return append(out, st.dim.wrap("   no streams yet"))
	}
	med := [2]float64{ts.medianRate(engine.Send), ts.medianRate(engine.Recv)}
	cols, rows, cw := ts.mapGeometry(h)
	n := ts.count()
	ts.cursor = min(max(ts.cursor, 0), max(n-1, 0))
	crow := ts.cursor / cols
	ts.offset = min(max(ts.offset, 0), max((n+cols-1)/cols-rows, 0))
	if crow < ts.offset {
		ts.offset = crow
	}
	if crow >= ts.offset+rows {
		ts.offset = crow - rows + 1
	}
	var counts [mapClasses]int
	for i := range r.streams {
		counts[mapClass(&r.streams[i], med[r.streams[i].dir])]++
	}
	first, last := ts.offset*cols, min(n, (ts.offset+rows)*cols)
	info := " map · " + strconv.Itoa(len(r.streams)) + " flows, one cell each, rate against the median " + ts.mediansLabel(med)
	if first > 0 || last < n {
		info += " · showing " + strconv.Itoa(first+1) + "–" + strconv.Itoa(last) + " of " + strconv.Itoa(n)
	}
	out = append(out, ts.truncate(st.heading.wrap(info)))
	var b strings.Builder
	for row := 0; row < rows; row++ {
		b.Reset()
		b.WriteByte(' ')
		for c := 0; c < cols; c++ {
			pos := (ts.offset+row)*cols + c
			if pos >= n {
				break
			}
			s := &r.streams[ts.at(pos)]
			cl := mapClass(s, med[s.dir])
			switch {
			case pos == ts.cursor && cw == 2:
				b.WriteString(st.mapSel2[cl])
			case pos == ts.cursor:
				b.WriteString(st.mapSel[cl])
			case cw == 2:
				b.WriteString(st.mapCell2[cl])
			default:
				b.WriteString(st.mapCell[cl])
			}
		}
		out = append(out, b.String())
	}
	for _, sep := range []string{"  ", " "} {
		b.Reset()
		b.WriteByte(' ')
		for c := 0; c < mapClasses; c++ {
			b.WriteString(st.mapCell[c])
			b.WriteString(" " + mapLegend[c] + " " + strconv.Itoa(counts[c]) + sep)
		}
		if ansi.StringWidth(b.String()) <= ts.width {
			break
		}
	}
	out = append(out, ts.truncate(b.String()))
	if n > 0 {
		s := &r.streams[ts.at(ts.cursor)]
		line := " @ stream " + strconv.Itoa(s.id) + " " + dirGlyph(s.dir) + " " + fmtRate(s.rate) + " · " + stateText(s)
		if m := med[s.dir]; m > 0 && s.state == engine.StateRunning && s.sampled {
			line += " · " + strconv.FormatFloat(s.rate/m, 'f', 2, 64) + "× " + dirGlyph(s.dir) + " median"
		}
		out = append(out, ts.truncate(st.sel.wrap(line)+st.dim.wrap("   enter: detail")))
	}
	return out
}

// mediansLabel is the medians the map compares with: one rate, or each
// direction's when the test has both.
func (ts *testScreen) mediansLabel(med [2]float64) string {
	r := ts.run
	if r.anySend && r.anyRecv {
		return "of its direction: ↑ " + fmtRate(med[engine.Send]) + ", ↓ " + fmtRate(med[engine.Recv])
	}
	if r.anyRecv {
		return fmtRate(med[engine.Recv])
	}
	return fmtRate(med[engine.Send])
}

// detailView is one stream: a large chart of its rate and every field we
// have for it.
func (ts *testScreen) detailView(h int) []string {
	st := ts.st
	r := ts.run
	if ts.detail >= len(r.streams) {
		return []string{st.dim.wrap("   no stream selected")}
	}
	s := &r.streams[ts.detail]
	var fields, wide []field
	for _, f := range ts.detailFields(s) {
		if f.wide() {
			wide = append(wide, f)
		} else {
			fields = append(fields, f)
		}
	}
	half := (len(fields) + 1) / 2
	var wideLines []string
	for _, f := range wide {
		wideLines = append(wideLines, wideField(st, f, ts.width-1)...)
	}
	chartH := max(h-half-len(wideLines)-1, 6)
	if chartH > h-3 {
		chartH = h
	}
	// The chart: this stream's last histLen intervals.
	vals := r.history(ts.detail, histLen, nil)
	n := len(vals)
	times := make([]float64, n)
	for k := 0; k < n; k++ {
		times[k] = float64(r.times[(r.head-n+k+histLen)%histLen])
	}
	xMin, xMax := 0.0, 10.0
	if t := r.total(); t > 0 {
		xMax = t
	}
	if n > 0 {
		xMax = max(xMax, times[n-1])
		if r.n == histLen {
			xMin = times[0]
			xMax = times[n-1]
		}
	}
	yMax := 0.0
	for _, v := range vals {
		yMax = max(yMax, float64(v))
	}
	p := st.sendLine
	if s.dir == engine.Recv {
		p = st.recvLine
	}
	if s.bad() {
		p = st.sparkBad
	}
	title := st.heading.wrap("stream "+strconv.Itoa(s.id)) + " " + dirGlyph(s.dir) + " " + s.dir.String() + " · " + fmtRate(s.rate)
	if isStallCell(s) {
		tag, _ := stallCell(s)
		title += " " + st.stalledTag.wrap(" "+strings.TrimPrefix(tag, "!! ")+" ")
	}
	var lines []series
	if n > 0 {
		lines = []series{{n: n, at: func(i int) (float64, float64) { return times[i], float64(vals[i]) }, paint: p}}
	}
	out := ts.box(title, drawChart(st, chartSpec{w: ts.width - 2, h: chartH - 2, xMin: xMin, xMax: xMax, yMax: yMax, lines: lines}))
	colW := (ts.width - 2) / 2
	for i := 0; i < half && len(out) < h; i++ {
		var b strings.Builder
		b.WriteByte(' ')
		writeField(&b, st, fields[i], colW)
		if j := i + half; j < len(fields) {
			writeField(&b, st, fields[j], colW)
		}
		out = append(out, ts.truncate(b.String()))
	}
	for _, l := range wideLines {
		if len(out) >= h {
			break
		}
		out = append(out, ts.truncate(l))
	}
	return out
}

// wideField is a field on lines of its own, its value wrapped to width
// under the value's column: a stall reason is read whole.
func wideField(st *styles, f field, width int) []string {
	var c strings.Builder
	c.WriteByte(' ')
	padR(&c, f.label, fieldLabelW)
	label := st.dim.wrap(c.String())
	v := f.value
	if f.bad {
		v = st.bad.wrap(v)
	}
	return wrapText(label+v, width, strings.Repeat(" ", fieldLabelW+1))
}

// udpReceiverFields is a UDP receiver's counters: this interval's u and
// the test's lost of packets.
func udpReceiverFields(u engine.UDPStats, lost int64, packets uint64) []field {
	tot := engine.UDPStats{Packets: packets, Lost: lost}
	return []field{
		{"lost", strconv.FormatInt(u.Lost, 10) + " = " + fmtPercent(u.LostPercent()) + " (test " + strconv.FormatInt(lost, 10) + " = " + fmtPercent(tot.LostPercent()) + ")", u.Lost > 0},
		{"jitter", fmtJitter(u.Jitter), false},
		{"out of order", strconv.FormatUint(u.OutOfOrder, 10), false},
		{"duplicates", strconv.FormatUint(u.Duplicates, 10), false},
		{"malformed", strconv.FormatUint(u.Malformed, 10), u.Malformed > 0},
	}
}

// caStates names TCP_INFO's congestion-avoidance states.
var caStates = [...]string{"open", "disorder", "cwr", "recovery", "loss"}

// tcpFields is a sender's whole TCP_INFO as the detail view lists it;
// retr is the retransmits over the measured test.
func tcpFields(t *engine.TCPStats, retr uint64) []field {
	ca := strconv.Itoa(int(t.CAState))
	if int(t.CAState) < len(caStates) {
		ca = caStates[t.CAState]
	}
	limited := func(us uint64) string {
		s := fmtDur(time.Duration(us) * time.Microsecond)
		if t.BusyTime > 0 {
			s += " (" + strconv.FormatFloat(100*float64(us)/float64(t.BusyTime), 'f', 1, 64) + " % of busy)"
		}
		return s
	}
	return []field{
		{"bytes_acked", fmtBytes(t.BytesAcked), false},
		{"retransmits", strconv.FormatUint(retr, 10) + " (last interval " + strconv.FormatUint(t.Retransmits, 10) + ")", false},
		{"rtt / rttvar", fmtRTT(t.RTT) + " / " + fmtRTT(t.RTTVar), false},
		{"rto / backoff", fmtRTT(t.RTO) + " / " + strconv.Itoa(int(t.Backoff)), t.Backoff > 0},
		{"snd_cwnd", fmtBytes(t.SndCwnd), false},
		{"peer window", fmtBytes(t.SndWnd), t.SndWnd == 0},
		{"ca_state", ca, t.CAState >= 3},
		{"unacked / lost", strconv.FormatUint(uint64(t.Unacked), 10) + " / " + strconv.FormatUint(uint64(t.Lost), 10) + " segments", t.Lost > 0},
		{"notsent", fmtBytes(uint64(t.NotSent)), false},
		{"delivery rate", fmtRate(float64(t.DeliveryRate) * 8), false},
		{"busy", fmtDur(time.Duration(t.BusyTime) * time.Microsecond), false},
		{"rwnd-limited", limited(t.RwndLimited), false},
		{"sndbuf-limited", limited(t.SndbufLimited), false},
		{"path MTU", strconv.FormatUint(uint64(t.PMTU), 10), false},
	}
}

type field struct {
	label, value string
	bad          bool
}

// wide fields get lines of their own under the two columns.
func (f field) wide() bool {
	return f.label == "why stalled" || f.label == "error" || f.label == "peer's verdict" || f.label == "sender's view" || f.label == "receiver's view"
}

const fieldLabelW = 20

func writeField(b *strings.Builder, st *styles, f field, w int) {
	var c strings.Builder
	padR(&c, f.label, fieldLabelW)
	st.dim.to(b, c.String())
	v := cut(f.value, max(1, w-fieldLabelW-1))
	if f.bad {
		st.bad.to(b, v)
	} else {
		b.WriteString(v)
	}
	for n := fieldLabelW + ansi.StringWidth(v); n < w; n++ {
		b.WriteByte(' ')
	}
}

// detailFields lists everything the engine reports about a stream.
func (ts *testScreen) detailFields(s *stream) []field {
	r := ts.run
	bad := s.bad()
	fs := []field{
		{"state", stateText(s), bad},
		{"rate", fmtRate(s.rate), false},
	}
	if sum := r.sumSend + r.sumRecv; sum > 0 {
		fs = append(fs, field{"share of SUM", strconv.FormatFloat(100*s.rate/sum, 'f', 1, 64) + " %", false})
	}
	if med := ts.medianRate(s.dir); med > 0 {
		fs = append(fs, field{"vs median", strconv.FormatFloat(s.rate/med, 'f', 2, 64) + "×  (" + dirGlyph(s.dir) + " median " + fmtRate(med) + ")", false})
	}
	moved := "written"
	if s.dir == engine.Recv {
		moved = "read"
	}
	fs = append(fs,
		field{moved + " (interval)", fmtBytes(s.bytes), false},
		field{"total", fmtBytes(s.total), false},
	)
	tcp := s.dir == engine.Send && s.tcp.Valid
	switch {
	case s.hasUDP:
		u := s.udp
		fs = append(fs, field{"datagrams", fmtCount(u.Packets) + " (test " + fmtCount(s.packets) + ")", false})
		if s.dir == engine.Recv {
			fs = append(fs, udpReceiverFields(u, s.lost, s.packets)...)
		} else {
			fs = append(fs,
				field{"send errors", strconv.FormatUint(u.SendErrors, 10), u.SendErrors > 0},
				field{"behind schedule", fmtCount(u.Behind) + " datagrams", u.Behind > 0},
			)
			switch {
			case s.hasPeerUDP:
				fs = append(fs, field{"receiver's view", "the flowscope peer's counters, last interval", false})
				fs = append(fs, udpReceiverFields(s.peerUDP, s.lost, s.peerPackets)...)
			case r.peerKnown && !r.peerFS:
				fs = append(fs, field{"receiver's view", "not available: the peer is a stock iperf3 (loss arrives with the results)", false})
			}
		}
	case tcp:
		fs = append(fs, field{"acked (interval)", fmtBytes(s.acked), false})
		fs = append(fs, tcpFields(&s.tcp, s.retr)...)
	case s.hasPeer && s.peer.TCP.Valid:
		fs = append(fs, field{"sender's view", "TCP_INFO of the flowscope peer's socket, last interval", false})
		fs = append(fs, tcpFields(&s.peer.TCP, s.retr)...)
	case r.peerKnown && !r.peerFS:
		fs = append(fs, field{"TCP_INFO", "the sender's: not available from a stock iperf3 peer", false})
	default:
		fs = append(fs, field{"TCP_INFO", "the sender's: not reported yet", false})
	}
	if s.hasPeer && s.peer.Reason != "" && s.peer.Reason != s.reason {
		fs = append(fs, field{"peer's verdict", s.peer.State.String() + ": " + s.peer.Reason, s.peer.State == engine.StateStalled})
	}
	if isStallCell(s) {
		why := s.reason
		if why == "" {
			why = "not diagnosed (the engine gave no reason)"
		}
		fs = append(fs, field{"stalled for", fmtDur(s.stalledFor), true}, field{"why stalled", why, true})
	}
	if s.err != "" {
		fs = append(fs, field{"error", s.err, true})
	}
	if s.connect > 0 {
		fs = append(fs, field{"connect time", fmtRTT(uint32(min(s.connect.Microseconds(), 1<<31))), false})
	}
	if s.local != nil {
		fs = append(fs, field{"local", s.local.String(), false})
	}
	if s.remote != nil {
		fs = append(fs, field{"remote", s.remote.String(), false})
	}
	return fs
}
