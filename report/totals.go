package report

import "github.com/flowscope/flowscope/engine"

// sumGroup is the streams one set of "end" sums covers: the forward
// direction (key suffix "") and, in a bidir test, the reverse one
// ("_bidir_reverse").
type sumGroup struct {
	match  func(engine.Dir) bool
	dir    engine.Dir // the local direction of the group's streams
	suffix string
}

// sumGroups are the stream groups of iperf3's "end" sums, in output order.
func (d *doc) sumGroups(e *engine.End) []sumGroup {
	fwd := d.endForwardDir(e)
	if d.bidir() {
		return []sumGroup{
			{func(x engine.Dir) bool { return x == fwd }, fwd, ""},
			{func(x engine.Dir) bool { return x != fwd }, 1 - fwd, "_bidir_reverse"},
		}
	}
	return []sumGroup{{func(engine.Dir) bool { return true }, fwd, ""}}
}

// groupViews adds up the senders' and the receivers' counts of the
// group's streams (as views gives them), calling each with every stream of
// the group.
func groupViews(e *engine.End, g sumGroup, views func(*engine.StreamResult) (view, view), each func(r *engine.StreamResult)) (sv, rv view) {
	for i := range e.Streams {
		r := &e.Streams[i]
		if !g.match(r.Dir) {
			continue
		}
		snd, rcv := views(r)
		if snd.known {
			addView(&sv, snd)
		}
		if rcv.known {
			addView(&rv, rcv)
		}
		each(r)
	}
	return sv, rv
}

// tcpEndSums are a TCP test's "sum_sent" and "sum_received" over the
// group's streams; retransmits are the senders' where known.
func tcpEndSums(e *engine.End, g sumGroup, client bool) (sent, recv jsonEndSum) {
	retr, retrKnown := int64(0), false
	views := func(r *engine.StreamResult) (view, view) { return endViews(r, client) }
	sv, rv := groupViews(e, g, views, func(r *engine.StreamResult) {
		if r.Retransmits >= 0 && ((r.Dir == engine.Send && r.HasTCPInfo) || (r.Dir == engine.Recv && client)) {
			retr += r.Retransmits
			retrKnown = true
		}
	})
	sender := g.dir == engine.Send
	sent, recv = endSum(sv, e.Seconds, sender), endSum(rv, e.Seconds, sender)
	if retrKnown {
		sent.Retransmits = &retr
	}
	return sent, recv
}

// udpEndSums are a UDP test's "sum", "sum_sent" and "sum_received" over
// the group's streams (see udpEndObject).
func udpEndSums(e *engine.End, g sumGroup) (sum, sent, recv jsonEndUDPSum) {
	var ug udpGroup
	sv, rv := groupViews(e, g, bothViews, func(r *engine.StreamResult) { ug.add(udpResult(r)) })
	sendSecs := finite(senderSeconds(sv, rv, e.Seconds))
	recvSecs := finite(receiverSeconds(rv, sendSecs))
	jitter := jitterMS(ug.jitter())
	sum = jsonEndUDPSum{
		End: recvSecs, Seconds: recvSecs, Bytes: sv.bytes, BitsPerSecond: bitrate(sv.bytes, sendSecs),
		JitterMS: jitter, LostPackets: ug.lost, Packets: ug.packets, LostPercent: ug.lostPercent(), Sender: g.dir == engine.Send,
	}
	sent = jsonEndUDPSum{
		End: sendSecs, Seconds: sendSecs, Bytes: sv.bytes, BitsPerSecond: bitrate(sv.bytes, sendSecs),
		Packets: ug.sent, Sender: true,
	}
	recv = jsonEndUDPSum{
		End: recvSecs, Seconds: recvSecs, Bytes: rv.bytes, BitsPerSecond: bitrate(rv.bytes, recvSecs),
		JitterMS: jitter, LostPackets: ug.lost, Packets: ug.received, LostPercent: ug.lostPercent(), Sender: false,
	}
	return sum, sent, recv
}

// Total is one of a test's end totals under iperf3's "end" key for it:
// "sum_sent", "sum_received" and, in a bidir test, their "_bidir_reverse"
// twins. The numbers are those NewJSON's document states.
type Total struct {
	Key           string
	Seconds       float64
	Bytes         uint64
	BitsPerSecond float64
	Sender        bool
	// Retransmits: the senders' (TCP sum_sent, when known).
	Retransmits *int64
	// Packets and LostPackets: datagram counts (UDP).
	Packets     *uint64
	LostPackets *int64
}

// Totals returns a test's end totals from its Start (nil when the test
// failed before it started) and End, in the JSON document's order; none
// when the test produced no results.
func Totals(start *engine.Start, end *engine.End) []Total {
	if end == nil || len(end.Streams) == 0 {
		return nil
	}
	d := doc{start: start, side: end.Side, sideKnown: true, udp: isUDP(start)}
	for i := range end.Streams {
		d.udp = d.udp || end.Streams[i].UDP != nil
	}
	var out []Total
	for _, g := range d.sumGroups(end) {
		if d.udp {
			_, sn, r := udpEndSums(end, g)
			for _, s := range []struct {
				key string
				v   jsonEndUDPSum
			}{{"sum_sent", sn}, {"sum_received", r}} {
				out = append(out, Total{Key: s.key + g.suffix, Seconds: s.v.Seconds, Bytes: s.v.Bytes, BitsPerSecond: s.v.BitsPerSecond,
					Sender: s.v.Sender, Packets: ptr(s.v.Packets), LostPackets: ptr(s.v.LostPackets)})
			}
			continue
		}
		s, r := tcpEndSums(end, g, end.Side == engine.SideClient)
		for _, v := range []struct {
			key string
			v   jsonEndSum
		}{{"sum_sent", s}, {"sum_received", r}} {
			out = append(out, Total{Key: v.key + g.suffix, Seconds: v.v.Seconds, Bytes: v.v.Bytes, BitsPerSecond: v.v.BitsPerSecond,
				Sender: v.v.Sender, Retransmits: v.v.Retransmits})
		}
	}
	return out
}

// bothViews are a stream's sender and receiver counts, each side's own.
func bothViews(r *engine.StreamResult) (sender, receiver view) {
	return senderView(r), receiverView(r)
}

// endViews are a TCP stream's sender and receiver counts as the end of
// the document shows them: on a client both sides' (the server's from the
// results exchange), on a server its own side only, the other side with no
// bytes over its own time, as iperf3's server writes them.
func endViews(r *engine.StreamResult, client bool) (sender, receiver view) {
	sender, receiver = bothViews(r)
	if client {
		return sender, receiver
	}
	if r.Dir == engine.Send {
		return sender, view{0, sender.seconds, true}
	}
	return view{0, receiver.seconds, true}, receiver
}
