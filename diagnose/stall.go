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
// tells which end this socket is; sameDirMoving whether other streams of
// the same test in the same direction (so on the same path) still make
// progress: a shared bottleneck rather than a dead path. Streams of the
// other direction say nothing about this one's path. idle is how long the
// application counted no bytes on the socket (0: not known). The reason
// starts with a short stable phrase ("peer window 0", "retransmission
// timeouts", "bottleneck", "not reading", …) followed by the numbers.
func StallReason(ti sysctl.TCPInfo, sending, sameDirMoving bool, idle time.Duration) string {
	// A rule looks only at fields this OS reported (ti.Known): a zero it
	// did not fill would read as a closed window or an idle sender.
	rto := time.Duration(ti.RTO) * time.Microsecond
	if !sending {
		lastData := time.Duration(ti.LastDataRecv) * time.Millisecond
		hasLast := ti.Has(sysctl.FieldLastDataRecv) && ti.LastDataRecv > 0
		switch {
		case ti.Has(sysctl.FieldRcvWnd) && ti.RcvWnd == 0:
			return "local window 0: this side is not reading fast enough"
		case idle > 0 && hasLast && lastData < idle:
			// The kernel took data after the application last counted
			// any: the data is there, this process did not read it.
			return fmt.Sprintf("not reading: data arrived %d ms ago but none was read for %s; this process is stopped or short of CPU", ti.LastDataRecv, roundDur(idle))
		case hasLast:
			return fmt.Sprintf("no data arriving: last data %d ms ago; the sender stopped or the path is down", ti.LastDataRecv)
		}
		return "no data arriving"
	}
	const rtoState = sysctl.FieldBackoff | sysctl.FieldRetransmits | sysctl.FieldCAState
	const queues = sysctl.FieldUnacked | sysctl.FieldNotsentBytes
	switch {
	case ti.Has(sysctl.FieldSndWnd) && ti.SndWnd == 0:
		if !ti.Has(sysctl.FieldProbes | sysctl.FieldNotsentBytes) {
			return "peer window 0: the receiver is not reading"
		}
		return fmt.Sprintf("peer window 0: the receiver is not reading (zero-window probes %d, %d bytes unsent)", ti.Probes, ti.NotsentBytes)
	case ti.Has(rtoState) && (ti.Backoff > 0 || ti.Retransmits > 0 || ti.CAState == caLoss):
		ev := fmt.Sprintf("backoff %d, RTO %s, %d lost, %d RTOs", ti.Backoff, roundDur(rto), ti.Lost, ti.TotalRTO)
		if sameDirMoving {
			return "bottleneck: retransmission timeouts while other streams in this direction move, RTO backoff at a shared bottleneck (" + ev + ")"
		}
		return fmt.Sprintf("retransmission timeouts: loss or a black hole on the path (%s, last ACK %d ms ago)", ev, ti.LastAckRecv)
	case ti.Has(sysctl.FieldCAState|queues) && ti.CAState == caCWR && ti.Unacked == 0 && ti.NotsentBytes > 0:
		return fmt.Sprintf("local drops: the sender's own queue discipline drops packets (CWR, %d bytes unsent)", ti.NotsentBytes)
	case ti.Has(queues) && ti.Unacked == 0 && ti.NotsentBytes == 0:
		return "sender idle: nothing written (the sending process got no CPU time?)"
	case ti.Has(queues|sysctl.FieldSndCwnd) && ti.Unacked < ti.SndCwnd && ti.NotsentBytes == 0:
		return fmt.Sprintf("send buffer: limited by SO_SNDBUF (unacked %d < cwnd %d)", ti.Unacked, ti.SndCwnd)
	}
	var ev []string
	if ti.Has(sysctl.FieldSndCwnd) {
		ev = append(ev, fmt.Sprintf("cwnd %d", ti.SndCwnd))
	}
	if ti.Has(sysctl.FieldUnacked) {
		ev = append(ev, fmt.Sprintf("unacked %d", ti.Unacked))
	}
	if ti.Has(sysctl.FieldRTO) {
		ev = append(ev, "RTO "+roundDur(rto).String())
	}
	if len(ev) == 0 {
		return "no progress"
	}
	return "no progress (" + strings.Join(ev, ", ") + ")"
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

// Stalled summarises the streams of one direction that are stalled right
// now; total is how many streams run in that direction. The finding names
// the direction and lists the stalled ids in Streams.
func Stalled(stalled []StalledStream, total int, dir Direction) *Finding {
	if len(stalled) == 0 {
		return nil
	}
	ids := make([]int, len(stalled))
	for i, s := range stalled {
		ids[i] = s.ID
	}
	sort.Ints(ids)
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
		group := byReason[k]
		sort.Ints(group)
		ev = append(ev, fmt.Sprintf("%s: %s", k, idList(group)))
	}
	what := fmt.Sprintf("%d of %d streams stalled", len(stalled), total)
	if a := dir.Arrow(); a != "" {
		what = fmt.Sprintf("%d of %d %s streams stalled", len(stalled), total, a)
	}
	f := &Finding{
		Severity:  Warning,
		Kind:      KindStalled,
		What:      what,
		Evidence:  strings.Join(ev, "; ") + "; first: stream " + fmt.Sprint(stalled[0].ID) + ": " + stalled[0].Reason,
		Direction: dir,
		Streams:   ids,
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
		return "the receiving host is not keeping up: check its CPU (top) and its receive buffer limits (net.core.rmem_max, net.ipv4.tcp_rmem)"
	case strings.HasPrefix(reason, "retransmission timeouts"):
		return "check the path for loss or a black hole: ping, mtr, firewall and routing between the hosts"
	case strings.HasPrefix(reason, "bottleneck"):
		return "the path is shared and saturated in this direction: fewer flows (-P) or a rate per flow (-b) show its fair share"
	case strings.HasPrefix(reason, "send buffer"):
		return "raise the send buffer: -w, net.core.wmem_max and net.ipv4.tcp_wmem"
	case strings.HasPrefix(reason, "local drops"):
		return "the sender's qdisc drops packets: check tc -s qdisc on its interface"
	case strings.HasPrefix(reason, "no data arriving"), strings.HasPrefix(reason, "no datagrams arriving"):
		return "check that the sender still runs and the path still delivers (ping, mtr); its own diagnosis says more"
	case strings.HasPrefix(reason, "not reading"):
		return "the receiving process is stopped or starved of CPU: check it is running (kill -CONT) and its CPU load (top, nice)"
	case strings.HasPrefix(reason, "local window 0"):
		return "this host reads too slowly: check its CPU load (top) or use fewer streams (-P)"
	case strings.HasPrefix(reason, "sender idle"):
		return "the sending host is short of CPU: check top, or use fewer streams (-P)"
	}
	return "look at the stream's TCP state: " + local.socketsCmd()
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
	fix := "the receiver does not read fast enough or its buffer is capped: check its CPU (top), and raise net.core.rmem_max and net.ipv4.tcp_rmem on the receiver"
	if window > 0 {
		fix = fmt.Sprintf("a larger -w than %d (and net.core.rmem_max on the receiver), or no -w so the kernel autotunes", window)
	}
	return &Finding{
		Streams:  ids,
		Severity: Warning,
		Kind:     KindRwndLimited,
		What:     fmt.Sprintf("%d of %d sending streams were limited by the receiver's window", len(ids), len(shares)),
		Evidence: fmt.Sprintf("up to %.0f%% of busy time rwnd-limited; %s", worst*100, idList(ids)),
		Fix:      fix,
	}
}
