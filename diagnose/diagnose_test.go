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

func TestStallReason(t *testing.T) {
	cases := []struct {
		name            string
		ti              sysctl.TCPInfo
		sending, others bool
		prefix          string
	}{
		{"zero window", sysctl.TCPInfo{SndWnd: 0, Probes: 2, Unacked: 0, SndCwnd: 10, NotsentBytes: 4096}, true, true, "peer window 0"},
		{"black hole", sysctl.TCPInfo{SndWnd: 65535, Backoff: 3, Retransmits: 3, CAState: caLoss, RTO: 1_630_000, Lost: 1, LastAckRecv: 2500}, true, false, "retransmission timeouts"},
		{"shared bottleneck", sysctl.TCPInfo{SndWnd: 65535, Backoff: 4, CAState: caLoss, SndCwnd: 1, Lost: 11}, true, true, "bottleneck"},
		{"local drops", sysctl.TCPInfo{SndWnd: 65535, CAState: caCWR, Unacked: 0, NotsentBytes: 1300000}, true, true, "local drops"},
		{"idle sender", sysctl.TCPInfo{SndWnd: 65535, Unacked: 0, NotsentBytes: 0, SndCwnd: 10}, true, true, "sender idle"},
		{"send buffer", sysctl.TCPInfo{SndWnd: 65535, Unacked: 5, SndCwnd: 14, NotsentBytes: 0}, true, true, "send buffer"},
		{"other", sysctl.TCPInfo{SndWnd: 65535, Unacked: 14, SndCwnd: 14, NotsentBytes: 10}, true, true, "no progress"},
		{"receiver, no data", sysctl.TCPInfo{RcvWnd: 65535, LastDataRecv: 1500}, false, true, "no data arriving"},
		{"receiver, own window 0", sysctl.TCPInfo{RcvWnd: 0}, false, true, "local window 0"},
	}
	for _, c := range cases {
		got := StallReason(c.ti, c.sending, c.others)
		if !strings.HasPrefix(got, c.prefix) {
			t.Errorf("%s: %q, want prefix %q", c.name, got, c.prefix)
		}
	}
	if got := StallReason(cases[1].ti, true, false); !strings.Contains(got, "RTO 1.63s") || !strings.Contains(got, "last ACK 2500 ms") {
		t.Errorf("black hole evidence: %q", got)
	}
}

func TestStalled(t *testing.T) {
	check(t, "none", Stalled(nil, 8), want{none: true})
	f := Stalled([]StalledStream{
		{ID: 3, Reason: "retransmission timeouts: loss (backoff 3)"},
		{ID: 1, Reason: "retransmission timeouts: loss (backoff 2)"},
		{ID: 4, Reason: "peer window 0: the receiver is not reading"},
	}, 8)
	check(t, "mixed", f, want{kind: KindStalled, severity: Warning, contains: []string{"3 of 8 streams stalled", "retransmission timeouts: streams 1,3", "peer window 0: streams 4", "ping, mtr"}})
	many := make([]StalledStream, 20)
	for i := range many {
		many[i] = StalledStream{ID: i + 1, Reason: "bottleneck: x"}
	}
	check(t, "many", Stalled(many, 100), want{kind: KindStalled, severity: Warning, contains: []string{"20 of 100", "… 12 more", "fewer flows"}})
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
	check(t, "none", RoleMismatch(nil), want{none: true})
	check(t, "swapped", RoleMismatch([]int{4, 1}), want{kind: KindRoleMismatch, severity: Critical, contains: []string{"accept order", "streams 1,4"}})
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
