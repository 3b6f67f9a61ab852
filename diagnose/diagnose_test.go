package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/sysctl"
)

// want describes the finding a rule must (or must not) produce.
type want struct {
	none     bool
	kind     string
	severity Severity
	contains []string // substrings of What+Evidence+Fix
}

func check(t *testing.T, name string, f *Finding, w want) {
	t.Helper()
	if w.none {
		if f != nil {
			t.Errorf("%s: unexpected finding %v", name, f)
		}
		return
	}
	if f == nil {
		t.Errorf("%s: no finding", name)
		return
	}
	if f.Kind != w.kind || f.Severity != w.severity {
		t.Errorf("%s: kind %q severity %v, want %q %v", name, f.Kind, f.Severity, w.kind, w.severity)
	}
	all := f.What + " | " + f.Evidence + " | " + f.Fix
	for _, c := range w.contains {
		if !strings.Contains(all, c) {
			t.Errorf("%s: %q lacks %q", name, all, c)
		}
	}
}

func TestBacklogSmall(t *testing.T) {
	cases := []struct {
		name    string
		burst   int
		backlog int64
		w       want
	}{
		{"fits", 100, 4096, want{none: true}},
		{"equal", 128, 128, want{none: true}},
		{"unknown backlog", 1000, -1, want{none: true}},
		{"over", 1000, 128, want{kind: KindBacklogSmall, severity: Warning, contains: []string{"1000", "128", "sysctl -w net.core.somaxconn=65536", "--connect-concurrency 128"}}},
	}
	for _, c := range cases {
		check(t, c.name, BacklogSmall(c.burst, c.backlog), c.w)
	}
}

func TestFDLimit(t *testing.T) {
	cases := []struct {
		name         string
		streams, per int
		soft, hard   int64
		w            want
	}{
		{"plenty", 100, 1, 20000, 20000, want{none: true}},
		{"unknown", 100, 1, -1, -1, want{none: true}},
		{"near", 930, 1, 1024, 4096, want{kind: KindFDLimit, severity: Warning, contains: []string{"1024", "ulimit -n"}}},
		{"over", 1000, 2, 1024, 1024, want{kind: KindFDLimit, severity: Critical, contains: []string{"2032", "soft 1024, hard 1024"}}},
	}
	for _, c := range cases {
		check(t, c.name, FDLimit(c.streams, c.per, c.soft, c.hard), c.w)
	}
}

func TestEphemeralPorts(t *testing.T) {
	check(t, "plenty", EphemeralPorts(1000, 28232), want{none: true})
	check(t, "unknown", EphemeralPorts(1000, -1), want{none: true})
	check(t, "exhausted", EphemeralPorts(30000, 28232), want{kind: KindEphemeralPorts, severity: Critical, contains: []string{"28232", "ip_local_port_range"}})
}

func TestWindowClamped(t *testing.T) {
	check(t, "no -w", WindowClamped(0, 4<<20, 4<<20), want{none: true})
	check(t, "fits", WindowClamped(1<<20, 4<<20, 4<<20), want{none: true})
	check(t, "unknown maxima", WindowClamped(64<<20, -1, -1), want{none: true})
	check(t, "rmem only", WindowClamped(8<<20, 4<<20, 16<<20), want{kind: KindWindowClamped, severity: Warning, contains: []string{"rmem_max 4194304", "sysctl -w net.core.rmem_max=8388608"}})
	f := WindowClamped(8<<20, 16<<20, 4<<20)
	check(t, "wmem only", f, want{kind: KindWindowClamped, severity: Warning, contains: []string{"wmem_max 4194304"}})
	if strings.Contains(f.Evidence, "rmem") {
		t.Errorf("evidence names rmem_max though it fits: %q", f.Evidence)
	}
}

func TestListenOverflow(t *testing.T) {
	check(t, "quiet", ListenOverflow(map[string]int64{"TcpExt.ListenOverflows": 0}, 128), want{none: true})
	check(t, "empty", ListenOverflow(nil, 128), want{none: true})
	check(t, "overflow", ListenOverflow(map[string]int64{
		"TcpExt.ListenOverflows": 1094, "TcpExt.ListenDrops": 1094, "TcpExt.SyncookiesSent": 482,
	}, 128), want{kind: KindListenOverflow, severity: Warning, contains: []string{"ListenOverflows +1094", "SyncookiesSent +482", "backlog 128 = net.core.somaxconn", "sysctl -w net.core.somaxconn=65536"}})
	check(t, "syn queue drops", ListenOverflow(map[string]int64{
		"TcpExt.ListenOverflows": 1030, "TcpExt.ListenDrops": 4029, "TcpExt.TCPReqQFullDrop": 2999,
	}, 0), want{kind: KindListenOverflow, severity: Warning, contains: []string{"ListenDrops +4029", "TCPReqQFullDrop +2999"}})
}

func TestSlowConnects(t *testing.T) {
	fast := []time.Duration{time.Millisecond, 2 * time.Millisecond}
	check(t, "fast", SlowConnects(fast, 0, 128), want{none: true})
	slow := []time.Duration{time.Millisecond, 1100 * time.Millisecond, 3 * time.Second}
	check(t, "explained", SlowConnects(slow, 1094, 128), want{kind: KindSlowConnect, severity: Warning, contains: []string{"2 of 3 connections needed ≥1 s", "accept queue overflowed", "ListenOverflows +1094", "backlog 128", "somaxconn=65536", "slowest 3.0 s"}})
	f := SlowConnects(slow, -1, 0)
	check(t, "unexplained", f, want{kind: KindSlowConnect, severity: Warning, contains: []string{"ss -lnt"}})
	if strings.Contains(f.What, "overflowed") {
		t.Errorf("claims an overflow without evidence: %q", f.What)
	}
}

func TestSetupFailed(t *testing.T) {
	check(t, "none", SetupFailed(map[string]int{}, 10), want{none: true})
	check(t, "fds", SetupFailed(map[string]int{CauseFDs: 3, CauseReset: 1}, 100), want{kind: KindSetupFailed, severity: Critical, contains: []string{"4 of 100", "3 out of file descriptors", "1 reset", "ulimit -n"}})
	check(t, "ports", SetupFailed(map[string]int{CausePorts: 5}, 30000), want{kind: KindSetupFailed, severity: Critical, contains: []string{"ip_local_port_range"}})
	check(t, "resets", SetupFailed(map[string]int{CauseReset: 37}, 1000), want{kind: KindSetupFailed, severity: Critical, contains: []string{"37 reset", "tcp_abort_on_overflow"}})
	check(t, "refused", SetupFailed(map[string]int{CauseRefused: 1}, 1), want{kind: KindSetupFailed, severity: Critical, contains: []string{"server is running"}})
}

// TestUDPSetupFailed: a UDP stream whose connect reply never came is not
// a listen-backlog problem: the fix names the UDP path, not somaxconn.
func TestUDPSetupFailed(t *testing.T) {
	check(t, "none", UDPSetupFailed(map[string]int{}, 2), want{none: true})
	for _, cause := range []string{CauseTimeout, CauseReset} {
		f := UDPSetupFailed(map[string]int{cause: 2}, 2)
		check(t, cause, f, want{kind: KindSetupFailed, severity: Critical, contains: []string{"2 of 2 UDP streams", "UDP reaches the server's port"}})
		if f != nil && strings.Contains(f.Fix, "somaxconn") {
			t.Errorf("%s: UDP set-up fix blames somaxconn: %s", cause, f.Fix)
		}
	}
	check(t, "fds", UDPSetupFailed(map[string]int{CauseFDs: 1}, 2), want{kind: KindSetupFailed, severity: Critical, contains: []string{"ulimit -n"}})
}

func TestStallReason(t *testing.T) {
	cases := []struct {
		name            string
		ti              sysctl.TCPInfo
		sending, others bool
		prefix          string
	}{
		{"zero window", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 0, Probes: 2, Unacked: 0, SndCwnd: 10, NotsentBytes: 4096}, true, true, "peer window 0"},
		{"black hole", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Backoff: 3, Retransmits: 3, CAState: caLoss, RTO: 1_630_000, Lost: 1, LastAckRecv: 2500}, true, false, "retransmission timeouts"},
		{"shared bottleneck", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Backoff: 4, CAState: caLoss, SndCwnd: 1, Lost: 11}, true, true, "bottleneck"},
		{"local drops", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, CAState: caCWR, Unacked: 0, NotsentBytes: 1300000}, true, true, "local drops"},
		{"idle sender", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Unacked: 0, NotsentBytes: 0, SndCwnd: 10}, true, true, "sender idle"},
		{"send buffer", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Unacked: 5, SndCwnd: 14, NotsentBytes: 0}, true, true, "send buffer"},
		{"other", sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Unacked: 14, SndCwnd: 14, NotsentBytes: 10}, true, true, "no progress"},
		{"receiver, no data", sysctl.TCPInfo{Known: sysctl.AllFields, RcvWnd: 65535, LastDataRecv: 1500}, false, true, "no data arriving"},
		{"receiver, own window 0", sysctl.TCPInfo{Known: sysctl.AllFields, RcvWnd: 0}, false, true, "local window 0"},
	}
	for _, c := range cases {
		got := StallReason(c.ti, c.sending, c.others, 0)
		if !strings.HasPrefix(got, c.prefix) {
			t.Errorf("%s: %q, want prefix %q", c.name, got, c.prefix)
		}
	}
	if got := StallReason(cases[1].ti, true, false, 0); !strings.Contains(got, "RTO 1.63s") || !strings.Contains(got, "last ACK 2500 ms") {
		t.Errorf("black hole evidence: %q", got)
	}
}

// A receiver whose kernel took data after the application last read any is
// not reading (stopped, or starved of CPU): it is not "no data arriving",
// which would blame the sender or the path.
func TestStallReasonReceiverNotReading(t *testing.T) {
	ti := sysctl.TCPInfo{Known: sysctl.AllFields, RcvWnd: 65535, LastDataRecv: 76}
	got := StallReason(ti, false, true, 1200*time.Millisecond)
	if !strings.HasPrefix(got, "not reading") || !strings.Contains(got, "76 ms ago") || !strings.Contains(got, "1.2s") {
		t.Errorf("data 76 ms ago, nothing read for 1.2 s: %q", got)
	}
	if strings.Contains(got, "sender stopped") || strings.Contains(fixFor(got), "sender") {
		t.Errorf("blames the sender: %q / %q", got, fixFor(got))
	}
	// The last data came before the application's last read: nothing new
	// arrived, so the sender or the path is at fault.
	if got := StallReason(sysctl.TCPInfo{Known: sysctl.AllFields, RcvWnd: 65535, LastDataRecv: 1500}, false, true, 1200*time.Millisecond); !strings.HasPrefix(got, "no data arriving") {
		t.Errorf("data 1.5 s ago, idle 1.2 s: %q", got)
	}
	// Without the idle time the rule cannot tell, and does not guess.
	if got := StallReason(ti, false, true, 0); !strings.HasPrefix(got, "no data arriving") {
		t.Errorf("idle unknown: %q", got)
	}
}

// Streams of the other direction say nothing about this direction's path: a
// retransmitting sender whose own direction has no moving stream is a black
// hole, not a shared bottleneck.
func TestStallReasonBottleneckNeedsSameDirection(t *testing.T) {
	ti := sysctl.TCPInfo{Known: sysctl.AllFields, SndWnd: 65535, Backoff: 4, CAState: caLoss, SndCwnd: 1, Lost: 11}
	if got := StallReason(ti, true, false, 3*time.Second); !strings.HasPrefix(got, "retransmission timeouts") {
		t.Errorf("no same-direction stream moves: %q", got)
	}
	if got := StallReason(ti, true, true, 3*time.Second); !strings.HasPrefix(got, "bottleneck") || !strings.Contains(got, "in this direction") {
		t.Errorf("same-direction streams move: %q", got)
	}
}

// Fixes for a stall never tell the user to change -w: whether -w was given
// is not known there; the receive-buffer advice names the sysctls.
func TestStallFixesDoNotMentionW(t *testing.T) {
	for _, r := range []string{"peer window 0: x", "retransmission timeouts: x", "bottleneck: x", "no data arriving: x", "local window 0: x", "not reading: x", "sender idle: x", "local drops: x"} {
		if fix := fixFor(r); strings.Contains(fix, "-w") {
			t.Errorf("%q: fix mentions -w: %q", r, fix)
		}
	}
}

func TestStalledDirection(t *testing.T) {
	f := Stalled([]StalledStream{{ID: 7, Reason: "retransmission timeouts: x"}, {ID: 2, Reason: "retransmission timeouts: x"}}, 4, DirUp)
	check(t, "up", f, want{kind: KindStalled, severity: Warning, contains: []string{"2 of 4 ↑ streams stalled"}})
	if f.Direction != DirUp || len(f.Streams) != 2 || f.Streams[0] != 2 || f.Streams[1] != 7 {
		t.Errorf("direction %v streams %v, want ↑ [2 7]", f.Direction, f.Streams)
	}
}

func TestStalled(t *testing.T) {
	check(t, "none", Stalled(nil, 8, DirAny), want{none: true})
	f := Stalled([]StalledStream{
		{ID: 3, Reason: "retransmission timeouts: loss (backoff 3)"},
		{ID: 1, Reason: "retransmission timeouts: loss (backoff 2)"},
		{ID: 4, Reason: "peer window 0: the receiver is not reading"},
	}, 8, DirAny)
	check(t, "mixed", f, want{kind: KindStalled, severity: Warning, contains: []string{"3 of 8 streams stalled", "retransmission timeouts: streams 1,3", "peer window 0: streams 4", "ping, mtr"}})
	many := make([]StalledStream, 20)
	for i := range many {
		many[i] = StalledStream{ID: i + 1, Reason: "bottleneck: x"}
	}
	check(t, "many", Stalled(many, 100, DirAny), want{kind: KindStalled, severity: Warning, contains: []string{"20 of 100", "… 12 more", "fewer flows"}})
}

func TestAllStalled(t *testing.T) {
	check(t, "all", AllStalled(4, 3*time.Second, "retransmission timeouts: loss"), want{kind: KindAllStalled, severity: Critical, contains: []string{"all 4 streams stalled for 3s", "retransmission timeouts", "ping"}})
	// The watchdog names the stream it looked at; the fix still follows.
	check(t, "named stream", AllStalled(2, time.Second, "stream 3: peer window 0: the receiver is not reading"), want{kind: KindAllStalled, severity: Critical, contains: []string{"receiving host is not keeping up"}})
	// Every reason gets a fix, so the text line always ends with one.
	for _, r := range []string{"no data arriving: x", "no datagrams arriving: x", "local window 0: x", "sender idle: x", "no progress (x)"} {
		if f := AllStalled(1, time.Second, r); f.Fix == "" {
			t.Errorf("%q: no fix", r)
		}
	}
}

func TestRwndLimited(t *testing.T) {
	check(t, "not limited", RwndLimited([]RwndShare{{ID: 1, RwndLimited: 100 * time.Millisecond, Busy: 2 * time.Second}}, 0), want{none: true})
	check(t, "too short", RwndLimited([]RwndShare{{ID: 1, RwndLimited: 50 * time.Millisecond, Busy: 60 * time.Millisecond}}, 0), want{none: true})
	check(t, "limited", RwndLimited([]RwndShare{
		{ID: 1, RwndLimited: 1188 * time.Millisecond, Busy: 2008 * time.Millisecond},
		{ID: 3, RwndLimited: 0, Busy: 2 * time.Second},
	}, 32768), want{kind: KindRwndLimited, severity: Warning, contains: []string{"1 of 2 sending streams", "59%", "streams 1", "larger -w than 32768"}})
	check(t, "autotuned", RwndLimited([]RwndShare{{ID: 1, RwndLimited: time.Second, Busy: time.Second}}, 0), want{kind: KindRwndLimited, severity: Warning, contains: []string{"tcp_rmem"}})
}

func TestRoleMismatch(t *testing.T) {
	check(t, "none", RoleMismatch(StockServer, nil), want{none: true})
	check(t, "stock server", RoleMismatch(StockServer, []int{4, 1}), want{kind: KindRoleMismatch, severity: Critical, contains: []string{"accept order", "streams 1,4", "run flowscope on the server"}})
	check(t, "stock client", RoleMismatch(StockClient, []int{3}), want{kind: KindRoleMismatch, severity: Critical, contains: []string{"connect order", "streams 3", "run flowscope as the client"}})
	for _, p := range []BidirPeer{StockServer, StockClient} {
		if f := RoleMismatch(p, []int{1}); strings.Contains(f.Fix, "one at a time") {
			t.Errorf("fix %q: stock iperf3 still assigns roles by order", f.Fix)
		}
	}
}

func TestMispaired(t *testing.T) {
	check(t, "none", Mispaired(nil, 1), want{none: true})
	check(t, "mispaired", Mispaired([]int{5, 3}, 131072), want{kind: KindMispaired, severity: Warning, contains: []string{"streams 3,5", "131072", "direction totals"}})
}

func TestFindingString(t *testing.T) {
	f := Finding{Severity: Warning, Kind: "k", What: "w", Evidence: "e", Fix: "f"}
	if got := f.String(); got != "warning: w (e). Fix: f" {
		t.Errorf("%q", got)
	}
	f.Evidence, f.Fix = "", ""
	if got := f.String(); got != "warning: w." {
		t.Errorf("%q", got)
	}
}
