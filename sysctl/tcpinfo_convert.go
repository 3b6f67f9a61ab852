package sysctl

import "math"

// The other OSes' per-socket statistics, laid out as their kernels write
// them, and their translation into TCPInfo. They live in a file that builds
// everywhere so the translations are tested on Linux too; the files that
// make the system calls are built for their OS only.

// darwinConnInfo is macOS's struct tcp_connection_info (netinet/tcp.h),
// read with getsockopt(IPPROTO_TCP, TCP_CONNECTION_INFO). Its times are in
// ms, its windows in bytes.
type darwinConnInfo struct {
	State               uint8
	SndWscale           uint8
	RcvWscale           uint8
	_                   uint8
	Options             uint32
	Flags               uint32
	RTO                 uint32 // ms
	MaxSeg              uint32
	SndSsthresh         uint32
	SndCwnd             uint32 // bytes
	SndWnd              uint32
	SndSbbytes          uint32 // bytes in the send buffer, in flight included
	RcvWnd              uint32
	RTTCur              uint32 // ms
	SRTT                uint32 // ms
	RTTVar              uint32 // ms
	TFOFlags            uint32 // bit fields
	TxPackets           uint64
	TxBytes             uint64
	TxRetransmitBytes   uint64
	RxPackets           uint64
	RxBytes             uint64
	RxOutOfOrderBytes   uint64
	TxRetransmitPackets uint64
}

const darwinKnown = FieldState | FieldRTO | FieldSndMSS | FieldSndCwnd | FieldSndWnd | FieldRcvWnd |
	FieldRTT | FieldRTTVar | FieldTotalRetrans | FieldBytesSent | FieldBytesRecv

func fromDarwin(r *darwinConnInfo) TCPInfo {
	ti := TCPInfo{
		RTO:          msToUs(r.RTO),
		SndMSS:       r.MaxSeg,
		SndCwnd:      segments(r.SndCwnd, r.MaxSeg),
		SndWnd:       r.SndWnd,
		RcvWnd:       r.RcvWnd,
		RTT:          msToUs(r.SRTT),
		RTTVar:       msToUs(r.RTTVar),
		TotalRetrans: clamp32(r.TxRetransmitPackets),
		BytesSent:    r.TxBytes,
		BytesRecv:    r.RxBytes,
		Known:        darwinKnown,
	}
	ti.setState(bsdStates[:], uint32(r.State))
	return ti
}

// freebsdTCPInfo is FreeBSD's struct tcp_info (netinet/tcp.h), read with
// getsockopt(IPPROTO_TCP, TCP_INFO). The blank fields are
// not filled by FreeBSD. Times are in µs, windows in bytes.
type freebsdTCPInfo struct {
	State        uint8
	_            uint8 // CAState
	_            uint8 // Retransmits
	_            uint8 // Probes
	_            uint8 // Backoff
	Options      uint8
	Wscale       uint8 // snd_wscale:4, rcv_wscale:4
	_            uint8
	RTO          uint32 // µs
	_            uint32 // ATO
	SndMSS       uint32
	RcvMSS       uint32
	_            uint32 // Unacked
	_            uint32 // Sacked
	_            uint32 // Lost
	_            uint32 // Retrans
	_            uint32 // Fackets
	_            uint32 // LastDataSnd
	_            uint32 // LastAckSnd
	LastDataRecv uint32 // µs
	_            uint32 // LastAckRecv
	_            uint32 // PMTU
	_            uint32 // RcvSsthresh
	RTT          uint32 // µs
	RTTVar       uint32 // µs
	SndSsthresh  uint32
	SndCwnd      uint32 // bytes
	_            uint32 // AdvMSS
	_            uint32 // Reordering
	_            uint32 // RcvRTT
	RcvSpace     uint32 // the advertised receive window
	SndWnd       uint32
	_            uint32 // SndBwnd
	SndNxt       uint32
	RcvNxt       uint32
	TOETid       uint32
	SndRexmitPk  uint32 // segments retransmitted
	RcvOooPk     uint32
	SndZeroWin   uint32
	_            [26]uint32
}

const freebsdKnown = FieldState | FieldRTO | FieldSndMSS | FieldLastDataRecv | FieldRTT | FieldRTTVar |
	FieldSndCwnd | FieldRcvWnd | FieldSndWnd | FieldTotalRetrans

func fromFreeBSD(r *freebsdTCPInfo) TCPInfo {
	ti := TCPInfo{
		RTO:          r.RTO,
		SndMSS:       r.SndMSS,
		LastDataRecv: r.LastDataRecv / 1000,
		RTT:          r.RTT,
		RTTVar:       r.RTTVar,
		SndCwnd:      segments(r.SndCwnd, r.SndMSS),
		RcvWnd:       r.RcvSpace,
		SndWnd:       r.SndWnd,
		TotalRetrans: r.SndRexmitPk,
		Known:        freebsdKnown,
	}
	ti.setState(bsdStates[:], uint32(r.State))
	return ti
}

// windowsTCPInfoV0 is Windows's TCP_INFO_v0 (mstcpip.h), read with
// WSAIoctl(SIO_TCP_INFO) and version 0 as input. Windows in bytes.
type windowsTCPInfoV0 struct {
	State             uint32 // TCPSTATE
	MSS               uint32
	ConnectionTimeMs  uint64
	TimestampsEnabled uint8
	RTTUs             uint32
	MinRTTUs          uint32
	BytesInFlight     uint32
	Cwnd              uint32
	SndWnd            uint32
	RcvWnd            uint32
	RcvBuf            uint32
	BytesOut          uint64
	BytesIn           uint64
	BytesReordered    uint32
	BytesRetrans      uint32
	FastRetrans       uint32
	DupAcksIn         uint32
	TimeoutEpisodes   uint32
	SynRetrans        uint8
}

const windowsKnown = FieldState | FieldSndMSS | FieldRTT | FieldSndCwnd | FieldSndWnd | FieldRcvWnd |
	FieldBytesSent | FieldBytesRecv | FieldTotalRTO

func fromWindows(r *windowsTCPInfoV0) TCPInfo {
	ti := TCPInfo{
		SndMSS:    r.MSS,
		RTT:       r.RTTUs,
		SndCwnd:   segments(r.Cwnd, r.MSS),
		SndWnd:    r.SndWnd,
		RcvWnd:    r.RcvWnd,
		BytesSent: r.BytesOut,
		BytesRecv: r.BytesIn,
		TotalRTO:  uint16(min(r.TimeoutEpisodes, math.MaxUint16)),
		Known:     windowsKnown,
	}
	ti.setState(windowsStates[:], r.State)
	return ti
}

// setState sets State from an OS's state number, or clears FieldState from
// Known when the number is not one the table knows.
func (ti *TCPInfo) setState(table []uint8, s uint32) {
	if st, ok := state(table, s); ok {
		ti.State = st
		return
	}
	ti.Known &^= FieldState
}

func msToUs(ms uint32) uint32 { return clamp32(uint64(ms) * 1000) }

func clamp32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }
