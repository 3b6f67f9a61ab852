package ui

import (
	"errors"
	"slices"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/flowscope/flowscope/diagnose"
	"github.com/flowscope/flowscope/engine"
)

// goldenTest is a screen built from synthetic events and keys.
type goldenTest struct {
	name string
	w, h int
	opts Options
	msgs []tea.Msg
}

// clientRun is a 10 s test with 8 streams, 6 s in: stream 7 slowed down,
// stream 5 stalled with a reason, one finding.
func clientRun(p engine.TestParams, n int) []tea.Msg {
	p.Duration = 10 * time.Second
	st := testStart(engine.SideClient, n, p)
	st.Findings = []engine.Finding{{Severity: engine.Warning, Kind: "window-clamped",
		What:     "the socket buffer is clamped by net.core.wmem_max",
		Evidence: "asked 16 MB, got 4 MB", Fix: "sysctl -w net.core.wmem_max=16777216"}}
	msgs := []tea.Msg{&engine.Connecting{Host: "127.0.0.1", Port: 5201, Streams: n}, &engine.Progress{Connected: n, Total: n}, st}
	for k := 0; k < 6; k++ {
		msgs = append(msgs, testSample(st, k, func(i int) streamSpec {
			mbps := 1000 + 150*float64((i*7+k*3)%5)
			switch {
			case i == 3 && k >= 3:
				return streamSpec{state: engine.StateStalled, stalled: time.Duration(k-2) * time.Second,
					reason: "peer window 0: the receiver is not reading (zero-window probes 3, 262144 bytes unsent)"}
			case i == 5:
				mbps /= float64(k + 1)
			}
			return streamSpec{mbps: mbps, retr: uint64((i + k) % 3)}
		}))
	}
	return msgs
}

func TestGolden(t *testing.T) {
	client := clientRun(engine.TestParams{}, 8)
	serverStart := testStart(engine.SideServer, 4, engine.TestParams{Duration: 5 * time.Second})
	res := make([]engine.StreamResult, 4)
	for i := range res {
		res[i] = engine.StreamResult{ID: engine.StreamID(i), Dir: engine.Recv, Bytes: 5e9 / 8 * 5, Seconds: 5, Retransmits: -1}
	}
	var server []tea.Msg
	for k := 0; k < 2; k++ {
		server = append(server, serverStart)
		for s := 0; s < 5; s++ {
			server = append(server, testSample(serverStart, s, uniform(5000)))
		}
		server = append(server, &engine.End{Side: engine.SideServer, Seconds: 5, Streams: res})
	}
	server = append(server, LogMsg("127.0.0.1:41000: refused, a test is running"), serverStart,
		testSample(serverStart, 0, uniform(4000)), testSample(serverStart, 1, uniform(4500)))

	var mapRun []tea.Msg
	mapStart := testStart(engine.SideClient, 1000, engine.TestParams{Duration: 10 * time.Second})
	mapRun = append(mapRun, mapStart)
	for k := 0; k < 3; k++ {
		mapRun = append(mapRun, testSample(mapStart, k, func(i int) streamSpec {
			switch {
			case i%211 == 17:
				return streamSpec{state: engine.StateStalled, stalled: time.Second}
			case i%13 == 0:
				return streamSpec{mbps: 20}
			case i%7 == 0:
				return streamSpec{mbps: 140}
			}
			return streamSpec{mbps: 100 - float64(i%5)}
		}))
	}
	failed := []tea.Msg{&engine.Connecting{Host: "127.0.0.1", Port: 5201, Streams: 2}, testStart(engine.SideClient, 2, engine.TestParams{Duration: 10 * time.Second})}
	failed = append(failed, testSample(failed[1].(*engine.Start), 0, uniform(300)), &engine.End{Side: engine.SideClient, Err: errors.New("control connection: connection reset by peer")})

	fleet := newFleetRun(6)
	fleet.starts[1].Findings = []engine.Finding{{Severity: engine.Warning, Kind: "window-clamped",
		What: "the socket buffer is clamped by net.core.wmem_max", Fix: "sysctl -w net.core.wmem_max=16777216"}}
	fleetOpts := Options{Mode: ModeFleet, Targets: fleetTargets}

	// A timeline: a stall that recovered, and one that holds now.
	timeline := slices.Clone(client)
	last := *timeline[len(timeline)-1].(*engine.Sample)
	timeline[len(timeline)-1] = &last
	last.Findings = []engine.Finding{
		{Severity: engine.Warning, Kind: "stalled", What: "8 of 8 ↑ streams stalled", Direction: diagnose.DirUp,
			Evidence: "peer window 0: streams 1,3-9", Fix: "the receiving host is not keeping up: check its CPU (top)",
			Span: diagnose.Span{Start: 1100 * time.Millisecond, End: 2300 * time.Millisecond, Ended: true}},
		{Severity: engine.Warning, Kind: "stalled", What: "1 of 8 ↑ streams stalled", Direction: diagnose.DirUp, Streams: []int{5},
			Evidence: "peer window 0: stream 5", Fix: "the receiving host is not keeping up: check its CPU (top)",
			Span: diagnose.Span{Start: 4 * time.Second}},
	}

	tests := []goldenTest{
		{name: "client", w: 120, h: 40, msgs: client},
		{name: "client_80x24", w: 80, h: 24, msgs: client},
		{name: "stalled_80x24", w: 80, h: 24, msgs: slices.Concat(timeline, keys("j", "j", "j"))},
		{name: "timeline", w: 120, h: 40, msgs: timeline},
		{name: "timeline_findings", w: 120, h: 40, msgs: slices.Concat(timeline, keys("w"))},
		{name: "client_sorted_filtered", w: 120, h: 40, msgs: slices.Concat(client, keys("s", "f"))},
		{name: "client_help", w: 120, h: 40, msgs: slices.Concat(client, keys("?"))},
		{name: "detail", w: 120, h: 40, msgs: slices.Concat(client, keys("j", "j", "j", "enter"))},
		{name: "findings", w: 120, h: 40, msgs: slices.Concat(client, keys("w"))},
		{name: "bidir", w: 120, h: 40, msgs: clientRun(engine.TestParams{Bidir: true, Parallel: 4}, 8)},
		{name: "map_1000", w: 120, h: 40, msgs: slices.Concat(mapRun, keys("m"))},
		{name: "server", w: 120, h: 40, opts: Options{Mode: ModeServer, Listen: "0.0.0.0:5201", Backlog: 4096}, msgs: server},
		{name: "failed", w: 120, h: 40, msgs: failed},
		{name: "fleet", w: 120, h: 40, opts: fleetOpts, msgs: fleet.msgs},
		{name: "fleet_server", w: 120, h: 40, opts: fleetOpts, msgs: slices.Concat(fleet.msgs, keys("tab", "tab"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm := teatest.NewTestModel(t, New(tc.opts), teatest.WithInitialTermSize(tc.w, tc.h))
			for _, msg := range tc.msgs {
				tm.Send(msg)
			}
			if err := tm.Quit(); err != nil {
				t.Fatal(err)
			}
			fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second))
			teatest.RequireEqualOutput(t, []byte(fm.View()))
		})
	}
}
