// Package engine runs flowscope throughput tests: the client, the server,
// one goroutine per flow, and the sampler that turns per-flow counters into
// one Sample per reporting interval. Front ends consume the engine's Events
// and nothing else.
package engine

import (
	"errors"
	"fmt"
	"time"
)

// Version is the flowscope version reported in results and to peers.
const Version = "0.1.0"

// DefaultPort is iperf3's well-known port, which flowscope shares.
const DefaultPort = 5201

// DefaultBlockSize is the TCP read/write size (iperf3's -l default).
const DefaultBlockSize = 128 * 1024

// MaxBlockSize bounds -l so a peer cannot make us allocate absurd buffers.
const MaxBlockSize = 16 * 1024 * 1024

// Config describes one test as the client requests it. The server receives
// the same description through the parameter exchange.
type Config struct {
	// Host is the server to connect to (client only).
	Host string
	// Port is the server's TCP port.
	Port int
	// Network is "tcp", "tcp4" or "tcp6" (-4/-6).
	Network string
	// BindAddr is the local address to bind to (-B), empty for any.
	BindAddr string

	// Parallel is the number of streams per direction (-P).
	Parallel int
	// Duration is the measured test length (-t); zero when Bytes is set.
	Duration time.Duration
	// Bytes ends the test once this many bytes were sent or received (-n).
	Bytes int64
	// Omit is the warm-up excluded from the results (-O).
	Omit time.Duration
	// Interval is the reporting interval (-i); zero disables interval samples.
	Interval time.Duration
	// Reverse makes the server send (-R).
	Reverse bool
	// Bidir runs both directions at once (--bidir).
	Bidir bool
	// BlockSize is the size of each read and write (-l), or of each UDP
	// datagram; 0 picks iperf3's default (128 KiB for TCP; for UDP the
	// control connection's MSS).
	BlockSize int
	// UDP runs a UDP test (-u) instead of TCP.
	UDP bool
	// Counters64 uses 64-bit UDP sequence numbers (--udp-counters-64bit).
	Counters64 bool
	// ReverseRate is the per-stream rate of the server's senders in a
	// bidirectional test (--reverse-bitrate); 0 means the same as Rate.
	// Only a flowscope server honours it.
	ReverseRate uint64
	// Window sets SO_SNDBUF and SO_RCVBUF on data sockets (-w); zero keeps the
	// kernel's autotuning.
	Window int
	// Rate is the per-stream sending rate in bit/s (-b), applied through
	// SO_MAX_PACING_RATE; zero is unlimited.
	Rate uint64
	// Congestion is the TCP congestion control algorithm (-C); empty keeps the
	// host default.
	Congestion string
	// ConnectTimeout bounds the control connection's dial.
	ConnectTimeout time.Duration
	// StallWindow is how long a running stream may move no bytes before it is
	// marked stalled.
	StallWindow time.Duration
	// StallTimeout ends the test with an error when no stream has moved a
	// byte for this long; zero disables it.
	StallTimeout time.Duration
	// ConnectConcurrency bounds how many data connections are dialled at
	// once (flowscope servers only; stock servers get one at a time).
	ConnectConcurrency int
	// Loopback says the server runs in this process, which then needs two
	// file descriptors per stream.
	Loopback bool
	// AuthKey is the pre-shared key to prove to a server that requires one
	// (--auth-key-file); it is never sent.
	AuthKey []byte

	// Socket options, as iperf3's -M, -N, -S/--dscp, --cport, --bind-dev,
	// --snd-timeout and --dont-fragment. The server applies the ones that
	// cross the wire (MSS, NoDelay, TOS, DontFragment) to its sockets too.
	MSS          int
	NoDelay      bool
	TOS          int
	CPort        int
	BindDev      string
	SndTimeout   time.Duration
	DontFragment bool

	// Sending, as iperf3's -Z, --fq-rate, --repeating-payload and the
	// burst of -b RATE/BURST; both sides honour them for their senders.
	ZeroCopy bool
	// SkipRxCopy: TCP receivers (this side's, and a flowscope server's)
	// read with MSG_TRUNC, so the kernel drops the data instead of copying
	// it into the program (iperf3 3.19's --skip-rx-copy).
	SkipRxCopy bool
	// NoGSO: UDP streams (this side's, and a flowscope server's) move one
	// datagram per system call instead of batching with UDP GSO/GRO.
	NoGSO            bool
	FQRate           uint64 // bit/s, SO_MAX_PACING_RATE
	RepeatingPayload bool
	Burst            int

	// Blocks ends the test after this many blocks (-k); sent as iperf3's
	// blockcount.
	Blocks int64

	// Carried to the server: a title (-T), extra data for both JSON
	// documents (--extra-data), a request for the server's own report
	// (--get-server-output), and the CPU the server should run on (-A
	// n,m; -1: none).
	Title           string
	ExtraData       string
	GetServerOutput bool
	ServerAffinity  int
}

// DefaultConfig returns the configuration of a plain `flowscope -c HOST`.
func DefaultConfig() Config {
	return Config{
		Port:           DefaultPort,
		Network:        "tcp",
		Parallel:       1,
		Duration:       10 * time.Second,
		Interval:       time.Second,
		BlockSize:      DefaultBlockSize,
		ConnectTimeout: 10 * time.Second,
		StallWindow:    time.Second,
		StallTimeout:   10 * time.Second,

		ConnectConcurrency: 128,
		ServerAffinity:     -1,
	}
}

// MaxParallel bounds -P. Stock iperf3 stops at 128; flowscope peers go further.
const MaxParallel = 100000

// Validate reports the first problem with c as an error suitable for one
// line of user-facing output.
func (c *Config) Validate() error {
	switch {
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("port %d out of range 1-65535", c.Port)
	case c.Network != "tcp" && c.Network != "tcp4" && c.Network != "tcp6":
		return fmt.Errorf("unknown network %q", c.Network)
	case c.Parallel < 1 || c.Parallel > MaxParallel:
		return fmt.Errorf("parallel streams %d out of range 1-%d", c.Parallel, MaxParallel)
	case c.Duration < 0:
		return errors.New("test duration must not be negative")
	case c.Duration == 0 && c.Bytes == 0 && c.Blocks == 0:
		return errors.New("test needs a duration (-t) or a byte count (-n)")
	case c.Bytes < 0:
		return errors.New("byte count (-n) must not be negative")
	case c.Omit < 0:
		return errors.New("omit (-O) must not be negative")
	case c.Interval < 0:
		return errors.New("interval (-i) must not be negative")
	case c.Interval > 0 && c.Interval < 10*time.Millisecond:
		return fmt.Errorf("interval %v too short: the minimum is 10ms", c.Interval)
	case c.BlockSize < 0 || c.BlockSize > MaxBlockSize:
		return fmt.Errorf("block size %d out of range 1-%d", c.BlockSize, MaxBlockSize)
	case c.UDP && c.BlockSize != 0 && (c.BlockSize < MinUDPSize || c.BlockSize > MaxUDPSize):
		return fmt.Errorf("UDP datagram size %d out of range %d-%d", c.BlockSize, MinUDPSize, MaxUDPSize)
	case c.ReverseRate > 0 && !c.Bidir:
		return errors.New("--reverse-bitrate needs --bidir")
	case c.Window < 0:
		return errors.New("window (-w) must not be negative")
	case c.Reverse && c.Bidir:
		return errors.New("-R and --bidir cannot be combined")
	case c.StallTimeout < 0:
		return errors.New("stall timeout must not be negative")
	case c.MSS < 0 || c.MSS > 32767:
		return fmt.Errorf("MSS %d out of range 0-32767", c.MSS)
	case c.TOS < 0 || c.TOS > 255:
		return fmt.Errorf("TOS %d out of range 0-255", c.TOS)
	case c.CPort < 0 || c.CPort > 65535 || c.CPort > 0 && c.CPort+c.NumStreams() > 65536:
		return fmt.Errorf("client port %d out of range for %d streams", c.CPort, c.NumStreams())
	case c.Blocks < 0 || c.Burst < 0:
		return errors.New("block count and burst must not be negative")
	case c.ZeroCopy && c.UDP:
		return errors.New("-Z applies to TCP only")
	case c.SkipRxCopy && c.UDP:
		return errors.New("--skip-rx-copy applies to TCP only")
	case c.ConnectConcurrency < 1:
		return fmt.Errorf("connect concurrency %d must be at least 1", c.ConnectConcurrency)
	}
	return nil
}

// NumStreams is the number of data connections the test opens.
func (c *Config) NumStreams() int {
	if c.Bidir {
		return 2 * c.Parallel
	}
	return c.Parallel
}
