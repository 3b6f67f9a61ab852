package engine

import (
	"sync/atomic"

	"github.com/flowscope/flowscope/wire"
)

// The sender-view extension: each interval a flowscope server tells its
// flowscope client, per stream, what its side sees — the sender kernel's
// TCP_INFO for the streams it sends, the receiver's counts for the UDP
// streams it receives, and its verdict on any stream it finds stalled or
// failed — in the interval's telemetry message. The client hangs the
// latest view of each stream on its samples (StreamSample.Peer), so a
// receiving client is not blind.

// maxPeerViews bounds the streams one telemetry message describes; beyond
// it, streams with a problem go first and the rest take turns, so a 10,000
// stream test's message stays near 100 KiB.
const maxPeerViews = 1000

// peerViews builds the views of smp's streams for the peer, at most
// maxPeerViews of them: streams with a problem first, then the others in
// turn from *next (which it advances).
func peerViews(smp *Sample, next *int) []wire.StreamView {
	n := len(smp.Streams)
	out := make([]wire.StreamView, 0, min(n, maxPeerViews))
	for i := range smp.Streams {
		if ss := &smp.Streams[i]; ss.State == StateStalled || ss.State == StateFailed {
			if v, ok := viewOf(ss); ok && len(out) < maxPeerViews {
				out = append(out, v)
			}
		}
	}
	for k := 0; k < n && len(out) < maxPeerViews; k++ {
		ss := &smp.Streams[(*next+k)%n]
		if ss.State == StateStalled || ss.State == StateFailed {
			continue // already there
		}
		if v, ok := viewOf(ss); ok {
			out = append(out, v)
		}
		if len(out) == maxPeerViews && n > 0 {
			*next = (*next + k + 1) % n
		}
	}
	return out
}

// viewOf is what the peer learns of ss: a sender's TCP_INFO, a UDP
// receiver's counts, and a problem's reason; false when there is nothing
// the peer lacks (a TCP stream this side receives, running normally).
func viewOf(ss *StreamSample) (wire.StreamView, bool) {
	v := wire.StreamView{ID: ss.ID, State: ss.State.String(), Reason: ss.Reason}
	if ss.State == StateFailed && v.Reason == "" {
		v.Reason = ss.Err
	}
	useful := v.Reason != ""
	if t := &ss.TCP; ss.Dir == Send && t.Valid {
		v.TCP = &wire.TCPView{Retransmits: t.Retransmits, Cwnd: t.SndCwnd, SndWnd: t.SndWnd, RTT: t.RTT, RTTVar: t.RTTVar,
			RTO: t.RTO, Backoff: t.Backoff, CAState: t.CAState, Unacked: t.Unacked, NotSent: t.NotSent, Lost: t.Lost,
			Delivery: t.DeliveryRate, Busy: t.BusyTime, RwndLimited: t.RwndLimited, SndbufLimited: t.SndbufLimited}
		useful = true
	}
	if u := ss.UDP; ss.Dir == Recv && u != nil {
		v.UDP = &wire.UDPView{Packets: u.Packets, Lost: u.Lost, OutOfOrder: u.OutOfOrder, Duplicates: u.Duplicates, Jitter: u.Jitter}
		useful = true
	}
	return v, useful
}

// peerTable holds the latest view of each stream the peer reported. The
// telemetry reader stores a new map; the sampler reads one map per sample.
type peerTable struct {
	views atomic.Pointer[map[int]*PeerView]
}

// update merges a telemetry message's views into the table.
func (t *peerTable) update(vs []wire.StreamView) {
	if len(vs) == 0 {
		return
	}
	old := t.views.Load()
	m := make(map[int]*PeerView, len(vs))
	if old != nil {
		for id, v := range *old {
			m[id] = v
		}
	}
	for i := range vs {
		m[vs[i].ID] = fromView(&vs[i])
	}
	t.views.Store(&m)
}

// snapshot returns the current views (nil when the peer reported none).
func (t *peerTable) snapshot() map[int]*PeerView {
	if t == nil {
		return nil
	}
	if m := t.views.Load(); m != nil {
		return *m
	}
	return nil
}

func fromView(v *wire.StreamView) *PeerView {
	p := &PeerView{State: parseState(v.State), Reason: v.Reason}
	if t := v.TCP; t != nil {
		p.TCP = TCPStats{Valid: true, Retransmits: t.Retransmits, SndCwnd: t.Cwnd, SndWnd: t.SndWnd, RTT: t.RTT, RTTVar: t.RTTVar,
			RTO: t.RTO, Backoff: t.Backoff, CAState: t.CAState, Unacked: t.Unacked, NotSent: t.NotSent, Lost: t.Lost,
			DeliveryRate: t.Delivery, BusyTime: t.Busy, RwndLimited: t.RwndLimited, SndbufLimited: t.SndbufLimited}
	}
	if u := v.UDP; u != nil {
		p.UDP = &UDPStats{Packets: u.Packets, Lost: u.Lost, OutOfOrder: u.OutOfOrder, Duplicates: u.Duplicates, Jitter: u.Jitter}
	}
	return p
}

// parseState reads a StreamState from its String form (running for
// anything unknown).
func parseState(s string) StreamState {
	for st := StateConnecting; st <= StateFailed; st++ {
		if st.String() == s {
			return st
		}
	}
	return StateRunning
}
