// Package htmlreport writes one self-contained HTML page about a recorded
// test (a flowscope recording or an iperf3 JSON file, see package record):
// the SUM chart per direction, a streams × time heat map, the findings
// timeline with their spans, the connect-time distribution, the test's
// parameters and the hosts. Everything is inline — SVG and one small
// script — so the page opens from disk with no network.
package htmlreport

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowscope/flowscope/axis"
	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
	"github.com/flowscope/flowscope/units"
)

// Chart geometry (SVG user units).
const (
	chartW, chartH = 960, 220
	padL, padR     = 78, 16
	padT, padB     = 12, 26
	plotW          = chartW - padL - padR
	plotH          = chartH - padT - padB
)

// Heat map bounds: more streams or intervals are merged into these many
// rows and columns.
const (
	maxHeatRows = 128
	maxHeatCols = 240
)

// maxResultRows bounds the per-stream results table.
const maxResultRows = 200

type kv struct{ Key, Value string }

type tick struct {
	Pos   float64
	Label string
}

type marker struct {
	X     float64
	Label string
	Class string
}

type chartView struct {
	ID, Label   string
	Points      string // the polyline
	Area        string // the filled area under it
	XTicks      []tick
	YTicks      []tick
	Markers     []marker
	Mean, Peak  string
	Total       string
	Retransmits string
}

type findingView struct {
	Severity, Kind, What, Evidence, Fix string
	Span, Dir, Streams, Origin          string
	X, W, Y                             float64 // the bar on the timeline
	LabelX                              float64 // its label, after the bar or before it
	Anchor                              string
	Ongoing                             bool
}

type histBar struct {
	X, W, Y, H float64
	Label      string
}

type connectView struct {
	Count            int
	Min, Median, Max string
	Bars             []histBar
	XTicks           []tick
}

type resultRow struct {
	ID, Dir, Bytes, Rate, Retr, RTT, Err string
}

// heatData is what the page's script draws the heat map from.
type heatData struct {
	Times []float64   `json:"times"` // each column's end, seconds
	Rows  []heatRow   `json:"rows"`
	Max   float64     `json:"max"` // bit/s
	Unit  [2]any      `json:"unit"`
	Dirs  []string    `json:"dirs"`
	Cells [][]float64 `json:"-"`
}

type heatRow struct {
	Label   string    `json:"label"`
	Rates   []float64 `json:"rates"`
	Stalled []int     `json:"stalled"` // 1 where the stream (or one merged into the row) was stalled or failed
}

type testView struct {
	N          int
	Heading    string
	Incomplete string
	Params     []kv
	Hosts      []kv
	Charts     []chartView
	Heat       heatData
	HeatH      int
	Findings   []findingView
	TimelineH  float64
	TimeTicks  []tick
	Connect    *connectView
	Results    []resultRow
	MoreRows   int
	Duration   float64
}

type pageView struct {
	Title      string
	Source     string
	Producer   string
	SystemInfo string
	Generated  string
	Problem    string
	Tests      []testView
}

// test is one test's events out of a recording.
type test struct {
	start   *engine.Start
	samples []*engine.Sample
	end     *engine.End
}

// splitTests groups a recording's events by test, in order of their Start
// (or End, for a test that never started).
func splitTests(events []engine.Event) []*test {
	var tests []*test
	open := map[uint64]*test{}
	get := func(id uint64) *test {
		t := open[id]
		if t == nil {
			t = &test{}
			open[id] = t
			tests = append(tests, t)
		}
		return t
	}
	for _, ev := range events {
		switch e := ev.(type) {
		case *engine.Start:
			t := get(e.Test)
			if t.start != nil || t.end != nil {
				delete(open, e.Test)
				t = get(e.Test)
			}
			t.start = e
		case *engine.Sample:
			t := get(e.Test)
			t.samples = append(t.samples, e)
		case *engine.End:
			get(e.Test).end = e
			delete(open, e.Test)
		}
	}
	return tests
}

func build(rec *record.Recording, problem error, now time.Time) pageView {
	p := pageView{
		Title: rec.Title, Source: rec.Format.String(), Producer: rec.Producer, SystemInfo: rec.SystemInfo,
		Generated: now.UTC().Format("2006-01-02 15:04:05 UTC"),
	}
	if problem != nil {
		p.Problem = problem.Error()
	}
	if p.Title == "" {
		p.Title = "flowscope report"
	}
	for i, t := range splitTests(rec.Events) {
		p.Tests = append(p.Tests, buildTest(i+1, t))
	}
	return p
}

func dirLabel(side engine.Side, d engine.Dir) string {
	up := (side == engine.SideClient) == (d == engine.Send)
	if up {
		return "client → server"
	}
	return "server → client"
}

func buildTest(n int, t *test) testView {
	v := testView{N: n}
	side := engine.SideClient
	switch {
	case t.start != nil:
		side = t.start.Side
	case len(t.samples) > 0:
		side = t.samples[0].Side
	case t.end != nil:
		side = t.end.Side
	}
	if len(t.samples) > 0 {
		v.Duration = t.samples[len(t.samples)-1].End.Seconds()
	}
	if t.end != nil && t.end.Seconds > v.Duration {
		v.Duration = t.end.Seconds
	}
	v.Heading = fmt.Sprintf("Test %d", n)
	if s := t.start; s != nil {
		peer := "iperf3"
		if s.PeerFlowscope {
			peer = "flowscope"
		}
		what := fmt.Sprintf("%s, %d stream(s)", s.Params.Protocol, len(s.Streams))
		if side == engine.SideClient {
			v.Heading += fmt.Sprintf(": client to %s port %d (%s peer), %s", s.Host, s.Port, peer, what)
		} else {
			v.Heading += fmt.Sprintf(": server, client %s port %d (%s peer), %s", s.Host, s.Port, peer, what)
		}
		v.Params = params(s)
		v.Hosts = hosts(s, t.end)
		v.Connect = connectTimes(s.ConnectTimes)
	}
	switch {
	case t.end == nil:
		v.Incomplete = "The recording stops before this test's end: what follows is every interval recorded until then."
	case t.end.Err != nil:
		v.Incomplete = "The test ended with an error: " + t.end.Err.Error()
	}
	v.Charts = charts(t, side, v.Duration)
	v.Heat = heat(t, side)
	v.HeatH = 14*len(v.Heat.Rows) + 30
	v.Findings, v.TimelineH = findings(t, v.Duration)
	v.TimeTicks = timeTicks(v.Duration)
	v.Results, v.MoreRows = results(t.end)
	if t.end == nil && len(v.Hosts) == 0 && t.start != nil {
		v.Hosts = hosts(t.start, nil)
	}
	return v
}

func params(s *engine.Start) []kv {
	p := s.Params
	out := []kv{{"protocol", string(p.Protocol)}, {"streams per direction", strconv.Itoa(p.Parallel)}}
	switch {
	case p.Bidir:
		out = append(out, kv{"direction", "both (--bidir)"})
	case p.Reverse:
		out = append(out, kv{"direction", "server sends (-R)"})
	default:
		out = append(out, kv{"direction", "client sends"})
	}
	if p.Duration > 0 {
		out = append(out, kv{"duration (-t)", p.Duration.String()})
	}
	if p.Bytes > 0 {
		out = append(out, kv{"bytes (-n)", strings.TrimSpace(units.FormatBytes(float64(p.Bytes), 0))})
	}
	if p.Blocks > 0 {
		out = append(out, kv{"blocks (-k)", strconv.FormatInt(p.Blocks, 10)})
	}
	if p.Omit > 0 {
		out = append(out, kv{"omit (-O)", p.Omit.String()})
	}
	if p.Interval > 0 {
		out = append(out, kv{"interval (-i)", p.Interval.String()})
	}
	if p.BlockSize > 0 {
		out = append(out, kv{"block size (-l)", strings.TrimSpace(units.FormatBytes(float64(p.BlockSize), 0))})
	}
	if p.Rate > 0 {
		out = append(out, kv{"target rate (-b)", units.FormatRateShort(float64(p.Rate)) + " per stream"})
	}
	if p.ReverseRate > 0 {
		out = append(out, kv{"reverse rate", units.FormatRateShort(float64(p.ReverseRate)) + " per stream"})
	}
	if p.Window > 0 {
		out = append(out, kv{"window (-w)", strings.TrimSpace(units.FormatBytes(float64(p.Window), 0))})
	}
	if p.Congestion != "" {
		out = append(out, kv{"congestion control (-C)", p.Congestion})
	}
	if p.TOS != 0 {
		out = append(out, kv{"TOS (-S)", strconv.Itoa(p.TOS)})
	}
	if p.ZeroCopy {
		out = append(out, kv{"zero copy (-Z)", "yes"})
	}
	if p.Title != "" {
		out = append(out, kv{"title (-T)", p.Title})
	}
	return out
}

func hosts(s *engine.Start, e *engine.End) []kv {
	out := []kv{{"this side", s.Side.String()}}
	if s.Side == engine.SideClient {
		out = append(out, kv{"server", fmt.Sprintf("%s port %d", s.Host, s.Port)})
	} else {
		out = append(out, kv{"client", fmt.Sprintf("%s port %d", s.Host, s.Port)})
	}
	if s.Version != "" {
		out = append(out, kv{"version", s.Version})
	}
	peer := "stock iperf3 (or no flowscope extensions)"
	if s.PeerFlowscope {
		peer = "flowscope"
	}
	out = append(out, kv{"peer", peer})
	if !s.Timestamp.IsZero() {
		out = append(out, kv{"started", s.Timestamp.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	if s.MSS > 0 {
		out = append(out, kv{"MSS", strconv.Itoa(s.MSS)})
	}
	if s.SndBuf > 0 || s.RcvBuf > 0 {
		out = append(out, kv{"socket buffers", fmt.Sprintf("send %s, receive %s",
			strings.TrimSpace(units.FormatBytes(float64(s.SndBuf), 0)), strings.TrimSpace(units.FormatBytes(float64(s.RcvBuf), 0)))})
	}
	if e != nil {
		if e.Congestion != "" {
			cc := e.Congestion
			if e.PeerCongestion != "" {
				cc += ", peer " + e.PeerCongestion
			}
			out = append(out, kv{"congestion control", cc})
		}
		cpu := fmt.Sprintf("%.1f%% (user %.1f%%, system %.1f%%)", e.LocalCPU.Total, e.LocalCPU.User, e.LocalCPU.System)
		if e.HasRemote {
			cpu += fmt.Sprintf("; peer %.1f%%", e.RemoteCPU.Total)
		}
		out = append(out, kv{"CPU", cpu})
	}
	return out
}

// xPos maps seconds onto a chart's plot area.
func xPos(t, span float64) float64 {
	if !(span > 0) {
		return padL
	}
	return padL + plotW*math.Min(math.Max(t/span, 0), 1)
}

func timeTicks(span float64) []tick {
	if !(span > 0) {
		span = 1
	}
	step := axis.TimeStep(span, 10)
	var out []tick
	for v := 0.0; v <= span+1e-9; v += step {
		out = append(out, tick{xPos(v, span), axis.FormatSeconds(math.Round(v*1000) / 1000)})
	}
	return out
}

// charts draws the SUM of each direction the test moved data in.
func charts(t *test, side engine.Side, span float64) []chartView {
	var out []chartView
	for _, d := range []engine.Dir{engine.Send, engine.Recv} {
		var pts [][2]float64
		var total, retr uint64
		any := false
		peak := 0.0
		for _, s := range t.samples {
			sum := s.Sent
			if d == engine.Recv {
				sum = s.Received
			}
			if sum.Streams > 0 {
				any = true
			}
			secs := s.Seconds()
			rate := 0.0
			if secs > 0 {
				rate = float64(sum.Bytes) * 8 / secs
			}
			if !s.Omitted {
				total += sum.Bytes
				retr += sum.Retransmits
			}
			peak = math.Max(peak, rate)
			pts = append(pts, [2]float64{s.End.Seconds(), rate})
		}
		if !any {
			continue
		}
		label := dirLabel(side, d)
		c := chartView{ID: fmt.Sprintf("sum-%s", d), Label: fmt.Sprintf("SUM %s (%s)", label, map[engine.Dir]string{engine.Send: "this side sends", engine.Recv: "this side receives"}[d])}
		step, top := axis.Ticks(peak, 4)
		div, unit := axis.RateUnit(top)
		for v := 0.0; v <= top+1e-9; v += step {
			c.YTicks = append(c.YTicks, tick{padT + plotH*(1-v/top), axis.FormatRate(v, div, unit)})
		}
		c.XTicks = timeTicks(span)
		// Each interval's mean rate is a step from its start to its end.
		var b, area strings.Builder
		for i, s := range t.samples {
			y := padT + plotH*(1-pts[i][1]/top)
			x0, x1 := xPos(s.Start.Seconds(), span), xPos(s.End.Seconds(), span)
			if i == 0 {
				fmt.Fprintf(&area, "%.1f,%.1f ", x0, float64(padT+plotH))
			}
			fmt.Fprintf(&b, "%.1f,%.1f %.1f,%.1f ", x0, y, x1, y)
			fmt.Fprintf(&area, "%.1f,%.1f %.1f,%.1f ", x0, y, x1, y)
			if i == len(t.samples)-1 {
				fmt.Fprintf(&area, "%.1f,%.1f", x1, float64(padT+plotH))
			}
		}
		c.Points, c.Area = strings.TrimSpace(b.String()), area.String()
		measured := 0.0
		for _, s := range t.samples {
			if !s.Omitted {
				measured += s.Seconds()
			}
		}
		mean := 0.0
		if measured > 0 {
			mean = float64(total) * 8 / measured
		}
		c.Mean, c.Peak = units.FormatRateShort(mean), units.FormatRateShort(peak)
		c.Total = strings.TrimSpace(units.FormatBytes(float64(total), 0))
		if d == engine.Send || retr > 0 {
			c.Retransmits = strconv.FormatUint(retr, 10)
		}
		up := (side == engine.SideClient) == (d == engine.Send)
		for _, f := range allFindings(t) {
			mine := f.Direction == diagnose.DirAny || (f.Direction == diagnose.DirUp) == up
			if f.start > 0 && mine {
				c.Markers = append(c.Markers, marker{X: xPos(f.start.Seconds(), span), Label: f.label + ": " + f.What, Class: f.Severity.String()})
			}
		}
		out = append(out, c)
	}
	return out
}

// timedFinding is a finding and when it held: its span when the engine
// gave one, else from when it was reported (first and last).
type timedFinding struct {
	engine.Finding
	start, end time.Duration
	ended      bool
	label      string
}

func hasSpan(f *engine.Finding) bool { return f.Span.Start > 0 || f.Span.Ended }

// allFindings is the test's findings, each once, in order of their start.
// A finding with a span keeps it; one without (older recordings, iperf3's
// files) is placed where the recording first reported it: before data
// flowed (the Start's), at an interval's end, or at the test's end.
func allFindings(t *test) []timedFinding {
	type key struct {
		kind   string
		dir    uint8
		origin string
		start  time.Duration
	}
	var order []key
	byKey := map[key]*timedFinding{}
	// at is when the recording reported f; the End's list repeats every
	// finding of the test and only adds those not reported before.
	add := func(f engine.Finding, at time.Duration, setup, atEnd bool) {
		k := key{f.Kind, uint8(f.Direction), string(f.Origin), 0}
		if hasSpan(&f) {
			k.start = f.Span.Start
		}
		tf := byKey[k]
		if tf == nil {
			tf = &timedFinding{start: at, end: at}
			if setup {
				tf.label = "before data flowed"
			} else {
				tf.label = fmt.Sprintf("reported at %.1f s", at.Seconds())
			}
			byKey[k] = tf
			order = append(order, k)
		} else if at > tf.end && !atEnd {
			tf.end = at
			tf.label = fmt.Sprintf("reported %.1f–%.1f s", tf.start.Seconds(), at.Seconds())
		}
		tf.Finding = f // the latest word on it
		if hasSpan(&f) {
			tf.start, tf.end, tf.ended, tf.label = f.Span.Start, f.Span.End, f.Span.Ended, f.Span.String()
		}
	}
	if t.start != nil {
		for _, f := range t.start.Findings {
			add(f, 0, true, false)
		}
	}
	for _, s := range t.samples {
		for _, f := range s.Findings {
			add(f, s.End, false, false)
		}
	}
	if e := t.end; e != nil {
		at := time.Duration(e.Seconds * float64(time.Second))
		for _, f := range e.Findings {
			add(f, at, false, true)
		}
	}
	out := make([]timedFinding, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	slices.SortStableFunc(out, func(a, b timedFinding) int { return int(a.start - b.start) })
	return out
}

const timelineRow = 22

func findings(t *test, span float64) ([]findingView, float64) {
	fs := allFindings(t)
	out := make([]findingView, 0, len(fs))
	for i, f := range fs {
		v := findingView{
			Severity: f.Severity.String(), Kind: f.Kind, What: f.What, Evidence: f.Evidence, Fix: f.Fix,
			Span: f.label, Dir: f.Direction.Arrow(), Origin: string(f.Origin), Ongoing: hasSpan(&f.Finding) && !f.ended,
			Y: float64(padT + i*timelineRow),
		}
		if len(f.Streams) > 0 {
			v.Streams = streamList(f.Streams)
		}
		start, end := f.start.Seconds(), f.end.Seconds()
		if v.Ongoing {
			end = span
		}
		v.X = xPos(start, span)
		v.W = math.Max(xPos(end, span)-v.X, 3)
		v.LabelX, v.Anchor = v.X+v.W+4, "start"
		if v.LabelX > chartW-padR-140 {
			v.LabelX, v.Anchor = v.X-4, "end"
		}
		out = append(out, v)
	}
	return out, float64(padT + len(fs)*timelineRow + padB)
}

// streamList shortens a list of stream ids: "1, 3, 4 … and 12 more".
func streamList(ids []int) string {
	const shown = 8
	var b strings.Builder
	for i, id := range ids {
		if i == shown {
			fmt.Fprintf(&b, " … and %d more", len(ids)-shown)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

func connectTimes(ds []time.Duration) *connectView {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + " ms" }
	v := &connectView{Count: len(s), Min: ms(s[0]), Median: ms(med), Max: ms(s[len(s)-1])}
	top := axis.NiceCeil(float64(s[len(s)-1]) / 1e6) // ms
	const bins = 24
	counts := make([]int, bins)
	for _, d := range s {
		i := int(float64(d) / 1e6 / top * bins)
		counts[min(max(i, 0), bins-1)]++
	}
	peak := slices.Max(counts)
	bw := float64(plotW) / bins
	for i, c := range counts {
		h := float64(plotH) * float64(c) / float64(peak)
		v.Bars = append(v.Bars, histBar{
			X: padL + float64(i)*bw + 1, W: bw - 2, Y: padT + plotH - h, H: h,
			Label: fmt.Sprintf("%d connect(s) of %.3f–%.3f ms", c, top*float64(i)/bins, top*float64(i+1)/bins),
		})
	}
	step := top / 4
	for x := 0.0; x <= top+1e-9; x += step {
		v.XTicks = append(v.XTicks, tick{padL + plotW*x/top, strconv.FormatFloat(x, 'g', 3, 64) + " ms"})
	}
	return v
}

// heat builds the heat map's rows: each stream's rate per interval, streams
// (sorted by direction and id) and intervals merged when there are more
// than the map shows.
func heat(t *test, side engine.Side) heatData {
	type key struct {
		dir engine.Dir
		id  int
	}
	var keys []key
	idx := map[key]int{}
	for _, s := range t.samples {
		for _, st := range s.Streams {
			k := key{st.Dir, st.ID}
			if _, ok := idx[k]; !ok {
				idx[k] = len(keys)
				keys = append(keys, k)
			}
		}
	}
	order := slices.Clone(keys)
	slices.SortFunc(order, func(a, b key) int {
		if a.dir != b.dir {
			return int(a.dir) - int(b.dir)
		}
		return a.id - b.id
	})
	pos := map[key]int{}
	for i, k := range order {
		pos[k] = i
	}
	cols := len(t.samples)
	colW := max(1, (cols+maxHeatCols-1)/maxHeatCols)
	rowH := max(1, (len(order)+maxHeatRows-1)/maxHeatRows)
	nCols := (cols + colW - 1) / colW
	nRows := (len(order) + rowH - 1) / rowH
	h := heatData{Rows: make([]heatRow, nRows)}
	for r := range h.Rows {
		first, last := order[r*rowH], order[min((r+1)*rowH, len(order))-1]
		label := strconv.Itoa(first.id)
		if last != first {
			label += "–" + strconv.Itoa(last.id)
		}
		h.Rows[r] = heatRow{Label: label + " " + arrow(side, first.dir), Rates: make([]float64, nCols), Stalled: make([]int, nCols)}
	}
	secs := make([]float64, nCols)
	for i, s := range t.samples {
		c := i / colW
		secs[c] += s.Seconds()
		if c >= len(h.Times) {
			h.Times = append(h.Times, 0)
		}
		h.Times[c] = math.Round(s.End.Seconds()*1000) / 1000
		for _, st := range s.Streams {
			r := pos[key{st.Dir, st.ID}] / rowH
			h.Rows[r].Rates[c] += float64(st.Bytes) * 8
			if st.State == engine.StateStalled || st.State == engine.StateFailed {
				h.Rows[r].Stalled[c] = 1
			}
		}
	}
	for r := range h.Rows {
		n := float64(min((r+1)*rowH, len(order)) - r*rowH)
		for c := range h.Rows[r].Rates {
			if secs[c] > 0 {
				h.Rows[r].Rates[c] = math.Round(h.Rows[r].Rates[c] / secs[c] / n)
			}
			h.Max = math.Max(h.Max, h.Rows[r].Rates[c])
		}
	}
	div, unit := axis.RateUnit(h.Max)
	h.Unit = [2]any{div, unit}
	return h
}

// arrow marks a stream's direction as the live view does: ↑ client to
// server, ↓ server to client.
func arrow(side engine.Side, d engine.Dir) string {
	if (side == engine.SideClient) == (d == engine.Send) {
		return "↑"
	}
	return "↓"
}

func results(e *engine.End) ([]resultRow, int) {
	if e == nil {
		return nil, 0
	}
	var out []resultRow
	for i, r := range e.Streams {
		if i == maxResultRows {
			return out, len(e.Streams) - maxResultRows
		}
		row := resultRow{
			ID: strconv.Itoa(r.ID), Dir: r.Dir.String(), Bytes: strings.TrimSpace(units.FormatBytes(float64(r.Bytes), 0)),
			Rate: "—", Retr: "—", RTT: "—", Err: r.Err,
		}
		if r.Seconds > 0 {
			row.Rate = units.FormatRateShort(float64(r.Bytes) * 8 / r.Seconds)
		}
		if r.Retransmits >= 0 {
			row.Retr = strconv.FormatInt(r.Retransmits, 10)
		}
		if r.HasTCPInfo && r.MeanRTT > 0 {
			row.RTT = fmt.Sprintf("%.2f ms (%.2f–%.2f)", float64(r.MeanRTT)/1000, float64(r.MinRTT)/1000, float64(r.MaxRTT)/1000)
		}
		if u := r.UDP; u != nil && r.Dir == engine.Recv {
			row.Retr = fmt.Sprintf("lost %d, jitter %.3f ms", u.Lost, u.Jitter*1000)
		}
		out = append(out, row)
	}
	return out, 0
}
