package report

import (
	"fmt"

	"github.com/flowscope/flowscope/engine"
)

// iperf3 counts a UDP stream's datagrams differently on each end: the
// sender counts what it sent, the receiver its highest sequence number seen
// (datagrams received plus those lost), and "Lost/Total" on the receiver is
// its lost count over that total. The helpers below turn the engine's
// counts (received datagrams, lost, on either side) into iperf3's.

// isUDP reports whether a test's parameters say UDP.
func isUDP(s *engine.Start) bool { return s != nil && s.Params.Protocol == "UDP" }

// receiverTotal is iperf3's receiver-side datagram total for u: received
// plus lost (an interval's loss may be negative when late datagrams fill
// earlier gaps; the total never is).
func receiverTotal(u *engine.UDPStats) uint64 {
	if u == nil {
		return 0
	}
	return uint64(max(int64(u.Packets)+u.Lost, 0))
}

// lostPercent is 100*lost/total, 0 for an empty total, as iperf3 computes
// it (negative when an interval's loss is).
func lostPercent(lost int64, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return finite(100 * float64(lost) / float64(total))
}

// percentString formats a loss percentage as iperf3's "%.2g" does.
func percentString(p float64) string { return fmt.Sprintf("%.2g", finite(p)) }

// jitterMS converts the engine's jitter in seconds to iperf3's
// milliseconds.
func jitterMS(seconds float64) float64 { return finite(seconds * 1000) }

// udpCounts is one stream's end-of-test datagram counts as iperf3 reports
// them, whichever end this side is: the sender's count, the receiver's
// total, loss and jitter (from the peer when the peer received), and this
// side's out-of-order count.
type udpCounts struct {
	// sent is the sender's datagram count, 0 when unknown (no peer
	// results on the receiving side).
	sent uint64
	// received is the receiver's total (received + lost); lost and jitter
	// (seconds) are the receiver's.
	received   uint64
	lost       int64
	jitter     float64
	outOfOrder uint64
}

func udpResult(r *engine.StreamResult) udpCounts {
	var c udpCounts
	local := r.UDP
	if local == nil {
		local = &engine.UDPStats{}
	}
	peer := r.PeerUDP
	if r.Dir == engine.Send {
		c.sent = local.Packets
		if peer != nil {
			// The peer reports iperf3's receiver total, not datagrams received.
			c.received, c.lost, c.jitter = peer.Packets, peer.Lost, peer.Jitter
		}
		return c
	}
	c.received, c.lost, c.jitter, c.outOfOrder = receiverTotal(local), local.Lost, local.Jitter, local.OutOfOrder
	if peer != nil {
		c.sent = peer.Packets
	}
	return c
}

// packets is the single count iperf3's JSON gives a stream: the sender's
// when known, else the receiver's.
func (c udpCounts) packets() uint64 {
	if c.sent > 0 {
		return c.sent
	}
	return c.received
}

// udpGroup totals the end counts of one direction's streams.
type udpGroup struct {
	n              int
	sent, received uint64
	packets        uint64 // Σ packets(): the denominator of the loss share
	lost           int64
	jitterSum      float64
}

func (g *udpGroup) add(c udpCounts) {
	g.n++
	g.sent += c.sent
	g.received += c.received
	g.packets += c.packets()
	g.lost += c.lost
	g.jitterSum += c.jitter
}

// jitter is the streams' mean jitter in seconds, as iperf3 averages it.
func (g *udpGroup) jitter() float64 {
	if g.n == 0 {
		return 0
	}
	return finite(g.jitterSum / float64(g.n))
}

// lostPercent is the group's loss over its packets() total, as iperf3's
// [SUM] receiver line and JSON sums compute it.
func (g *udpGroup) lostPercent() float64 { return lostPercent(g.lost, g.packets) }

// intervalUDP is one interval's datagram counts of one stream or one
// direction's sum, as iperf3 reports them.
type intervalUDP struct {
	packets   uint64 // sender: datagrams sent; receiver: received + lost
	lost      int64
	jitterSum float64 // seconds; summed over n streams
	n         int
}

func (iu *intervalUDP) add(dir engine.Dir, u *engine.UDPStats) {
	iu.n++
	if u == nil {
		return
	}
	if dir == engine.Send {
		iu.packets += u.Packets
		return
	}
	iu.packets += receiverTotal(u)
	iu.lost += u.Lost
	iu.jitterSum += u.Jitter
}

func (iu *intervalUDP) jitter() float64 {
	if iu.n == 0 {
		return 0
	}
	return finite(iu.jitterSum / float64(iu.n))
}

func (iu *intervalUDP) lostPercent() float64 { return lostPercent(iu.lost, iu.packets) }
