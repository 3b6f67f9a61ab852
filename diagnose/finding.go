// Package diagnose turns kernel readings into findings: what happened, the
// numbers that show it, and the exact fix. Every rule is a pure function of
// its readings, so each is tested with a table.
package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Severity ranks a Finding.
type Severity uint8

const (
	// Info is worth knowing.
	Info Severity = iota
	// Warning probably distorts the measurement.
	Warning
	// Critical made part of the test fail.
	Critical
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	}
	return "critical"
}

// Finding is one diagnosis.
type Finding struct {
	Severity Severity
	// Kind is a stable identifier, e.g. "listen-overflow".
	Kind string
	// What happened, in one sentence.
	What string
	// Evidence: the numbers that show it.
	Evidence string
	// Fix: the exact command or flag, empty when there is none.
	Fix string
	// Origin is the end of the test that made the finding: OriginClient,
	// OriginServer, or "" before the engine has placed it.
	Origin Origin
	// Direction is the way the data it concerns flows (DirAny: the test as
	// a whole).
	Direction Direction
	// Streams are the ids of the streams it concerns, ascending; empty for
	// the test as a whole.
	Streams []int
	// Span is when it held (see Timeline).
	Span Span
}

// Origin is the end of a test that made a finding.
type Origin string

// Origins.
const (
	OriginClient Origin = "client"
	OriginServer Origin = "server"
)

// Headline is What as the viewer's end of the test shows it: with the end
// that made the finding in front when that is the other end ("server: …"
// on a client).
func (f Finding) Headline(viewer Origin) string {
	if f.Origin == "" || f.Origin == viewer {
		return f.What
	}
	return string(f.Origin) + ": " + f.What
}

// String renders the finding as one line:
// "warning: what (evidence). Fix: fix".
func (f Finding) String() string { return f.line(f.What) }

// StringFor is String with the Headline for viewer.
func (f Finding) StringFor(viewer Origin) string { return f.line(f.Headline(viewer)) }

func (f Finding) line(what string) string {
	var b strings.Builder
	b.WriteString(f.Severity.String())
	b.WriteString(": ")
	b.WriteString(what)
	if f.Evidence != "" {
		b.WriteString(" (")
		b.WriteString(f.Evidence)
		b.WriteString(")")
	}
	b.WriteString(".")
	if f.Fix != "" {
		b.WriteString(" Fix: ")
		b.WriteString(f.Fix)
	}
	return b.String()
}

// Finding kinds.
const (
	KindBacklogSmall   = "backlog-small"
	KindFDLimit        = "fd-limit"
	KindEphemeralPorts = "ephemeral-ports"
	KindWindowClamped  = "window-clamped"
	KindListenOverflow = "listen-overflow"
	KindSlowConnect    = "slow-connect"
	KindSetupFailed    = "setup-failed"
	KindStalled        = "stalled"
	KindAllStalled     = "all-stalled"
	KindRwndLimited    = "rwnd-limited"
	KindRoleMismatch   = "bidir-role-mismatch"
)

// BacklogSmall warns when more data connections arrive at once (burst:
// the client's connect concurrency, capped by the stream count) than the
// server's listen backlog holds; the backlog is capped by somaxconn
// (net.core.somaxconn on Linux, kern.ipc.somaxconn on the BSDs).
func BacklogSmall(burst int, backlog int64) *Finding {
	if backlog <= 0 || int64(burst) <= backlog {
		return nil
	}
	return &Finding{
		Severity: Warning,
		Kind:     KindBacklogSmall,
		What:     fmt.Sprintf("%d data connections dialled at once exceed the server's listen backlog of %d: its accept queue can overflow and connects then wait for SYN retransmits", burst, backlog),
		Evidence: fmt.Sprintf("backlog %d = somaxconn", backlog),
		Fix:      fmt.Sprintf("on the server: %s (then restart the server), or --connect-concurrency %d here", somaxconnFix, backlog),
	}
}

// FDLimit warns when the process will need more file descriptors than its
// soft RLIMIT_NOFILE allows. perStream is 2 when both ends run in this
// process (loopback mode).
func FDLimit(streams, perStream int, soft, hard int64) *Finding {
	need := int64(streams*perStream) + 32
	if soft <= 0 || need <= soft*9/10 {
		return nil
	}
	f := &Finding{
		Kind:     KindFDLimit,
		What:     fmt.Sprintf("%d streams need about %d file descriptors, near or above this process's limit of %d", streams, need, soft),
		Evidence: fmt.Sprintf("RLIMIT_NOFILE soft %d, hard %d", soft, hard),
		Fix:      local.fdFix(max(need*2, 1024)),
	}
	f.Severity = Warning
	if need > soft {
		f.Severity = Critical
	}
	return f
}

// EphemeralPorts warns when one destination needs more local ports than the
// ephemeral range has.
func EphemeralPorts(streams int, ports int64) *Finding {
	if ports <= 0 || int64(streams)+1 <= ports*9/10 {
		return nil
	}
	return &Finding{
		Severity: Critical,
		Kind:     KindEphemeralPorts,
		What:     fmt.Sprintf("%d connections to one server need nearly all of the %d local ports: connects will fail with EADDRNOTAVAIL", streams+1, ports),
		Evidence: fmt.Sprintf("%s holds %d ports", local.portRange(), ports),
		Fix:      local.portRangeFix() + ", or spread flows over several server ports or addresses",
	}
}

// WindowClamped warns when -w asks for more than the kernel grants: Linux
// silently caps SO_RCVBUF/SO_SNDBUF at rmem_max/wmem_max, the BSDs refuse
// sizes above kern.ipc.maxsockbuf.
func WindowClamped(window, rmemMax, wmemMax int64) *Finding {
	if window <= 0 || (rmemMax <= 0 && wmemMax <= 0) {
		return nil
	}
	var over []string
	if rmemMax > 0 && window > rmemMax {
		over = append(over, fmt.Sprintf("%s %d", local.n.RmemMax, rmemMax))
	}
	if wmemMax > 0 && window > wmemMax && local.n.WmemMax != local.n.RmemMax {
		over = append(over, fmt.Sprintf("%s %d", local.n.WmemMax, wmemMax))
	}
	if len(over) == 0 {
		return nil
	}
	what := fmt.Sprintf("-w %d is above what the kernel grants; the socket buffers were silently capped", window)
	if local.n.RmemMax == local.n.WmemMax {
		what = fmt.Sprintf("-w %d is above what the kernel grants; it refuses socket buffers that large", window)
	}
	return &Finding{
		Severity: Warning,
		Kind:     KindWindowClamped,
		What:     what,
		Evidence: strings.Join(over, ", "),
		Fix:      local.bufferFix(window),
	}
}

// ListenOverflow explains accept-queue overflows seen during setup. delta
// holds counter increases over the setup ("TcpExt.ListenOverflows", …).
func ListenOverflow(delta map[string]int64, backlog int64) *Finding {
	ov := delta["TcpExt.ListenOverflows"]
	drops := delta["TcpExt.ListenDrops"]
	if ov <= 0 && drops <= 0 {
		return nil
	}
	ev := []string{fmt.Sprintf("ListenOverflows +%d", ov)}
	if drops > ov {
		ev = append(ev, fmt.Sprintf("ListenDrops +%d", drops))
	}
	for _, k := range []string{"TcpExt.TCPReqQFullDrop", "TcpExt.SyncookiesSent", "TcpExt.EmbryonicRsts"} {
		if d := delta[k]; d > 0 {
			ev = append(ev, fmt.Sprintf("%s +%d", strings.TrimPrefix(k, "TcpExt."), d))
		}
	}
	if backlog > 0 {
		ev = append(ev, fmt.Sprintf("backlog %d = net.core.somaxconn", backlog)) // the counters are Linux's
	}
	return &Finding{
		Severity: Warning,
		Kind:     KindListenOverflow,
		What:     "the server's accept queue overflowed during setup: connections waited for SYN retransmits (1 s, 3 s, …)",
		Evidence: strings.Join(ev, ", "),
		Fix:      "on the server: " + somaxconnFix,
	}
}

// SlowConnects reports connections that needed a second or more: the SYN
// or the handshake's last ACK was dropped and retransmitted. overflow is
// the server's ListenOverflows increase, when known (-1 otherwise).
func SlowConnects(times []time.Duration, overflow, backlog int64) *Finding {
	slow := 0
	var worst time.Duration
	for _, t := range times {
		if t >= time.Second {
			slow++
		}
		worst = max(worst, t)
	}
	if slow == 0 {
		return nil
	}
	f := &Finding{
		Severity: Warning,
		Kind:     KindSlowConnect,
		What:     fmt.Sprintf("%d of %d connections needed ≥1 s to connect (SYN retransmits)", slow, len(times)),
		Evidence: fmt.Sprintf("slowest %.1f s", worst.Seconds()),
	}
	if overflow > 0 {
		f.What += ": the server's accept queue overflowed"
		f.Evidence += fmt.Sprintf(", ListenOverflows +%d", overflow)
		if backlog > 0 {
			f.Evidence += fmt.Sprintf(", backlog %d = somaxconn", backlog)
		}
		f.Fix = "on the server: " + somaxconnFix
	} else {
		f.Fix = "check the server's accept queue (" + acceptQueueCmd + ") and packet loss on the path"
	}
	return f
}

// SetupFailed explains data connections that could not be set up, counted
// by cause ("refused", "reset", "timed out", …).
func SetupFailed(byCause map[string]int, total int) *Finding {
	n := 0
	causes := make([]string, 0, len(byCause))
	for c, k := range byCause {
		n += k
		causes = append(causes, fmt.Sprintf("%d %s", k, c))
	}
	if n == 0 {
		return nil
	}
	sort.Strings(causes)
	f := &Finding{
		Severity: Critical,
		Kind:     KindSetupFailed,
		What:     fmt.Sprintf("%d of %d data connections failed", n, total),
		Evidence: strings.Join(causes, ", "),
	}
	switch {
	case byCause[CauseFDs] > 0:
		f.Fix = "ulimit -n with a higher value on this host"
	case byCause[CausePorts] > 0:
		f.Fix = local.portRangeFix()
	case byCause[CauseReset] > 0 || byCause[CauseTimeout] > 0:
		f.Fix = "on the server: " + somaxconnFix + "; on Linux check net.ipv4.tcp_abort_on_overflow"
	case byCause[CauseRefused] > 0:
		f.Fix = "check that the server is running and reachable on that port"
	}
	return f
}

// UDPSetupFailed is SetupFailed for UDP streams, whose set-up is a
// datagram and its reply: no listen backlog is involved, so a lost reply
// points at the path or the server's UDP port, not at somaxconn.
func UDPSetupFailed(byCause map[string]int, total int) *Finding {
	f := SetupFailed(byCause, total)
	if f == nil {
		return nil
	}
	f.What = fmt.Sprintf("%d of %d UDP streams could not be set up", sumCounts(byCause), total)
	switch {
	case byCause[CauseFDs] > 0, byCause[CausePorts] > 0:
	case byCause[CauseTimeout] > 0 || byCause[CauseReset] > 0:
		f.Fix = "check that UDP reaches the server's port (a firewall that passes the TCP control connection may drop UDP) and that no other program answers on it"
	case byCause[CauseRefused] > 0:
		f.Fix = "check that the server is running and that UDP to its port is not refused on the way"
	}
	return f
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, k := range m {
		n += k
	}
	return n
}

// Setup failure causes.
const (
	CauseRefused = "refused"
	CauseReset   = "reset"
	CauseTimeout = "timed out"
	CausePorts   = "out of local ports (EADDRNOTAVAIL)"
	CauseFDs     = "out of file descriptors (EMFILE)"
	CauseOther   = "other"
)
