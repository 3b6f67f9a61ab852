package engine

import (
	"fmt"

	"github.com/flowscope/flowscope/wire"
)

// localResults turns the flows' final counters into StreamResults. It must
// run after the sampler's final sample.
func localResults(flows flowSet, seconds float64) []StreamResult {
	out := make([]StreamResult, len(flows))
	for i, f := range flows {
		st := &f.s
		r := StreamResult{
			ID:          f.id,
			Dir:         f.dir,
			Bytes:       st.last - st.base,
			Seconds:     seconds,
			Retransmits: -1,
		}
		f.io.result(f, &r)
		if err := f.endErr(); err != nil {
			r.Err = err.Error()
		}
		out[i] = r
	}
	return out
}

// wireResults is what this side sends during EXCHANGE_RESULTS.
func wireResults(rs []StreamResult, cpu CPU, congestion string) *wire.Results {
	w := &wire.Results{
		CPUTotal:       cpu.Total,
		CPUUser:        cpu.User,
		CPUSystem:      cpu.System,
		CongestionUsed: congestion,
		Streams:        make([]wire.StreamResults, len(rs)),
	}
	sends, tcpInfo := false, false
	for i, r := range rs {
		w.Streams[i] = wire.StreamResults{
			ID:          int64(r.ID),
			Bytes:       int64(r.Bytes),
			Retransmits: r.Retransmits,
			EndTime:     r.Seconds,
		}
		if u := r.UDP; u != nil {
			w.Streams[i].Jitter = u.Jitter
			w.Streams[i].Errors = max(u.Lost, 0)
			w.Streams[i].Packets = int64(u.Packets)
			if r.Dir == Recv {
				// iperf3 reports the highest sequence number seen: the
				// distinct datagrams received plus those lost.
				w.Streams[i].Packets = int64(u.Packets-u.Duplicates) + max(u.Lost, 0)
			}
		}
		if r.Dir == Send {
			sends = true
			tcpInfo = tcpInfo || r.HasTCPInfo
		}
	}
	switch {
	case !sends:
		w.SenderHasRetransmits = -1
	case tcpInfo:
		w.SenderHasRetransmits = 1
	}
	return w
}

// mergePeer adds the peer's view of each stream to rs, matched by id, and
// fills the End's remote fields.
func mergePeer(end *End, peer *wire.Results) error {
	byID := make(map[int64]*wire.StreamResults, len(peer.Streams))
	for i := range peer.Streams {
		byID[peer.Streams[i].ID] = &peer.Streams[i]
	}
	for i := range end.Streams {
		r := &end.Streams[i]
		p, ok := byID[int64(r.ID)]
		if !ok {
			return fmt.Errorf("peer results have no stream %d", r.ID)
		}
		r.HasPeer = true
		r.PeerBytes = uint64(max(p.Bytes, 0))
		r.PeerSeconds = p.EndTime - p.StartTime
		if r.Dir == Recv {
			r.Retransmits = p.Retransmits
		}
		if r.UDP != nil {
			// A stock peer's counts include its omitted seconds.
			r.PeerUDP = &UDPStats{Packets: uint64(max(p.Packets-p.OmittedPackets, 0)), Lost: p.Errors - p.OmittedErrors, Jitter: p.Jitter}
		}
	}
	end.RemoteCPU = CPU{Total: peer.CPUTotal, User: peer.CPUUser, System: peer.CPUSystem}
	end.HasRemote = true
	end.PeerCongestion = peer.CongestionUsed
	return nil
}
