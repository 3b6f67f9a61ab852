package ui

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/flowscope/flowscope/engine"
)

func TestMain(m *testing.M) {
	// Golden files and substring checks need plain text and one time zone.
	lipgloss.SetColorProfile(termenv.Ascii)
	time.Local = time.UTC
	os.Exit(m.Run())
}

// testStart is a Start event for n streams in direction dir (Send for a
// plain client test).
func testStart(side engine.Side, n int, p engine.TestParams) *engine.Start {
	if p.Protocol == "" {
		p.Protocol = "TCP"
	}
	if p.Parallel == 0 {
		p.Parallel = n
	}
	if p.Interval == 0 {
		p.Interval = time.Second
	}
	s := &engine.Start{
		Side: side, Host: "127.0.0.1", Port: 5201, Params: p,
		Timestamp: time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC),
	}
	dir := engine.Send
	if p.Reverse != (side == engine.SideServer) {
		dir = engine.Recv
	}
	for i := 0; i < n; i++ {
		d := dir
		if p.Bidir && i >= n/2 {
			d = 1 - dir
		}
		s.Streams = append(s.Streams, engine.StreamInfo{
			ID: engine.StreamID(i), Dir: d,
			Local:  &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000 + i},
			Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5201},
		})
		s.ConnectTimes = append(s.ConnectTimes, time.Duration(100+i)*time.Microsecond)
	}
	return s
}

// streamSpec describes one stream in a synthetic sample.
type streamSpec struct {
	mbps    float64 // Mbit/s in the interval
	state   engine.StreamState
	stalled time.Duration
	reason  string
	retr    uint64
	udp     *engine.UDPStats // UDP tests: this interval's datagram counts
}

// totals keeps each synthetic stream's running byte count.
var (
	totalsMu sync.Mutex
	totals   = map[*engine.Start][]uint64{}
)

// testSample builds interval seq (1 s long) for the streams of start.
// Totals add up over the samples built for the same start.
func testSample(start *engine.Start, seq int, spec func(i int) streamSpec) *engine.Sample {
	totalsMu.Lock()
	defer totalsMu.Unlock()
	tot := totals[start]
	if len(tot) != len(start.Streams) {
		tot = make([]uint64, len(start.Streams))
		totals[start] = tot
	}
	s := &engine.Sample{
		Side: start.Side, Seq: seq,
		Start: time.Duration(seq) * time.Second, End: time.Duration(seq+1) * time.Second,
		Streams: make([]engine.StreamSample, len(start.Streams)),
	}
	for i, si := range start.Streams {
		sp := spec(i)
		if sp.state == engine.StateConnecting {
			sp.state = engine.StateRunning
		}
		b := uint64(sp.mbps * 1e6 / 8)
		tot[i] += b
		ss := engine.StreamSample{
			ID: si.ID, Dir: si.Dir, Bytes: b, Total: tot[i],
			State: sp.state, StalledFor: sp.stalled, Reason: sp.reason,
		}
		if sp.udp != nil {
			u := *sp.udp
			ss.UDP = &u
		} else if si.Dir == engine.Send {
			ss.Acked = b
			ss.TCP = engine.TCPStats{Valid: true, Retransmits: sp.retr, SndCwnd: 320 << 10, SndWnd: 3 << 20,
				RTT: 42, RTTVar: 7, PMTU: 65535, BytesAcked: tot[i]}
		}
		s.Streams[i] = ss
		sum := &s.Sent
		if si.Dir == engine.Recv {
			sum = &s.Received
		}
		sum.Streams++
		sum.Bytes += ss.Bytes
		sum.Acked += ss.Acked
		if ss.TCP.Valid {
			sum.HasTCP = true
			sum.Retransmits += ss.TCP.Retransmits
		}
		if ss.UDP != nil {
			if sum.UDP == nil {
				sum.UDP = &engine.UDPStats{}
			}
			sum.UDP.Packets += ss.UDP.Packets
			sum.UDP.Lost += ss.UDP.Lost
		}
	}
	return s
}

// uniform is every stream at the same rate.
func uniform(mbps float64) func(int) streamSpec {
	return func(int) streamSpec { return streamSpec{mbps: mbps} }
}

// newTestModel is a client model sized w×h that redraws on every event.
func newTestModel(w, h int) *Model {
	m := New(Options{Mode: ModeClient})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

// send feeds messages to the model and returns the last command.
func send(m *Model, msgs ...tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	for _, msg := range msgs {
		_, cmd = m.Update(msg)
	}
	return cmd
}

// namedKeys are the keys keyMsg knows by name; anything else is typed.
var namedKeys = map[string]tea.KeyType{
	"enter": tea.KeyEnter, "esc": tea.KeyEsc, "up": tea.KeyUp, "down": tea.KeyDown,
	"pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp, "ctrl+c": tea.KeyCtrlC, "tab": tea.KeyTab,
}

func keyMsg(s string) tea.KeyMsg {
	if k, ok := namedKeys[s]; ok {
		return tea.KeyMsg{Type: k}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func keys(ks ...string) []tea.Msg {
	out := make([]tea.Msg, len(ks))
	for i, k := range ks {
		out[i] = keyMsg(k)
	}
	return out
}

// screenLines is the view split into lines, escape codes removed.
func screenLines(m *Model) []string {
	return strings.Split(ansi.Strip(m.View()), "\n")
}

// listLines is the screen's lines below the stream list's column
// heading, with each line's fields (the cursor mark left out).
func listLines(m *Model) (lines []string, fields [][]string) {
	inList := false
	for _, l := range screenLines(m) {
		if inList {
			lines = append(lines, l)
			fields = append(fields, strings.Fields(strings.TrimPrefix(l, "▸")))
		}
		inList = inList || strings.Contains(l, " ID DIR")
	}
	return lines, fields
}

// isStreamRow reports whether a list line's fields are a stream's row.
func isStreamRow(f []string) bool { return len(f) > 1 && (f[1] == "↑" || f[1] == "↓") }

// rowIDs returns the stream IDs of the list rows on screen, top to bottom.
func rowIDs(t *testing.T, m *Model) []int {
	t.Helper()
	var ids []int
	_, fields := listLines(m)
	for _, f := range fields {
		if !isStreamRow(f) {
			break
		}
		id := 0
		for _, c := range f[0] {
			id = id*10 + int(c-'0')
		}
		ids = append(ids, id)
	}
	return ids
}

// headerText is the header's lines, joined.
func headerText(m *Model) string {
	return strings.Join(screenLines(m)[:m.headerH], " | ")
}

// fleetOf is m's multi-server front (ModeFleet).
func fleetOf(m *Model) *fleetView { return m.front.(*fleetView) }

// screenOf is the test screen m shows; nil for a fleet's overview.
func screenOf(m *Model) *testScreen {
	switch f := m.front.(type) {
	case *clientView:
		return f.test
	case *serverView:
		return f.screen()
	case *fleetView:
		return f.onScreen()
	}
	return nil
}

// navOf is where the user is on the screen m shows.
func navOf(m *Model) *nav {
	if t := screenOf(m); t != nil {
		return &t.nav
	}
	return &fleetOf(m).nav
}
