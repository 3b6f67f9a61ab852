package htmlreport

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
	"github.com/flowscope/flowscope/record"
)

// synthetic is a 10-interval bidir test of 3 streams per direction in which
// stream 4 stalls from 5 to 8 s: a finding that ended, one still open at
// the end, and the client's connect times. It goes through the recorder and
// the reader like a real recording.
func synthetic(t *testing.T) *record.Recording {
	t.Helper()
	start := &engine.Start{
		Side: engine.SideClient, Version: engine.Version, PeerFlowscope: true, Host: "127.0.0.1", Port: 5201,
		Params:    engine.TestParams{Protocol: "TCP", Parallel: 3, Bidir: true, Duration: 10 * time.Second, Interval: time.Second, BlockSize: 128 << 10},
		Timestamp: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC), MSS: 32768,
	}
	for i := 0; i < 6; i++ {
		d := engine.Send
		if i >= 3 {
			d = engine.Recv
		}
		start.Streams = append(start.Streams, engine.StreamInfo{ID: engine.StreamID(i), Dir: d})
		start.ConnectTimes = append(start.ConnectTimes, time.Duration(200+100*i)*time.Microsecond)
	}
	events := []engine.Event{start}
	stall := engine.Finding{
		Severity: diagnose.Warning, Kind: diagnose.KindStalled, What: "1 of 3 streams stalled: peer window 0",
		Evidence: "stream 4: snd_wnd 0 for 3.0 s", Fix: "look at the receiving host", Origin: diagnose.OriginClient,
		Direction: diagnose.DirUp, Streams: []int{4}, Span: diagnose.Span{Start: 5 * time.Second, End: 8 * time.Second, Ended: true},
	}
	slow := engine.Finding{
		Severity: diagnose.Critical, Kind: "rwnd-limited", What: "the receiver's window limits stream 5",
		Direction: diagnose.DirDown, Streams: []int{5}, Span: diagnose.Span{Start: 7 * time.Second},
	}
	for i := 0; i < 10; i++ {
		s := &engine.Sample{Side: engine.SideClient, Seq: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second}
		for j, info := range start.Streams {
			st := engine.StreamSample{ID: info.ID, Dir: info.Dir, Bytes: uint64(100+10*j) << 20, State: engine.StateRunning}
			if info.ID == 4 && i >= 5 && i < 8 {
				st.Bytes, st.State, st.StalledFor = 0, engine.StateStalled, time.Duration(i-4)*time.Second
			}
			sum := &s.Sent
			if info.Dir == engine.Recv {
				sum = &s.Received
			}
			sum.Streams++
			sum.Bytes += st.Bytes
			s.Streams = append(s.Streams, st)
		}
		switch i {
		case 5:
			f := stall
			f.Span = diagnose.Span{Start: 5 * time.Second}
			s.Findings = []engine.Finding{f}
		case 7:
			s.Findings = []engine.Finding{slow}
		case 8:
			s.Findings = []engine.Finding{stall}
		}
		events = append(events, s)
	}
	events = append(events, &engine.End{Side: engine.SideClient, Seconds: 10, Findings: []engine.Finding{stall, slow},
		Streams: []engine.StreamResult{{ID: 1, Dir: engine.Send, Bytes: 1 << 30, Seconds: 10, Retransmits: 3}}})
	var b bytes.Buffer
	w := record.NewWriter(&b)
	for _, ev := range events {
		w.Handle(ev)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func render(t *testing.T, rec *record.Recording, problem error) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, rec, problem); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// selfContained fails when the page would fetch anything.
func selfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{" src=", " href=", "url(", "@import", "fetch(", "XMLHttpRequest", "<link", "<img", "<iframe"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must not load anything", bad)
		}
	}
}

func TestPage(t *testing.T) {
	page := render(t, synthetic(t), nil)
	selfContained(t, page)
	for _, want := range []string{
		`id="sum-send-1"`, `id="sum-recv-1"`, `id="heatmap-1"`, `id="timeline-1"`, `id="connect-1"`,
		"5.0–8.0 s", "since 7.0 s", "1 of 3 streams stalled: peer window 0", "look at the receiving host",
		"6 data connections", "median <b>0.450 ms</b>", "both (--bidir)", "127.0.0.1 port 5201",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The page about a truncated file says where it stopped and still shows
// the intervals before.
func TestPageTruncated(t *testing.T) {
	data, err := os.ReadFile("../record/testdata/iperf3_321_stream_bidir_P2.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.Decode(data[:len(data)-300])
	if err == nil {
		t.Fatal("a cut file read without error")
	}
	page := render(t, rec, err)
	if !strings.Contains(page, `id="problem"`) || !strings.Contains(page, "line 4 (byte") || !strings.Contains(page, "stops before this test&#39;s end") {
		t.Errorf("the page does not say where the file stops")
	}
	if !strings.Contains(page, `id="sum-send-1"`) || strings.Count(page, "<polyline") != 2 {
		t.Errorf("the intervals before the cut are not charted")
	}
}

// chromium finds Debian's chromium, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI must check the report in a browser (.ci/run installs it)")
	}
	t.Skip("chromium is not installed (apt-get install chromium; .ci/run installs it): the report is not checked in a browser")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=1040,2200"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// TestChromium loads pages from disk in headless Chromium, checks the
// rendered DOM — the charts, the heat map the page's script draws, the
// findings — and makes a screenshot in which the heat map's stalled cells
// show. FLOWSCOPE_SCREENSHOT_DIR keeps the screenshots.
func TestChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	iperf, err := record.ReadFile("../record/testdata/iperf3_312_J_P2.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		rec   *record.Recording
		cells int // heat map rows × intervals
		want  []string
	}{
		{"synthetic", synthetic(t), 6 * 10, []string{"1 of 3 streams stalled: peer window 0", "5.0–8.0 s", "since 7.0 s", `id="connect-1"`}},
		{"iperf3-312", iperf, 2 * 3, []string{"iperf 3.12", `id="sum-send-1"`, "No findings"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".html")
			if err := os.WriteFile(path, []byte(render(t, tc.rec, nil)), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := string(runChromium(t, bin, "--dump-dom", "file://"+path))
			if m := regexp.MustCompile(`data-drawn="(\d+)"`).FindStringSubmatch(dom); m == nil || m[1] != strconv.Itoa(tc.cells) {
				t.Errorf("heat map drawn: %v, want %d cells (the page's script did not run?)", m, tc.cells)
			}
			if n := strings.Count(dom, `class="cell"`); n != tc.cells {
				t.Errorf("%d heat map cells in the DOM, want %d", n, tc.cells)
			}
			if !regexp.MustCompile(`<polyline class="sum-line" points="[0-9., ]{20,}"`).MatchString(dom) {
				t.Errorf("no SUM line in the DOM")
			}
			for _, w := range tc.want {
				if !strings.Contains(dom, w) {
					t.Errorf("the rendered page lacks %q", w)
				}
			}
			shot := filepath.Join(dir, tc.name+".png")
			runChromium(t, bin, "--screenshot="+shot, "--hide-scrollbars", "file://"+path)
			f, err := os.Open(shot)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			// Count the pixels of the SUM line's blue and the stalled red.
			var blue, red int
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y += 2 {
				for x := b.Min.X; x < b.Max.X; x += 2 {
					r, g, bl, _ := img.At(x, y).RGBA()
					r, g, bl = r>>8, g>>8, bl>>8
					switch {
					case r < 60 && g > 90 && g < 130 && bl > 220:
						blue++
					case r > 190 && g < 60 && bl < 70:
						red++
					}
				}
			}
			if blue < 50 {
				t.Errorf("the screenshot shows %d pixels of the SUM line", blue)
			}
			if tc.name == "synthetic" && red < 50 {
				t.Errorf("the screenshot shows %d pixels of stalled cells", red)
			}
			if keep := os.Getenv("FLOWSCOPE_SCREENSHOT_DIR"); keep != "" {
				data, _ := os.ReadFile(shot)
				_ = os.WriteFile(filepath.Join(keep, "report-"+tc.name+".png"), data, 0o644)
			}
		})
	}
}

// Findings without a span (older recordings) are placed where they were
// reported, and the same finding reported again is one entry.
func TestFindingsWithoutSpan(t *testing.T) {
	f := engine.Finding{Severity: diagnose.Warning, Kind: diagnose.KindStalled, What: "3 of 8 streams stalled", Direction: diagnose.DirUp}
	g := f
	g.What = "8 of 8 streams stalled"
	setup := engine.Finding{Severity: diagnose.Info, Kind: "backlog-small", What: "backlog"}
	tt := &test{
		start: &engine.Start{Findings: []engine.Finding{setup}},
		samples: []*engine.Sample{
			{End: 4 * time.Second}, {End: 5 * time.Second, Findings: []engine.Finding{f}}, {End: 6 * time.Second, Findings: []engine.Finding{g}},
		},
		end: &engine.End{Seconds: 8, Findings: []engine.Finding{setup, g}},
	}
	fs := allFindings(tt)
	if len(fs) != 2 {
		t.Fatalf("%d findings: %+v", len(fs), fs)
	}
	if fs[0].Kind != "backlog-small" || fs[0].label != "before data flowed" {
		t.Errorf("setup finding: %+v", fs[0])
	}
	if fs[1].What != "8 of 8 streams stalled" || fs[1].label != "reported 5.0–6.0 s" || fs[1].start != 5*time.Second {
		t.Errorf("stall: %q %q start %v", fs[1].What, fs[1].label, fs[1].start)
	}
}
