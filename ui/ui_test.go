package ui

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/flowscope/flowscope/engine"
)

func TestFormatTables(t *testing.T) {
	bytes := []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1023, "1023 B"}, {1024, "1.00 KB"}, {1536, "1.50 KB"},
		{1023 * 1024, "1023 KB"}, {1 << 20, "1.00 MB"}, {5_330_000_000, "4.96 GB"}, {3 << 40, "3.00 TB"},
	}
	for _, c := range bytes {
		if got := fmtBytes(c.in); got != c.want {
			t.Errorf("fmtBytes(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	sizes := []struct {
		in   uint64
		want string
	}{{0, "0"}, {900, "900"}, {65536, "64K"}, {320 << 10, "320K"}, {6_400_000, "6.1M"}, {1 << 30, "1.0G"}}
	for _, c := range sizes {
		if got := fmtSize(c.in); got != c.want {
			t.Errorf("fmtSize(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	rtts := []struct {
		in   uint32
		want string
	}{{0, "—"}, {42, "42 µs"}, {999, "999 µs"}, {1250, "1.25 ms"}, {120_000, "120 ms"}, {1_500_000, "1.50 s"}}
	for _, c := range rtts {
		if got := fmtRTT(c.in); got != c.want {
			t.Errorf("fmtRTT(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	durs := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {400 * time.Millisecond, "0.4s"}, {3 * time.Second, "3s"}, {3500 * time.Millisecond, "3.5s"},
		{59 * time.Second, "59s"}, {65 * time.Second, "1m05s"}, {2*time.Hour + 3*time.Minute, "2h03m"}, {-time.Second, "0s"},
	}
	for _, c := range durs {
		if got := fmtDur(c.in); got != c.want {
			t.Errorf("fmtDur(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	rates := []struct {
		in   float64
		want string
	}{{0, "0 bit/s"}, {612e6, "612 Mbit/s"}, {38.2e9, "38.2 Gbit/s"}, {1.5e3, "1.50 kbit/s"}, {2e12, "2.00 Tbit/s"}}
	for _, c := range rates {
		if got := fmtRate(c.in); got != c.want {
			t.Errorf("fmtRate(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	// Axis labels adapt their unit to the axis' top, Kbit … Tbit.
	axis := []struct {
		v, top float64
		want   string
	}{
		{0, 1e9, "0"}, {500e3, 1e6, "0.5 Mbit/s"}, {500e3, 800e3, "500 kbit/s"}, {2.5e9, 1e10, "2.5 Gbit/s"}, {20e9, 50e9, "20 Gbit/s"},
		{500e6, 1e9, "0.5 Gbit/s"}, {1e12, 2e12, "1 Tbit/s"}, {400, 500, "400 bit/s"},
	}
	for _, c := range axis {
		div, unit := rateUnit(c.top)
		if got := fmtAxisRate(c.v, div, unit); got != c.want {
			t.Errorf("axis label %v on a %v axis = %q, want %q", c.v, c.top, got, c.want)
		}
	}
	secs := []struct {
		in   float64
		want string
	}{{0, "0s"}, {2.5, "2.5s"}, {30, "30s"}, {120, "2m"}, {90, "1m30s"}}
	for _, c := range secs {
		if got := fmtAxisSeconds(c.in); got != c.want {
			t.Errorf("fmtAxisSeconds(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	nice := []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1, 1}, {1.1, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {38.2e9, 50e9}}
	for _, c := range nice {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	steps := []struct {
		span float64
		n    int
		want float64
	}{{10, 10, 1}, {10, 4, 5}, {30, 12, 5}, {4, 12, 0.5}, {3600, 10, 600}}
	for _, c := range steps {
		if got := timeStep(c.span, c.n); got != c.want {
			t.Errorf("timeStep(%v, %d) = %v, want %v", c.span, c.n, got, c.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	cases := []struct {
		vals []float32
		w    int
		top  float64
		want string
	}{
		{nil, 4, 10, "    "},
		{[]float32{0, 10, 5, 0.1}, 4, 10, " █▄▁"},             // zero blank, tiny still visible
		{[]float32{10, 20}, 4, 10, "  ██"},                    // above the scale clamps
		{[]float32{1, 2, 3, 4, 5, 6}, 3, 6, "▅▇█"},            // newest w values
		{[]float32{3, 3}, 2, 0, "  "},                         // no scale: nothing to show
		{[]float32{1, 2, 3, 4, 5, 6, 7, 8}, 8, 8, "▁▂▃▄▅▆▇█"}, // one level per eighth
	}
	for _, c := range cases {
		var b strings.Builder
		sparkline(&b, c.vals, c.w, c.top)
		if b.String() != c.want {
			t.Errorf("sparkline(%v, %d, %v) = %q, want %q", c.vals, c.w, c.top, b.String(), c.want)
		}
	}
}

func TestLayoutList(t *testing.T) {
	for _, w := range []int{64, 80, 100, 120, 160, 250} {
		l := layoutList(w, true, false, 0)
		used := wCursor + wID + wDir + wRate + l.sparkW + 1 + l.stateW
		for c, on := range l.show {
			if on {
				used += optWidth[c]
			}
		}
		if used != w {
			t.Errorf("width %d: columns use %d cells", w, used)
		}
		if l.sparkW < sparkMin || l.sparkW > sparkMax || l.stateW < stateMin {
			t.Errorf("width %d: sparkline %d, state %d", w, l.sparkW, l.stateW)
		}
	}
	// Wide terminals show every column; narrow ones drop CWND first, then
	// RTT, and keep RETR longest.
	if l := layoutList(120, true, false, 0); !l.show[colCwnd] || !l.show[colRTT] || !l.show[colTotal] || !l.show[colRetr] {
		t.Errorf("120 columns: %+v, want every column", l.show)
	}
	if l := layoutList(80, true, false, 0); l.show[colCwnd] || !l.show[colRetr] || !l.show[colTotal] {
		t.Errorf("80 columns: %+v, want CWND dropped, RETR and TOTAL kept", l.show)
	}
	if l := layoutList(64, true, false, 0); l.show[colCwnd] || l.show[colRTT] || l.show[colTotal] || !l.show[colRetr] {
		t.Errorf("64 columns: %+v, want only RETR of the optional columns", l.show)
	}
	// Without streams there are no TCP_INFO columns; their room goes to
	// the sparkline.
	if l := layoutList(120, false, false, 0); l.show[colCwnd] || l.show[colRTT] || l.show[colRetr] || !l.show[colTotal] || l.sparkW <= layoutList(120, true, false, 0).sparkW {
		t.Errorf("120 columns, no TCP columns: %+v", l)
	}
}

// A stall's reason is cut only when nothing else can give: the sparkline
// shrinks for it first, then the optional columns go.
func TestLayoutListKeepsTheStallReason(t *testing.T) {
	s := &stream{id: 5, state: engine.StateStalled, sampled: true, stalledFor: 3 * time.Second,
		reason: "no data arriving: last data 3.0 s ago; the sender stopped or the path is down"}
	need := stateWidth(s) // "!! STALLED 3s no data arriving"
	for _, w := range []int{80, 100, 120, 140} {
		free := layoutList(w, true, false, 0)
		l := layoutList(w, true, false, need)
		if l.stateW < need {
			t.Errorf("width %d: state %d cells, the stall needs %d", w, l.stateW, need)
		}
		if l.sparkW < sparkFloor {
			t.Errorf("width %d: sparkline %d cells", w, l.sparkW)
		}
		if l.sparkW > free.sparkW {
			t.Errorf("width %d: %+v, without a stall %+v", w, l, free)
		}
		// A column goes only when the sparkline cannot give enough.
		if l.show != free.show && need <= free.stateW+free.sparkW-sparkFloor {
			t.Errorf("width %d: a column dropped although the sparkline could give: %+v", w, l)
		}
		if free.stateW >= need && l.sparkW != free.sparkW {
			t.Errorf("width %d: the sparkline shrank although the state fitted", w)
		}
	}
	// 64 columns: the sparkline gives all it can, then a column goes and
	// what it leaves over goes back to the sparkline.
	free, l := layoutList(64, true, false, 0), layoutList(64, true, false, 34)
	if !free.show[colRetr] || l.show[colRetr] || l.stateW != 34 || l.sparkW != free.sparkW+free.stateW+wRetr-34 {
		t.Errorf("64 columns, 34 cells of state: %+v (free %+v)", l, free)
	}
}

func TestLayoutScreen(t *testing.T) {
	for _, c := range []struct{ h, header, findings, history, footer int }{
		{24, 2, 0, 0, 1}, {24, 2, 5, 0, 1}, {24, 3, 2, 4, 1}, {40, 2, 0, 0, 1}, {40, 3, 9, 6, 1}, {24, 2, 3, 0, 6}, {12, 2, 4, 4, 6}, {100, 2, 1, 0, 1},
	} {
		v := layoutScreen(c.h, c.header, c.findings, c.history, c.footer)
		sum := v.header + v.chart + v.listHead + v.rows + v.findings + v.history + v.footer
		if sum > c.h {
			t.Errorf("%+v: parts add up to %d > height %d: %+v", c, sum, c.h, v)
		}
		if sum < c.h && v.rows > 0 && c.h >= 24 {
			t.Errorf("%+v: %d rows unused: %+v", c, c.h-sum, v)
		}
		if c.h >= 24 && v.rows < 3 {
			t.Errorf("%+v: only %d stream rows: %+v", c, v.rows, v)
		}
		if c.findings > 0 && c.h >= 24 && v.findings == 0 {
			t.Errorf("%+v: findings hidden", c)
		}
	}
	v := layoutScreen(40, 2, 0, 0, 1)
	if v.chart != 12 || v.rows != 24 {
		t.Errorf("120x40: chart %d rows %d, want 12 and 24", v.chart, v.rows)
	}
}

func TestLayoutChart(t *testing.T) {
	l := layoutChart(118, 10, 0, 30, 38.2e9)
	if l.tooSmallToDraw {
		t.Fatal("chart too small")
	}
	if l.yTop != 50e9 || l.yUnit != "Gbit/s" {
		t.Errorf("y axis top %v %s, want 50 Gbit/s", l.yTop, l.yUnit)
	}
	if l.yLabels[0] != "0" || l.yLabels[len(l.yLabels)-1] != "50 Gbit/s" || l.yLabelRows[len(l.yLabelRows)-1] != 0 {
		t.Errorf("y labels %q at rows %v", l.yLabels, l.yLabelRows)
	}
	if l.xLabels[0] != "0s" || l.xLabels[len(l.xLabels)-1] != "30s" {
		t.Errorf("x labels %q", l.xLabels)
	}
	for i := 1; i < len(l.xLabelCols); i++ {
		if l.xLabelCols[i] <= l.xLabelCols[i-1]+len(l.xLabels[i-1]) {
			t.Errorf("x labels overlap: %q at %v", l.xLabels, l.xLabelCols)
		}
	}
	// Every drawn line is exactly the chart's width.
	st := newStyles()
	pts := []chartPoint{{1, 10e9, 0}, {2, 30e9, 0}, {3, 20e9, 0}}
	lines := drawChart(st, chartSpec{w: 78, h: 8, xMax: 10, yMax: 30e9, lines: []series{{
		n: len(pts), at: func(i int) (float64, float64) { return pts[i].t, pts[i].send }, paint: st.sendLine}}})
	if len(lines) != 8 {
		t.Fatalf("%d lines, want 8", len(lines))
	}
	braille := 0
	for _, ln := range lines {
		if w := ansi.StringWidth(ln); w != 78 {
			t.Errorf("line %q is %d wide, want 78", ln, w)
		}
		for _, r := range ln {
			if r > 0x2800 && r <= 0x28ff {
				braille++
			}
		}
	}
	if braille < 5 {
		t.Errorf("only %d braille cells drawn:\n%s", braille, strings.Join(lines, "\n"))
	}
}

func TestRowsAndSUMAppear(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 4, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(1000)), testSample(st, 1, uniform(2000)))
	view := ansi.Strip(m.View())
	for _, want := range []string{"→ 127.0.0.1:5201", "4 flows ↑ send", "SUM 8.00 Gbit/s", "▸ running", "2.0/10.0 s", "╭─ SUM", "Gbit/s┤"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	if ids := rowIDs(t, m); !slices.Equal(ids, []int{1, 3, 4, 5}) {
		t.Errorf("rows %v, want 1 3 4 5", ids)
	}
	row := screenLines(m)[16]
	for _, want := range []string{"2.00 Gbit/s", "▄█", "42 µs", "320K", "ok"} {
		if !strings.Contains(row, want) {
			t.Errorf("first row %q lacks %q", row, want)
		}
	}
}

func TestSorting(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 6, engine.TestParams{Duration: 10 * time.Second})
	rates := []float64{300, 100, 600, 200, 0, 500}
	retr := []uint64{0, 9, 1, 0, 0, 4}
	send(m, st, testSample(st, 0, func(i int) streamSpec {
		s := streamSpec{mbps: rates[i], retr: retr[i]}
		if i == 4 {
			s.state, s.stalled = engine.StateStalled, 2*time.Second
		}
		return s
	}))
	// IDs are 1 3 4 5 6 7 for indices 0..5.
	steps := []struct {
		key  string
		want []int
		head string
	}{
		{"", []int{1, 3, 4, 5, 6, 7}, "sort: id"},
		{"s", []int{6, 3, 5, 1, 7, 4}, "sort: rate (slowest first)"},
		{"r", []int{4, 7, 1, 5, 3, 6}, "sort: rate (fastest first)"},
		{"s", []int{1, 5, 6, 4, 7, 3}, "sort: retransmits (fewest first)"},
		{"r", []int{3, 7, 4, 1, 5, 6}, "sort: retransmits (most first)"},
		{"s", []int{6, 1, 3, 4, 5, 7}, "sort: state (worst first)"},
		{"s", []int{1, 3, 4, 5, 6, 7}, "sort: id"},
		{"r", []int{7, 6, 5, 4, 3, 1}, "sort: id (descending)"},
	}
	for _, s := range steps {
		if s.key != "" {
			send(m, keyMsg(s.key))
		}
		if ids := rowIDs(t, m); !slices.Equal(ids, s.want) {
			t.Errorf("after %q: rows %v, want %v", s.key, ids, s.want)
		}
		if !strings.Contains(headerText(m), s.head) {
			t.Errorf("after %q: header %q lacks %q", s.key, headerText(m), s.head)
		}
	}
}

func TestFilterProblems(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 8, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, func(i int) streamSpec {
		switch i {
		case 2:
			return streamSpec{state: engine.StateStalled, stalled: 3 * time.Second, reason: "peer window 0: the receiver is not reading"}
		case 5:
			return streamSpec{mbps: 100} // below half the median (1000)
		case 6:
			return streamSpec{state: engine.StateFailed}
		}
		return streamSpec{mbps: 1000}
	}))
	send(m, keyMsg("f"))
	if ids := rowIDs(t, m); !slices.Equal(ids, []int{4, 7, 8}) {
		t.Errorf("problem rows %v, want 4 7 8 (stalled, slow, failed)", ids)
	}
	if !strings.Contains(headerText(m), "filter: problems (3)") {
		t.Errorf("header %q lacks the filter", headerText(m))
	}
	send(m, keyMsg("f"))
	if ids := rowIDs(t, m); len(ids) != 8 {
		t.Errorf("filter off: %d rows, want 8", len(ids))
	}
	// A filter with nothing to show says so.
	m2 := newTestModel(120, 40)
	send(m2, st, testSample(st, 0, uniform(1000)), keyMsg("f"))
	if v := ansi.Strip(m2.View()); !strings.Contains(v, "no problem streams") {
		t.Errorf("empty filter shows no notice:\n%s", v)
	}
}

func TestStalledMarking(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 3, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(1000)), testSample(st, 1, func(i int) streamSpec {
		if i == 1 {
			return streamSpec{state: engine.StateStalled, stalled: 3 * time.Second, reason: "peer window 0: the receiver is not reading"}
		}
		return streamSpec{mbps: 1000}
	}))
	lines := screenLines(m)
	if !strings.Contains(lines[1], "1 STALLED") {
		t.Errorf("header %q does not count the stalled stream", lines[1])
	}
	var row string
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(l, "▸")), "3 ↑") {
			row = l
		}
	}
	if !strings.Contains(row, "!! STALLED 3s peer window 0") || !strings.Contains(row, "0 bit/s") {
		t.Errorf("stalled row %q lacks the tag, the reason or the zero rate", row)
	}
	// In colour the stalled tag has its own style, unlike the ok rows.
	lipgloss.SetColorProfile(termenv.ANSI256)
	defer lipgloss.SetColorProfile(termenv.Ascii)
	mc := newTestModel(120, 40)
	send(mc, st, testSample(st, 0, uniform(1000)), testSample(st, 1, func(i int) streamSpec {
		if i == 1 {
			return streamSpec{state: engine.StateStalled, stalled: 3 * time.Second}
		}
		return streamSpec{mbps: 1000}
	}))
	if !strings.Contains(mc.View(), mc.st.stalledTag.pre+"!! STALLED 3s") || mc.st.stalledTag.pre == mc.st.ok.pre {
		t.Error("the stalled tag is not painted with its own style")
	}
}

func TestScrollBounds(t *testing.T) {
	m := newTestModel(80, 24)
	st := testStart(engine.SideClient, 100, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(100)))
	rows := screenOf(m).rowsH
	if rows < 5 {
		t.Fatalf("only %d rows at 80x24", rows)
	}
	check := func(what string, cursor, offset int) {
		t.Helper()
		if navOf(m).cursor != cursor || navOf(m).offset != offset {
			t.Errorf("%s: cursor %d offset %d, want %d %d", what, navOf(m).cursor, navOf(m).offset, cursor, offset)
		}
		ids := rowIDs(t, m)
		if len(ids) != min(rows, 100-offset) {
			t.Errorf("%s: %d rows drawn, want %d", what, len(ids), rows)
		}
	}
	send(m, keyMsg("k"))
	check("up at the top", 0, 0)
	// Keys typed fast arrive together; each one moves.
	send(m, keyMsg("jjj"))
	check("three downs in one message", 3, 0)
	send(m, keyMsg("kkk"))
	send(m, keyMsg("j"), keyMsg("down"))
	check("two down", 2, 0)
	send(m, keyMsg("G"))
	check("bottom", 99, 100-rows)
	send(m, keyMsg("j"))
	check("down at the bottom", 99, 100-rows)
	send(m, keyMsg("g"))
	check("top", 0, 0)
	send(m, keyMsg("pgdown"))
	check("page down", rows, rows)
	send(m, keyMsg("pgup"), keyMsg("pgup"))
	check("page up twice", 0, 0)
	for i := 0; i < 20; i++ {
		send(m, keyMsg("pgdown"))
	}
	check("many pages down", 99, 100-rows)
	// The selected row is marked.
	if l := screenLines(m); !strings.Contains(strings.Join(l, "\n"), "▸    99 ↑") && !strings.Contains(strings.Join(l, "\n"), "▸   101 ↑") {
		t.Errorf("no cursor on the last stream:\n%s", strings.Join(l, "\n"))
	}
}

func TestResize(t *testing.T) {
	st := testStart(engine.SideClient, 64, engine.TestParams{Duration: 30 * time.Second})
	m := newTestModel(120, 40)
	send(m, st, testSample(st, 0, uniform(1000)), testSample(st, 1, uniform(900)))
	sizes := [][2]int{{80, 24}, {100, 30}, {120, 40}, {200, 60}, {81, 25}, {80, 50}, {30, 10}}
	for _, view := range []string{"", "enter", "m", "w"} {
		navOf(m).view = viewList
		if view != "" {
			send(m, keyMsg(view))
		}
		for _, sz := range sizes {
			send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			lines := strings.Split(m.View(), "\n")
			if sz[0] >= minWidth && len(lines) != sz[1] {
				t.Errorf("view %q at %dx%d: %d lines", view, sz[0], sz[1], len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > sz[0] {
					t.Errorf("view %q at %dx%d: line %d is %d wide: %q", view, sz[0], sz[1], i, w, ansi.Strip(l))
				}
			}
		}
	}
	// Narrow terminals drop columns, never the state.
	navOf(m).view = viewList
	send(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	var head string
	for _, l := range screenLines(m) {
		if strings.Contains(l, " ID DIR") {
			head = l
		}
	}
	if strings.Contains(head, "CWND") || !strings.Contains(head, "STATE") || !strings.Contains(head, "RETR") {
		t.Errorf("80 columns heading %q", head)
	}
}

func TestNoColor(t *testing.T) {
	// TestMain pins the Ascii profile, which is what NO_COLOR selects.
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 4, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, func(i int) streamSpec {
		if i == 0 {
			return streamSpec{state: engine.StateStalled, stalled: time.Second}
		}
		return streamSpec{mbps: 10}
	}), keyMsg("?"))
	for _, v := range []string{"", "m", "enter"} {
		if v != "" {
			send(m, keyMsg("esc"), keyMsg(v))
		}
		if strings.Contains(m.View(), "\x1b[") {
			t.Errorf("view %q has escape sequences under the Ascii profile", v)
		}
	}
}

func TestQuitStopsCleanly(t *testing.T) {
	stops := 0
	m := New(Options{Mode: ModeClient, Stop: func() { stops++ }})
	send(m, tea.WindowSizeMsg{Width: 120, Height: 40})
	st := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(100)))
	if cmd := send(m, keyMsg("q")); cmd != nil || stops != 1 {
		t.Fatalf("first q: cmd %v, %d stops; want no quit and one stop", cmd, stops)
	}
	if !strings.Contains(headerText(m), "finishing") {
		t.Errorf("header %q does not say finishing", headerText(m))
	}
	// Samples and the End still arrive; the End quits.
	send(m, testSample(st, 1, uniform(100)))
	cmd := send(m, &engine.End{Side: engine.SideClient, Seconds: 1.5})
	if cmd == nil || !isQuit(cmd) || stops != 1 {
		t.Errorf("End after q: quit %v, %d stops", cmd != nil && isQuit(cmd), stops)
	}

	// A second q quits at once, without waiting for the End.
	m2 := New(Options{Mode: ModeClient, Stop: func() {}})
	send(m2, tea.WindowSizeMsg{Width: 120, Height: 40}, st)
	send(m2, keyMsg("ctrl+c"))
	if cmd := send(m2, keyMsg("q")); cmd == nil || !isQuit(cmd) {
		t.Error("second q does not quit")
	}

	// After a normal end the UI stays up until q, which quits at once.
	m3 := newTestModel(120, 40)
	if cmd := send(m3, st, testSample(st, 0, uniform(100)), &engine.End{Side: engine.SideClient, Seconds: 1}); cmd != nil {
		t.Error("a finished test quits by itself")
	}
	if !strings.Contains(headerText(m3), "done") {
		t.Errorf("header %q does not say done", headerText(m3))
	}
	if cmd := send(m3, keyMsg("q")); cmd == nil || !isQuit(cmd) {
		t.Error("q after the end does not quit")
	}

	// A test that fails before any data quits so main can print the error.
	m4 := newTestModel(120, 40)
	send(m4, &engine.Connecting{Host: "10.0.0.9", Port: 5201, Streams: 4})
	if !strings.Contains(headerText(m4), "connecting 0/4") {
		t.Errorf("header %q does not say connecting", headerText(m4))
	}
	cmd = send(m4, &engine.End{Side: engine.SideClient, Err: errors.New("unable to connect to server: connection refused")})
	if cmd == nil || !isQuit(cmd) {
		t.Error("failure before start does not quit")
	}
	// StopMsg (SIGTERM) is q.
	stops = 0
	m5 := New(Options{Mode: ModeClient, Stop: func() { stops++ }})
	send(m5, tea.WindowSizeMsg{Width: 120, Height: 40}, st, StopMsg{})
	if stops != 1 {
		t.Errorf("StopMsg: %d stops", stops)
	}
}

func isQuit(cmd tea.Cmd) bool {
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestConnectingProgressAndFailure(t *testing.T) {
	m := newTestModel(120, 40)
	send(m, &engine.Connecting{Host: "127.0.0.1", Port: 5201, Streams: 8}, &engine.Progress{Side: engine.SideClient, Connected: 5, Total: 8})
	if l := headerText(m); !strings.Contains(l, "connecting 5/8") {
		t.Errorf("header %q", l)
	}
	st := testStart(engine.SideClient, 8, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(10)), &engine.End{Side: engine.SideClient, Err: errors.New("control connection lost")})
	if l := headerText(m); !strings.Contains(l, "failed: control connection lost") {
		t.Errorf("header %q", l)
	}
}

func TestPause(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, uniform(100)), keyMsg("p"))
	before := m.View()
	send(m, testSample(st, 1, uniform(700)), testSample(st, 2, uniform(700)))
	after := ansi.Strip(m.View())
	if !strings.Contains(after, "PAUSED") || !strings.Contains(after, "2 samples held") || strings.Contains(after, "700 Mbit/s") {
		t.Errorf("paused view changed or lacks the notice:\n%s", after)
	}
	if strings.ReplaceAll(ansi.Strip(before), "", "") == "" {
		t.Fatal("empty view")
	}
	send(m, keyMsg("p"))
	if v := ansi.Strip(m.View()); strings.Contains(v, "PAUSED") || !strings.Contains(v, "700 Mbit/s") || !strings.Contains(v, "3.0/10.0 s") {
		t.Errorf("resumed view does not show the held samples:\n%s", v)
	}
}

func TestDetailView(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 3, engine.TestParams{Duration: 10 * time.Second})
	send(m, st)
	for i := 0; i < 5; i++ {
		send(m, testSample(st, i, uniform(float64(100*(i+1)))))
	}
	send(m, keyMsg("j"), keyMsg("enter"))
	v := ansi.Strip(m.View())
	for _, want := range []string{"stream 3 ↑ send", "rtt / rttvar", "42 µs / 7 µs", "snd_cwnd", "320 KB", "peer window", "path MTU", "65535",
		"connect time", "local", "127.0.0.1:40001", "retransmits", "share of SUM", "33.3 %"} {
		if !strings.Contains(v, want) {
			t.Errorf("detail view lacks %q:\n%s", want, v)
		}
	}
	send(m, keyMsg("l"))
	if v := ansi.Strip(m.View()); !strings.Contains(v, "stream 4 ↑") {
		t.Errorf("→ does not move to the next stream:\n%s", v)
	}
	send(m, keyMsg("esc"))
	if navOf(m).view != viewList || navOf(m).cursor != 2 {
		t.Errorf("esc: view %d cursor %d, want the list on stream 4", navOf(m).view, navOf(m).cursor)
	}
}

func TestMapFits2000Flows(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 2000, engine.TestParams{Duration: 10 * time.Second})
	send(m, st, testSample(st, 0, func(i int) streamSpec {
		switch {
		case i%500 == 7:
			return streamSpec{state: engine.StateStalled, stalled: time.Second}
		case i%10 == 0:
			return streamSpec{mbps: 10}
		}
		return streamSpec{mbps: 100}
	}), keyMsg("m"))
	v := ansi.Strip(m.View())
	if !strings.Contains(v, "2000 flows, one cell each") || strings.Contains(v, "showing") {
		t.Errorf("2000 flows do not fit one 120x40 screen:\n%s", v)
	}
	if got := strings.Count(v, "XX"); got != 4 { // 2000 flows fit two columns wide
		t.Errorf("%d stalled cells (XX), want 4:\n%s", got, v)
	}
	if !strings.Contains(v, "X stalled 4") || !strings.Contains(v, "░ <0.5× 200") || !strings.Contains(v, "▓ 0.8–1.25× 1796") {
		t.Errorf("legend counts wrong:\n%s", v)
	}
	// The cursor moves and enter opens that stream's detail.
	send(m, keyMsg("l"), keyMsg("l"), keyMsg("enter"))
	if v := ansi.Strip(m.View()); !strings.Contains(v, "stream 4 ↑") {
		t.Errorf("enter on the map's third cell:\n%s", v)
	}
	// 10,000 flows page through the map.
	m2 := newTestModel(120, 40)
	st2 := testStart(engine.SideClient, 10000, engine.TestParams{Duration: 10 * time.Second})
	send(m2, st2, testSample(st2, 0, uniform(100)), keyMsg("m"))
	if v := ansi.Strip(m2.View()); !strings.Contains(v, "showing 1–") {
		t.Errorf("10000 flows: no paging notice:\n%s", v)
	}
}

func TestFindings(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})
	st.Findings = []engine.Finding{{Severity: engine.Warning, Kind: "backlog-small", What: "2000 data connections exceed the server's listen backlog of 128",
		Evidence: "backlog 128 = net.core.somaxconn", Fix: "on the server: sysctl -w net.core.somaxconn=65536"}}
	smp := testSample(st, 0, uniform(100))
	smp.Findings = []engine.Finding{
		{Severity: engine.Critical, Kind: "stalled", What: "stream 3 stalled", Evidence: "peer window 0"},
		st.Findings[0], // repeated: shown once
	}
	send(m, st, smp)
	v := ansi.Strip(m.View())
	if !strings.Contains(v, "! at 0.0 s: 2000 data connections exceed") || !strings.Contains(v, "fix: on the server: sysctl -w net.core.somaxconn=65536") ||
		!strings.Contains(v, "!! since 1.0 s: stream 3 stalled") || strings.Count(v, "listen backlog of 128") != 1 {
		t.Errorf("findings pane:\n%s", v)
	}
	send(m, keyMsg("w"))
	v = ansi.Strip(m.View())
	if !strings.Contains(v, "evidence: backlog 128 = net.core.somaxconn") || !strings.Contains(v, "critical · since 1.0 s: stream 3 stalled") {
		t.Errorf("findings view:\n%s", v)
	}
}

// TestFindingsPaneAt80Columns: at 80 columns a current finding's line and
// its fix wrap instead of being cut ("… its re…" was seen), and nothing
// drawn is wider than the screen.
func TestFindingsPaneAt80Columns(t *testing.T) {
	m := newTestModel(80, 40)
	st := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})
	const fix = "the receiving host is not keeping up: check its CPU (top) and its receive buffer limits (net.core.rmem_max, net.ipv4.tcp_rmem)"
	smp := testSample(st, 0, uniform(100))
	smp.Findings = []engine.Finding{{Severity: engine.Warning, Kind: "stalled", What: "1 of 2 ↑ streams stalled: peer window 0 on stream 1 while the other stream still moves", Fix: fix}}
	send(m, st, smp)
	v := ansi.Strip(m.View())
	var joined []string
	for _, l := range strings.Split(v, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("a line %d columns wide: %q", w, l)
		}
		joined = append(joined, strings.TrimSpace(l))
	}
	all := strings.Join(joined, " ")
	if !strings.Contains(all, "fix: "+fix) || !strings.Contains(all, "while the other stream still moves") {
		t.Errorf("the finding or its fix is cut at 80 columns:\n%s", v)
	}

	// When the pane holds fewer lines than three such findings (80
	// columns, 24 to 40 rows), it shows whole findings and says how many
	// lines w has, never the first half of a fix.
	smp.Findings = append([]engine.Finding{{Severity: engine.Warning, Kind: "stalled-all", What: "2 of 2 ↑ streams stalled", Fix: fix}}, smp.Findings...)
	smp.Findings = append(smp.Findings,
		engine.Finding{Severity: engine.Warning, Kind: "rwnd-limited", What: "2 of 2 sending streams were limited by the receiver's window", Fix: fix},
		engine.Finding{Severity: engine.Warning, Kind: "retransmits", What: "retransmissions on 2 of 2 streams", Fix: fix})
	for rows := 24; rows <= 40; rows++ {
		small := newTestModel(80, rows)
		send(small, st, smp)
		v = ansi.Strip(small.View())
		lines := strings.Split(v, "\n")
		for i, l := range lines {
			if strings.Contains(l, "fix: the receiving host") && !strings.Contains(strings.Join(lines[i:min(i+3, len(lines))], " "), "tcp_rmem") {
				t.Errorf("80×%d: a fix cut in two at the pane's end:\n%s", rows, v)
			}
		}
		if rows == 30 && !strings.Contains(v, "more lines of findings: press w") {
			t.Errorf("80×30: no pointer to w for the findings that do not fit:\n%s", v)
		}
	}
}

func TestServerScreen(t *testing.T) {
	m := New(Options{Mode: ModeServer, Listen: "[::]:5201", Backlog: 4096})
	send(m, tea.WindowSizeMsg{Width: 120, Height: 40})
	if v := ansi.Strip(m.View()); !strings.Contains(v, "listening on [::]:5201 · backlog 4096") || !strings.Contains(v, "waiting for a client") {
		t.Errorf("idle server:\n%s", v)
	}
	for test := 0; test < 2; test++ {
		st := testStart(engine.SideServer, 4, engine.TestParams{Duration: 2 * time.Second})
		st.Port = 40000 + test
		send(m, &engine.Progress{Side: engine.SideServer, Connected: 2, Total: 4})
		if l := headerText(m); !strings.Contains(l, "connecting 2/4") {
			t.Errorf("test %d: header %q", test, l)
		}
		send(m, st, testSample(st, 0, uniform(250)))
		v := ansi.Strip(m.View())
		if !strings.Contains(v, "test from 127.0.0.1:"+strconv.Itoa(40000+test)) || !strings.Contains(v, "4 flows ↓ receive") || len(rowIDs(t, m)) != 4 {
			t.Errorf("test %d running:\n%s", test, v)
		}
		res := make([]engine.StreamResult, 4)
		for i := range res {
			res[i] = engine.StreamResult{ID: engine.StreamID(i), Dir: engine.Recv, Bytes: 250e6 / 8 * 2, Seconds: 2, Retransmits: -1}
		}
		send(m, &engine.End{Side: engine.SideServer, Seconds: 2, Streams: res})
	}
	send(m, LogMsg("127.0.0.1:555: refused, a test is running"))
	v := ansi.Strip(m.View())
	if strings.Count(v, "4 flows ↓ receive  2.0 s  recv 1.00 Gbit/s") != 2 || !strings.Contains(v, "waiting for the next client") ||
		!strings.Contains(v, "log: 127.0.0.1:555: refused") {
		t.Errorf("server history:\n%s", v)
	}
	// q stops the server and quits when Serve returns.
	stopped := false
	m.opts.Stop = func() { stopped = true }
	if cmd := send(m, keyMsg("q")); cmd != nil || !stopped {
		t.Error("q does not stop the server")
	}
	if cmd := send(m, DoneMsg{}); cmd == nil || !isQuit(cmd) {
		t.Error("the server's end does not quit")
	}
}

func TestBidirAndReverse(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 4, engine.TestParams{Duration: 10 * time.Second, Bidir: true, Parallel: 2})
	send(m, st, testSample(st, 0, func(i int) streamSpec { return streamSpec{mbps: float64(100 * (i + 1))} }))
	v := ansi.Strip(m.View())
	for _, want := range []string{"4 flows ↑↓ bidir", "SUM ↑ 300 Mbit/s ↓ 700 Mbit/s", "⣿ ↑ send 300 Mbit/s", "⣿ ↓ receive 700 Mbit/s"} {
		if !strings.Contains(v, want) {
			t.Errorf("bidir view lacks %q:\n%s", want, v)
		}
	}
	m2 := newTestModel(120, 40)
	st2 := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second, Reverse: true})
	send(m2, st2, testSample(st2, 0, uniform(100)))
	if v := ansi.Strip(m2.View()); !strings.Contains(v, "2 flows ↓ receive") || !strings.Contains(v, "SUM 200 Mbit/s") || len(rowIDs(t, m2)) != 2 {
		t.Errorf("reverse view:\n%s", v)
	}
}

func TestFrameRateBounded(t *testing.T) {
	m := New(Options{Mode: ModeClient, FrameInterval: time.Hour})
	send(m, tea.WindowSizeMsg{Width: 120, Height: 40})
	st := testStart(engine.SideClient, 4, engine.TestParams{Duration: 10 * time.Second})
	first := m.View()
	cmds := 0
	if send(m, st) != nil {
		cmds++
	}
	for i := 0; i < 50; i++ {
		if cmd := send(m, testSample(st, i, uniform(100))); cmd != nil {
			cmds++
		}
	}
	if m.View() != first {
		t.Error("samples redrew the screen within one frame interval")
	}
	if cmds != 1 {
		t.Errorf("%d frame ticks scheduled for 51 events, want 1", cmds)
	}
	send(m, frameMsg{})
	if !strings.Contains(ansi.Strip(m.View()), "50.0/10.0 s") && !strings.Contains(ansi.Strip(m.View()), "50.0/") {
		t.Errorf("frame tick did not draw the latest sample:\n%s", ansi.Strip(m.View()))
	}
	// Keys draw at once.
	send(m, keyMsg("s"))
	if !strings.Contains(headerText(m), "sort: rate") {
		t.Error("a key did not redraw at once")
	}
}

func TestUDPColumns(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second, Protocol: "UDP", Reverse: true})
	send(m, st, testSample(st, 0, func(i int) streamSpec {
		return streamSpec{mbps: 100, udp: &engine.UDPStats{Packets: 8630, Lost: int64(90 * i), Jitter: 0.000031, OutOfOrder: 2}}
	}))
	v := ansi.Strip(m.View())
	for _, want := range []string{"LOSS", "JITTER", "PKTS", "1.03%", "0.031 ms", "8630", "lost 90 (0.52%)"} {
		if !strings.Contains(v, want) {
			t.Errorf("UDP view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "RETR") || strings.Contains(v, "CWND") {
		t.Errorf("UDP view shows TCP columns:\n%s", v)
	}
	send(m, keyMsg("j"), keyMsg("enter"))
	v = ansi.Strip(m.View())
	for _, want := range []string{"datagrams", "lost", "90 = 1.03%", "jitter", "out of order"} {
		if !strings.Contains(v, want) {
			t.Errorf("UDP detail lacks %q:\n%s", want, v)
		}
	}
	tests := []struct {
		p    float64
		want string
	}{{0, "0%"}, {0.005, "0.005%"}, {1.5, "1.50%"}, {100, "100.0%"}}
	for _, c := range tests {
		if got := fmtPercent(c.p); got != c.want {
			t.Errorf("fmtPercent(%v) = %q, want %q", c.p, got, c.want)
		}
	}
	if got := fmtJitter(0.0042); got != "4.20 ms" {
		t.Errorf("fmtJitter(0.0042) = %q", got)
	}
	if got := fmtCount(12345); got != "12.3k" {
		t.Errorf("fmtCount(12345) = %q", got)
	}
}

// A server running several tests at once keeps them apart by test id and
// shows one at a time; tab moves between them.
func TestServerConcurrentTests(t *testing.T) {
	m := New(Options{Mode: ModeServer, Listen: "0.0.0.0:5201"})
	send(m, tea.WindowSizeMsg{Width: 120, Height: 40})
	a := testStart(engine.SideServer, 2, engine.TestParams{Duration: 10 * time.Second})
	a.Test, a.Port = 1, 40001
	b := testStart(engine.SideServer, 5, engine.TestParams{Duration: 10 * time.Second})
	b.Test, b.Port = 2, 40002
	sa, sb := testSample(a, 0, uniform(100)), testSample(b, 0, uniform(300))
	sa.Test, sb.Test = 1, 2
	send(m, a, sa, b, sb)
	h := headerText(m)
	if !strings.Contains(h, "test from 127.0.0.1:40001") || !strings.Contains(h, "[1/2 running, tab: next]") || len(rowIDs(t, m)) != 2 {
		t.Errorf("first test not on screen: %s\n%s", h, ansi.Strip(m.View()))
	}
	send(m, keyMsg("tab"))
	if h := headerText(m); !strings.Contains(h, "test from 127.0.0.1:40002") || !strings.Contains(h, "[2/2 running") || len(rowIDs(t, m)) != 5 ||
		!strings.Contains(h, "SUM 1.50 Gbit/s") {
		t.Errorf("tab did not show the second test: %s", h)
	}
	// The test on screen ends: the other one, still running, takes over.
	send(m, &engine.End{Side: engine.SideServer, Test: 2, Seconds: 1})
	if h := headerText(m); !strings.Contains(h, "test from 127.0.0.1:40001") || strings.Contains(h, "running, tab") {
		t.Errorf("after the second test ended: %s", h)
	}
	if len(m.front.(*serverView).history) != 1 || m.front.(*serverView).history[0].port != 40002 || m.front.(*serverView).history[0].flows != 5 {
		t.Errorf("history %+v", m.front.(*serverView).history)
	}
}

func TestByteLimitedAndNoIntervals(t *testing.T) {
	m := newTestModel(120, 40)
	st := testStart(engine.SideClient, 2, engine.TestParams{Bytes: 100 << 20})
	send(m, st, testSample(st, 0, uniform(200)))
	if h := headerText(m); !strings.Contains(h, "47.7 MB/100 MB · 1.0 s") || !strings.Contains(h, "██████████░") {
		t.Errorf("-n progress: %s", h)
	}
	m2 := newTestModel(120, 40)
	st2 := testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})
	st2.Params.Interval = 0
	send(m2, st2)
	if v := ansi.Strip(m2.View()); !strings.Contains(v, "interval reports are off (-i 0)") {
		t.Errorf("-i 0 is not explained:\n%s", v)
	}
}

func TestThin(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7}
	s := series{n: len(xs), at: func(i int) (float64, float64) { return xs[i], xs[i] * 10 }}
	if got := thin(s, 10); got.n != 7 {
		t.Errorf("short series thinned to %d", got.n)
	}
	got := thin(s, 3) // groups of 3: {1,2,3} {4,5,6} {7}
	if got.n != 3 {
		t.Fatalf("thinned to %d points, want 3", got.n)
	}
	for i, want := range [][2]float64{{3, 20}, {6, 50}, {7, 70}} {
		if x, y := got.at(i); x != want[0] || y != want[1] {
			t.Errorf("point %d = (%v, %v), want %v", i, x, y, want)
		}
	}
}
