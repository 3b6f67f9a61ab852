package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flowscope/flowscope/sysctl"
)

// TCP congestion-avoidance states (tcpi_ca_state).
const (
	caOpen     = 0
	caDisorder = 1
	caCWR      = 2
	caRecovery = 3
	caLoss     = 4
)

// StallReason says why a socket moved no data, from its TCP_INFO. sending
// tells which end this socket is; othersMoving whether other streams of the
// same test still make progress (a shared bottleneck rather than a dead
// path). The reason starts with a short stable phrase ("peer window 0",
// "retransmission timeouts", "bottleneck", "send buffer", …) followed by
// the numbers.
func StallReason(ti sysctl.TCPInfo, sending, othersMoving bool) string {
	rto := time.Duration(ti.RTO) * time.Microsecond
	if !sending {
		switch {
		case ti.RcvWnd == 0:
			return "local window 0: this side is not reading fast enough"
		case ti.LastDataRecv > 0:
			return fmt.Sprintf("no data arriving: last data %d ms ago; the sender stopped or the path is down", ti.LastDataRecv)
		}
		return "no data arriving"
	}
	switch {
	case ti.SndWnd == 0:
		return fmt.Sprintf("peer window 0: the receiver is not reading (zero-window probes %d, %d bytes unsent)", ti.Probes, ti.NotsentBytes)
	case ti.Backoff > 0 || ti.Retransmits > 0 || ti.CAState == caLoss:
		ev := fmt.Sprintf("backoff %d, RTO %s, %d lost, %d RTOs", ti.Backoff, roundDur(rto), ti.Lost, ti.TotalRTO)
		if othersMoving {
			return "bottleneck: retransmission timeouts while other streams move, RTO backoff at a shared bottleneck (" + ev + ")"
		}
		return fmt.Sprintf("retransmission timeouts: loss or a black hole on the path (%s, last ACK %d ms ago)", ev, ti.LastAckRecv)
	case ti.CAState == caCWR && ti.Unacked == 0 && ti.NotsentBytes > 0:
		return fmt.Sprintf("local drops: the sender's own queue discipline drops packets (CWR, %d bytes unsent)", ti.NotsentBytes)
	case ti.Unacked == 0 && ti.NotsentBytes == 0:
		return "sender idle: nothing written (the sending process got no CPU time?)"
	case ti.Unacked < ti.SndCwnd && ti.NotsentBytes == 0:
		return fmt.Sprintf("send buffer: limited by SO_SNDBUF (unacked %d < cwnd %d)", ti.Unacked, ti.SndCwnd)
	}
	return fmt.Sprintf("no progress (cwnd %d, unacked %d, RTO %s)", ti.SndCwnd, ti.Unacked, roundDur(rto))
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d
}

// StalledStream is one stalled stream and its diagnosis.
type StalledStream struct {
	ID     int
	For    time.Duration
	Reason string
}

// Stalled summarises the streams that are stalled right now.
func Stalled(stalled []StalledStream, total int) *Finding {
	if len(stalled) == 0 {
		return nil
	}
	byReason := map[string][]int{}
	for _, s := range stalled {
		key := s.Reason
		if i := strings.IndexAny(key, ":("); i > 0 {
			key = strings.TrimSpace(key[:i])
		}
		byReason[key] = append(byReason[key], s.ID)
	}
	keys := make([]string, 0, len(byReason))
	for k := range byReason {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(byReason[keys[i]]) > len(byReason[keys[j]]) || len(byReason[keys[i]]) == len(byReason[keys[j]]) && keys[i] < keys[j]
	})
	var ev []string
	for _, k := range keys {
		ids := byReason[k]
		sort.Ints(ids)
		ev = append(ev, fmt.Sprintf("%s: %s", k, idList(ids)))
	}
	f := &Finding{
		Severity: Warning,
		Kind:     KindStalled,
		What:     fmt.Sprintf("%d of %d streams stalled", len(stalled), total),
		Evidence: strings.Join(ev, "; ") + "; first: stream " + fmt.Sprint(stalled[0].ID) + ": " + stalled[0].Reason,
	}
	f.Fix = fixFor(keys[0])
	return f
}

// fixFor suggests what to do about the most common stall reason.
func fixFor(reason string) string {
	if i := strings.Index(reason, ": "); strings.HasPrefix(reason, "stream ") && i > 0 {
		reason = reason[i+2:] // "stream 3: <reason>"
	}
	switch {
	case strings.HasPrefix(reason, "peer window 0"):
		return "the receiving host is not keeping up: check its CPU (top) and its receive buffer (-w, net.core.rmem_max)"
	case strings.HasPrefix(reason, "retransmission timeouts"):
		return "check the path for loss or a black hole: ping, mtr, firewall and routing between the hosts"
	case strings.HasPrefix(reason, "bottleneck"):
		return "the path is shared and saturated: fewer flows (-P) or a rate per flow (-b) show its fair share"
	case strings.HasPrefix(reason, "send buffer"):
		return "raise the send buffer: -w, net.core.wmem_max and net.ipv4.tcp_wmem"
	case strings.HasPrefix(reason, "local drops"):
		return "the sender's qdisc drops packets: check tc -s qdisc on its interface"
	case strings.HasPrefix(reason, "no data arriving"), strings.HasPrefix(reason, "no datagrams arriving"):
		return "check that the sender still runs and the path still delivers (ping, mtr); its own diagnosis says more"
	case strings.HasPrefix(reason, "local window 0"):
		return "this host reads too slowly: check its CPU load (top) or use fewer streams (-P)"
	case strings.HasPrefix(reason, "sender idle"):
		return "the sending host is short of CPU: check top, or use fewer streams (-P)"
	}
	return "look at the stream's TCP state: ss -tin"
}

func idList(ids []int) string {
	const most = 8
	parts := make([]string, 0, most+1)
	for i, id := range ids {
		if i == most {
			parts = append(parts, fmt.Sprintf("… %d more", len(ids)-most))
			break
		}
		parts = append(parts, fmt.Sprint(id))
	}
	return "streams " + strings.Join(parts, ",")
}

// AllStalled is the critical finding for a test ended because no stream
// moved a byte for timeout.
func AllStalled(streams int, timeout time.Duration, reason string) *Finding {
	return &Finding{
		Severity: Critical,
		Kind:     KindAllStalled,
		What:     fmt.Sprintf("all %d streams stalled for %s; the test was ended", streams, timeout),
		Evidence: reason,
		Fix:      fixFor(reason),
	}
}

// RwndShare is one sending stream's time limited by the receiver's window.
type RwndShare struct {
	ID          int
	RwndLimited time.Duration
	Busy        time.Duration
}

// RwndLimited reports sending streams that spent most of their busy time
// waiting for the receiver's window.
func RwndLimited(shares []RwndShare, window int64) *Finding {
	var ids []int
	var worst float64
	for _, s := range shares {
		if s.Busy < 100*time.Millisecond {
			continue
		}
		frac := float64(s.RwndLimited) / float64(s.Busy)
		if frac >= 0.5 {
			ids = append(ids, s.ID)
			worst = max(worst, frac)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Ints(ids)
	fix := "let the receiver's buffer autotune (no -w), or raise net.core.rmem_max and net.ipv4.tcp_rmem on the receiver"
	if window > 0 {
		fix = fmt.Sprintf("a larger -w than %d (and net.core.rmem_max on the receiver), or no -w so the kernel autotunes", window)
	}
	return &Finding{
		Severity: Warning,
		Kind:     KindRwndLimited,
		What:     fmt.Sprintf("%d of %d sending streams were limited by the receiver's window", len(ids), len(shares)),
		Evidence: fmt.Sprintf("up to %.0f%% of busy time rwnd-limited; %s", worst*100, idList(ids)),
		Fix:      fix,
	}
}

// RoleMismatch reports data arriving on sockets this side only sends on:
// in --bidir against a stock iperf3 server, the server assigned roles by
// accept order and got them wrong (esnet/iperf#2029).
func RoleMismatch(ids []int) *Finding {
	if len(ids) == 0 {
		return nil
	}
	sort.Ints(ids)
	return &Finding{
		Severity: Critical,
		Kind:     KindRoleMismatch,
		What:     "data is arriving on streams this client only sends on: the stock iperf3 server assigned sender and receiver roles by accept order and swapped them",
		Evidence: idList(ids),
		Fix:      "run a flowscope server (its streams declare their roles), or retry; iperf3 after 3.21 connects streams one at a time",
	}
}
