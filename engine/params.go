package engine

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// Protocol is a test's transport: TCP or UDP.
type Protocol string

// The transports a test can run over.
const (
	ProtoTCP Protocol = "TCP"
	ProtoUDP Protocol = "UDP"
)

// Params is one test as the client asks for it and both sides run it:
// every option that crosses the control connection, and the reporting
// interval. It is validated in one place (validate), and converted to and
// from iperf3's parameter document in one place (toWire, paramsFromWire):
// a new option is a field here, its wire key in those two functions and its
// check in validate.
type Params struct {
	// Protocol is TCP (the default, also when empty) or UDP (-u).
	Protocol Protocol
	// Parallel is the number of streams per direction (-P).
	Parallel int
	// Duration is the measured test length (-t); zero when Bytes or Blocks
	// end the test.
	Duration time.Duration
	// Bytes ends the test once this many bytes were sent or received (-n).
	Bytes int64
	// Blocks ends the test after this many blocks (-k); sent as iperf3's
	// blockcount.
	Blocks int64
	// Omit is the warm-up excluded from the results (-O).
	Omit time.Duration
	// Interval is the reporting interval (-i); zero disables interval
	// samples. It stays local: each side reports at its own interval.
	Interval time.Duration
	// Reverse makes the server send (-R).
	Reverse bool
	// Bidir runs both directions at once (--bidir).
	Bidir bool
	// BlockSize is the size of each read and write (-l), or of each UDP
	// datagram; 0 picks iperf3's default (128 KiB for TCP; for UDP the
	// control connection's MSS), resolved before the parameters go out.
	BlockSize int
	// Rate is the per-stream sending rate in bit/s (-b); zero is unlimited.
	Rate uint64
	// ReverseRate is the per-stream rate of the server's senders in a
	// bidirectional test (--reverse-bitrate); 0 means the same as Rate.
	// Only a flowscope server honours it.
	ReverseRate uint64
	// Burst is the number of datagrams sent back to back (-b RATE/BURST).
	Burst int
	// FQRate is SO_MAX_PACING_RATE in bit/s (--fq-rate).
	FQRate uint64
	// Window sets SO_SNDBUF and SO_RCVBUF on data sockets (-w); zero keeps
	// the kernel's autotuning.
	Window int
	// Congestion is the TCP congestion control algorithm (-C); empty keeps
	// the host default.
	Congestion string
	// Counters64 uses 64-bit UDP sequence numbers (--udp-counters-64bit).
	Counters64 bool
	// Socket options both sides apply to their data sockets: -M, -N,
	// -S/--dscp, --dont-fragment.
	MSS          int
	NoDelay      bool
	TOS          int
	DontFragment bool
	// ZeroCopy: TCP senders use sendfile(2) (-Z). SkipRxCopy: TCP
	// receivers read with MSG_TRUNC, so the kernel drops the data instead
	// of copying it (iperf3 3.19's --skip-rx-copy); a stock iperf3 3.12
	// server ignores the request. NoGSO: UDP streams move one datagram per
	// system call instead of batching with GSO/GRO (flowscope peers only).
	// RepeatingPayload: iperf3's "0123456789…" payload
	// (--repeating-payload).
	ZeroCopy, SkipRxCopy, NoGSO, RepeatingPayload bool
	// Title (-T) and ExtraData (--extra-data) go into both JSON documents.
	Title     string
	ExtraData string
	// GetServerOutput asks for the server's own report
	// (--get-server-output).
	GetServerOutput bool
	// ServerAffinity is the CPU the server's side of the test should run
	// on (-A n,m); -1: none.
	ServerAffinity int
	// MPTCP: the client opens its connections with Multipath TCP (-m), or
	// plain TCP where the path or the server does not take it.
	MPTCP bool
}

// TestParams is the test as both sides agreed on it (Start.Params).
type TestParams = Params

// UDP reports whether the test runs over UDP.
func (p *Params) UDP() bool { return p.Protocol == ProtoUDP }

// NumStreams is the number of data connections the test opens.
func (p *Params) NumStreams() int {
	if p.Bidir {
		return 2 * p.Parallel
	}
	return p.Parallel
}

// Test limits (iperf3's MAX_TIME and MAX_OMIT_TIME; a window beyond any
// kernel's maximum).
const (
	MaxTestDuration = 86400 * time.Second
	MaxOmit         = 600 * time.Second
	MaxWindow       = 512 << 20
)

// Limits are a server operator's bounds on the tests it accepts; the zero
// value accepts any valid test.
type Limits struct {
	// MaxStreams bounds a test's data connections (0: no limit).
	MaxStreams int
	// MaxDuration bounds omit+time (0: no limit); byte-limited tests are
	// refused when it is set.
	MaxDuration time.Duration
	// MaxBitrate bounds the total rate asked for in bit/s (0: no limit).
	MaxBitrate uint64
	// MaxTestMemory bounds the buffers a test claims on the server
	// (Params.TestMemory), in bytes (0: no limit).
	MaxTestMemory uint64
}

// validate reports the first problem with p, or with p against lim, as an
// *Error with CauseInvalid (for a problem with the parameters themselves)
// or CauseRejected (for a server limit), carrying the iperf3 error code a
// server refuses it with.
func (p *Params) validate(lim Limits) error {
	if err := p.check(); err != nil {
		return err
	}
	return p.checkLimits(lim)
}

// check is validate without the server's limits: each problem as an
// *Error carrying the iperf3 error code whose text names it, which a stock
// client prints.
func (p *Params) check() error {
	bad := func(code wire.ErrorCode, err error) error {
		return &Error{Cause: CauseInvalid, Err: err, code: code}
	}
	switch {
	case p.Protocol != "" && p.Protocol != ProtoTCP && p.Protocol != ProtoUDP:
		return bad(wire.ErrNoSCTP, fmt.Errorf("protocol %q: only TCP and UDP tests are supported", p.Protocol))
	case p.Parallel < 1 || p.Parallel > MaxParallel:
		return bad(wire.ErrNumStreams, fmt.Errorf("parallel streams %d out of range 1-%d", p.Parallel, MaxParallel))
	case p.Duration < 0:
		return bad(wire.ErrDuration, errors.New("test duration must not be negative"))
	case p.Duration > MaxTestDuration:
		return bad(wire.ErrDuration, fmt.Errorf("test duration %v too long: the maximum is %v", p.Duration, MaxTestDuration))
	case p.Duration == 0 && p.Bytes == 0 && p.Blocks == 0:
		return bad(wire.ErrEndConditions, errors.New("test needs a duration (-t) or a byte count (-n)"))
	case p.Bytes < 0:
		return bad(wire.ErrEndConditions, errors.New("byte count (-n) must not be negative"))
	case p.Omit < 0:
		return bad(wire.ErrOmit, errors.New("omit (-O) must not be negative"))
	case p.Omit > MaxOmit:
		return bad(wire.ErrOmit, fmt.Errorf("omit (-O) %v too long: the maximum is %v", p.Omit, MaxOmit))
	case p.Interval < 0:
		return bad(wire.ErrInterval, errors.New("interval (-i) must not be negative"))
	case p.Interval > 0 && p.Interval < 10*time.Millisecond:
		return bad(wire.ErrInterval, fmt.Errorf("interval %v too short: the minimum is 10ms", p.Interval))
	case p.BlockSize < 0 || p.BlockSize > MaxBlockSize:
		return bad(wire.ErrBlockSize, fmt.Errorf("block size %d out of range 1-%d", p.BlockSize, MaxBlockSize))
	case p.UDP() && p.BlockSize != 0 && (p.BlockSize < MinUDPSize || p.BlockSize > MaxUDPSize):
		return bad(wire.ErrUDPBlockSize, fmt.Errorf("UDP datagram size %d out of range %d-%d", p.BlockSize, MinUDPSize, MaxUDPSize))
	case p.ReverseRate > 0 && !p.Bidir:
		return bad(wire.ErrFlowscopeParam, errors.New("--reverse-bitrate needs --bidir"))
	case p.Window < 0 || p.Window > MaxWindow:
		return bad(wire.ErrBufSize, fmt.Errorf("window (-w) %d out of range 0-%d", p.Window, MaxWindow))
	case p.Reverse && p.Bidir:
		return bad(wire.ErrReverseBidir, errors.New("-R and --bidir cannot be combined"))
	case p.MSS < 0 || p.MSS > 32767:
		return bad(wire.ErrMSS, fmt.Errorf("MSS %d out of range 0-32767", p.MSS))
	case p.TOS < 0 || p.TOS > 255:
		return bad(wire.ErrBadTOS, fmt.Errorf("TOS %d out of range 0-255", p.TOS))
	case p.Blocks < 0 || p.Burst < 0:
		return bad(wire.ErrBurst, errors.New("block count and burst must not be negative"))
	case p.Burst > MaxBurst:
		return bad(wire.ErrBurst, fmt.Errorf("burst %d too large: at most %d datagrams back to back", p.Burst, MaxBurst))
	case p.ZeroCopy && p.UDP():
		return bad(wire.ErrFlowscopeParam, errors.New("-Z applies to TCP only"))
	case p.SkipRxCopy && p.UDP():
		return bad(wire.ErrFlowscopeParam, errors.New("--skip-rx-copy applies to TCP only"))
	}
	return nil
}

// checkLimits applies a server operator's limits to p.
func (p *Params) checkLimits(lim Limits) error {
	refuse := func(code wire.ErrorCode, format string, args ...any) error {
		return &Error{Cause: CauseRejected, Err: fmt.Errorf(format, args...), code: code}
	}
	n := p.NumStreams()
	if lim.MaxStreams > 0 && n > lim.MaxStreams {
		return refuse(wire.ErrNumStreams, "%d streams asked for, this server allows %d (--max-streams)", n, lim.MaxStreams)
	}
	if lim.MaxDuration > 0 {
		if p.Duration == 0 {
			return refuse(wire.ErrMaxDuration, "byte-limited tests (-n) are refused: this server limits tests to %s (--max-duration)", lim.MaxDuration)
		}
		if d := p.Duration + p.Omit; d > lim.MaxDuration {
			return refuse(wire.ErrMaxDuration, "a %s test asked for, this server allows %s (--max-duration)", d, lim.MaxDuration)
		}
	}
	if m := p.TestMemory(); lim.MaxTestMemory > 0 && m > lim.MaxTestMemory {
		return refuse(wire.ErrBlockSize, "the test's buffers would take %s (%d streams of %d-byte blocks), this server allows %s per test (--max-test-memory)",
			mib(m), n, p.BlockSize, mib(lim.MaxTestMemory))
	}
	if lim.MaxBitrate > 0 && p.Rate > 0 {
		total := mulSat(p.Rate, uint64(p.Parallel))
		if p.Bidir {
			rev := p.Rate
			if p.ReverseRate > 0 {
				rev = p.ReverseRate
			}
			total = addSat(total, mulSat(rev, uint64(p.Parallel)))
		}
		if total > lim.MaxBitrate {
			return refuse(wire.ErrTotalRate, "%d bit/s in total asked for, this server allows %d (--max-bitrate)", total, lim.MaxBitrate)
		}
	}
	return nil
}

// MaxBurst bounds -b RATE/BURST, as iperf3 does (its MAX_BURST).
const MaxBurst = 1000

// mib formats a byte count in MiB.
func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// mulSat and addSat saturate instead of wrapping, so a huge request cannot
// wrap below a limit.
func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// iperf3ClientVersion is the client version flowscope announces: the
// parameter set it writes is 3.12's.
const iperf3ClientVersion = "3.12"

// toWire is p as the parameter document a client sends; offer lists the
// flowscope extensions it proposes. BlockSize must be resolved.
func (p *Params) toWire(offer []string) *wire.Params {
	w := &wire.Params{
		TCP:             !p.UDP(),
		UDP:             p.UDP(),
		UDPCounters64:   p.Counters64,
		Omit:            int64(p.Omit / time.Second),
		Time:            int64(p.Duration / time.Second),
		Num:             p.Bytes,
		BlockCount:      p.Blocks,
		Parallel:        int64(p.Parallel),
		Reverse:         p.Reverse,
		Bidirectional:   p.Bidir,
		Window:          int64(p.Window),
		Len:             int64(p.BlockSize),
		Bandwidth:       int64(p.Rate),
		PacingTimer:     1000,
		Congestion:      p.Congestion,
		ClientVersion:   iperf3ClientVersion,
		MSS:             int64(p.MSS),
		NoDelay:         p.NoDelay,
		TOS:             int64(p.TOS),
		FQRate:          int64(p.FQRate),
		Burst:           int64(p.Burst),
		Title:           p.Title,
		ExtraData:       p.ExtraData,
		GetServerOutput: p.GetServerOutput,
		RepeatingLoad:   p.RepeatingPayload,
		ZeroCopy:        p.ZeroCopy,
		SkipRxCopy:      p.SkipRxCopy,
		DontFragment:    p.DontFragment,
		MPTCP:           p.MPTCP,
		Flowscope: &wire.Extensions{
			Version: Version, Extensions: offer,
			ReverseBitrate: int64(p.ReverseRate), NoGSO: p.NoGSO,
		},
	}
	if p.ServerAffinity >= 0 {
		a := int64(p.ServerAffinity)
		w.ServerAffinity = &a
	}
	if p.Duration > 0 && p.Duration < time.Second {
		w.Time = 1
	}
	if p.Bytes > 0 || p.Blocks > 0 {
		w.Time = 0
	}
	if p.Blocks > 0 {
		w.Num = 0 // the block count alone says when to stop, as with iperf3 -k
	}
	return w
}

// paramsFromWire reads a client's parameter document as this server runs
// it: what a stock client may combine (-R with --bidir, -Z or
// --skip-rx-copy with UDP) is resolved as iperf3 does, and what no test
// can be is an error. The result still needs validate.
func paramsFromWire(w *wire.Params) (Params, error) {
	bad := func(format string, args ...any) (Params, error) {
		return Params{}, &Error{Cause: CauseInvalid, Err: fmt.Errorf(format, args...), code: wire.ErrFlowscopeParam}
	}
	switch {
	case w.TCP == w.UDP:
		return Params{}, &Error{Cause: CauseInvalid, Err: errors.New("only TCP and UDP tests are supported"), code: wire.ErrNoSCTP}
	case w.Bandwidth < 0 || w.FQRate < 0:
		return bad("negative bandwidth")
	case w.Len < 1:
		return bad("block length %d out of range 1-%d", w.Len, MaxBlockSize)
	case w.Time < 0 || w.Omit < 0 || w.Time > int64(MaxTestDuration/time.Second) || w.Omit > int64(MaxOmit/time.Second):
		return bad("time %d or omit %d out of range", w.Time, w.Omit)
	case w.Parallel > MaxParallel || w.Window > MaxWindow || w.Len > MaxBlockSize ||
		w.MSS > math.MaxInt32 || w.TOS > math.MaxInt32 || w.Burst > math.MaxInt32:
		return bad("parameter out of range (parallel %d, window %d, len %d)", w.Parallel, w.Window, w.Len)
	}
	p := Params{
		Protocol:         ProtoTCP,
		Parallel:         int(w.Parallel),
		Duration:         time.Duration(w.Time) * time.Second,
		Bytes:            w.Num,
		Blocks:           w.BlockCount,
		Omit:             time.Duration(w.Omit) * time.Second,
		Reverse:          w.Reverse && !w.Bidirectional,
		Bidir:            w.Bidirectional,
		BlockSize:        int(w.Len),
		Rate:             uint64(w.Bandwidth),
		Burst:            int(w.Burst),
		FQRate:           uint64(w.FQRate),
		Window:           int(w.Window),
		Congestion:       w.Congestion,
		Counters64:       w.UDPCounters64,
		MSS:              int(w.MSS),
		NoDelay:          w.NoDelay,
		TOS:              int(w.TOS),
		DontFragment:     w.DontFragment,
		ZeroCopy:         w.ZeroCopy && w.TCP,
		SkipRxCopy:       w.SkipRxCopy && w.TCP,
		RepeatingPayload: w.RepeatingLoad,
		Title:            w.Title,
		ExtraData:        w.ExtraData,
		GetServerOutput:  w.GetServerOutput,
		ServerAffinity:   -1,
		MPTCP:            w.MPTCP && w.TCP,
	}
	if w.UDP {
		p.Protocol = ProtoUDP
	}
	if w.ServerAffinity != nil {
		p.ServerAffinity = int(min(max(*w.ServerAffinity, -1), math.MaxInt32))
	}
	if x := w.Flowscope; x != nil {
		p.NoGSO = x.NoGSO
		if w.Bidirectional && x.ReverseBitrate > 0 {
			p.ReverseRate = uint64(x.ReverseBitrate)
		}
	}
	return p, nil
}
