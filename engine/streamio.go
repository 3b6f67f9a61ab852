package engine

import (
	"time"

	"github.com/flowscope/flowscope/diagnose"
)

// streamIO is the per-stream half of a transport: the loop that moves a
// stream's bytes, and what its counters add to each interval and to the
// results. A flow gets its transport's streamIO when it is made.
type streamIO interface {
	// run moves bytes until the flow is stopped or fails. buf is the
	// payload (senders share one read-only buffer) or the read buffer.
	run(f *flow, buf []byte, limit *byteLimit) error
	// counters adds the transport's readings of one interval to ss (the
	// i-th stream of the sample) and returns whether the stream made
	// progress; moved says whether its byte counter moved.
	counters(s *sampler, i int, f *flow, ss *StreamSample, moved bool) bool
	// stallReason says why a stream stalled for stalledFor is stalled;
	// othersMove: some other stream of its direction still moves.
	stallReason(f *flow, othersMove bool, stalledFor time.Duration) string
	// result adds the transport's totals to a stream's result.
	result(f *flow, r *StreamResult)
}

// tcpStream moves a TCP stream: write(2) or sendfile(2) (-Z) for senders,
// read(2) or recv(MSG_TRUNC) (--skip-rx-copy) for receivers, through Go's
// poller or, with few flows, on an owned blocking socket. TCP_INFO gives
// senders' delivery, retransmits, RTT and windows.
type tcpStream struct{}

func (tcpStream) run(f *flow, buf []byte, limit *byteLimit) error {
	switch {
	case f.dir == Send && f.zc != nil && f.own != nil:
		return f.sendFileOwned(len(buf), limit)
	case f.dir == Send && f.zc != nil:
		return f.sendFile(len(buf), limit)
	case f.dir == Send && f.own != nil:
		return f.sendOwned(buf, limit)
	case f.dir == Send:
		return f.send(buf, limit)
	case f.own != nil:
		return f.recvOwned(buf, limit)
	}
	return f.recv(buf, limit)
}

func (tcpStream) counters(s *sampler, _ int, f *flow, ss *StreamSample, moved bool) bool {
	st := &f.s
	st.tiValid = false
	st.tiSkipped = s.cutShort()
	if f.dir != Send || !s.readTCP || st.tiSkipped {
		return moved
	}
	ti, err := f.readTCPInfo()
	if err != nil {
		return moved
	}
	st.ti, st.tiValid = ti, true
	if !st.hasTCP {
		st.baseRwnd, st.baseBusy = ti.RwndLimited, ti.BusyTime
	}
	acked := ti.BytesAcked
	if acked > f.preamble+1 {
		acked -= f.preamble + 1 // SYN and our preamble
	} else {
		acked = 0
	}
	if st.hasTCP {
		ss.Acked = acked - min(acked, st.lastAcked)
	} else {
		ss.Acked = acked
		st.baseRetr = uint64(ti.TotalRetrans)
		st.lastRetr = uint64(ti.TotalRetrans)
		st.baseReord = uint64(ti.ReordSeen)
		st.lastReord = uint64(ti.ReordSeen)
	}
	st.lastAcked = acked
	st.hasTCP = true
	retr, reord := uint64(ti.TotalRetrans), uint64(ti.ReordSeen)
	ss.TCP = TCPStats{
		Valid:       true,
		Retransmits: retr - min(retr, st.lastRetr),
		Reorder:     reord - min(reord, st.lastReord),
		SndCwnd:     uint64(ti.SndCwnd) * uint64(ti.SndMSS),
		SndWnd:      uint64(ti.SndWnd),
		RTT:         ti.RTT,
		RTTVar:      ti.RTTVar,
		PMTU:        ti.PMTU,
		BytesAcked:  acked,

		RTO:           ti.RTO,
		Backoff:       ti.Backoff,
		CAState:       ti.CAState,
		Unacked:       ti.Unacked,
		NotSent:       ti.NotsentBytes,
		Lost:          ti.Lost,
		DeliveryRate:  ti.DeliveryRate,
		BusyTime:      ti.BusyTime,
		RwndLimited:   ti.RwndLimited,
		SndbufLimited: ti.SndbufLimit,
	}
	st.lastRetr, st.lastReord = retr, reord
	st.maxCwnd = max(st.maxCwnd, ss.TCP.SndCwnd)
	st.maxSndWnd = max(st.maxSndWnd, ss.TCP.SndWnd)
	if ti.RTT > 0 {
		if st.minRTT == 0 || ti.RTT < st.minRTT {
			st.minRTT = ti.RTT
		}
		st.maxRTT = max(st.maxRTT, ti.RTT)
		st.rttSum += uint64(ti.RTT)
		st.rttN++
	}
	return ss.Acked > 0
}

func (tcpStream) stallReason(f *flow, othersMove bool, stalledFor time.Duration) string {
	st := &f.s
	if !st.tiValid && !st.tiSkipped {
		if ti, err := f.readTCPInfo(); err == nil {
			st.ti, st.tiValid = ti, true
		}
	}
	if !st.tiValid {
		return "no TCP_INFO"
	}
	return diagnose.StallReason(st.ti, f.dir == Send, othersMove, stalledFor)
}

func (tcpStream) result(f *flow, r *StreamResult) {
	st := &f.s
	if f.dir != Send || !st.hasTCP {
		return
	}
	r.HasTCPInfo = true
	r.Retransmits = int64(st.lastRetr - min(st.lastRetr, st.baseRetr))
	r.Reorder = st.lastReord - min(st.lastReord, st.baseReord)
	r.MaxSndCwnd = st.maxCwnd
	r.MaxSndWnd = st.maxSndWnd
	r.MinRTT = st.minRTT
	r.MaxRTT = st.maxRTT
	if st.rttN > 0 {
		r.MeanRTT = uint32(st.rttSum / st.rttN)
	}
}

// udpStream moves a UDP stream: paced datagrams with iperf3's header
// (batched with GSO where the kernel allows) for senders; for receivers,
// the datagrams' sequence numbers and timestamps give loss, reordering,
// duplicates and jitter.
type udpStream struct{}

func (udpStream) run(f *flow, buf []byte, limit *byteLimit) error {
	if f.dir == Send {
		return f.udpSend(buf, limit)
	}
	return f.udpRecv(buf, limit)
}

func (udpStream) counters(s *sampler, i int, f *flow, ss *StreamSample, moved bool) bool {
	st := &f.s
	ss.UDP = s.udpSlot(i)
	*ss.UDP = st.udpSnap.minus(st.udpLast)
	st.udpLast = st.udpSnap
	return moved
}

func (udpStream) stallReason(*flow, bool, time.Duration) string {
	return "no datagrams arriving: the sender stopped or every datagram was lost"
}

func (udpStream) result(f *flow, r *StreamResult) {
	u := f.s.udpLast.minus(f.s.udpBase)
	r.UDP = &u
}

// minus is u less the counts of an earlier reading b; the jitter and the
// lag behind schedule are u's.
func (u UDPStats) minus(b UDPStats) UDPStats {
	u.Packets -= b.Packets
	u.Lost -= b.Lost
	u.OutOfOrder -= b.OutOfOrder
	u.Duplicates -= b.Duplicates
	u.SendErrors -= b.SendErrors
	u.Malformed -= b.Malformed
	return u
}

// udpSlot is where the i-th stream's UDP counters of the sample being
// taken go: one allocation per sample for every UDP stream, not one each
// (sampleLocked starts each sample with a fresh one).
func (s *sampler) udpSlot(i int) *UDPStats {
	if s.udpScratch == nil {
		s.udpScratch = make([]UDPStats, len(s.flows))
	}
	return &s.udpScratch[i]
}

var (
	_ streamIO = tcpStream{}
	_ streamIO = udpStream{}
)
