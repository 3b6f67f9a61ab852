// Package engine runs flowscope throughput tests: the client, the server,
// one goroutine per flow, and the sampler that turns per-flow counters into
// one Sample per reporting interval. Front ends consume the engine's Events
// and nothing else.
package engine

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/flowscope/flowscope/buildinfo"
)

// Version is the flowscope version reported in results and to peers: the
// build's version and revision (see package buildinfo).
var Version = buildinfo.Read().String()

// DefaultPort is iperf3's well-known port, which flowscope shares.
const DefaultPort = 5201

// DefaultBlockSize is the TCP read/write size (iperf3's -l default).
const DefaultBlockSize = 128 * 1024

// MaxBlockSize bounds -l so a peer cannot make us allocate absurd buffers.
const MaxBlockSize = 16 * 1024 * 1024

// Config describes one test as the client runs it: the test's Params
// (what the server receives through the parameter exchange) and what stays
// on this side.
type Config struct {
	// Params is the test itself.
	Params

	// Host is the server to connect to (client only).
	Host string
	// Port is the server's TCP port.
	Port int
	// Network is "tcp", "tcp4" or "tcp6" (-4/-6).
	Network string
	// BindAddr is the local address to bind to (-B), empty for any.
	BindAddr string

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

	// Local socket options, as iperf3's --cport, --bind-dev and
	// --snd-timeout (the ones that cross the wire are in Params).
	CPort      int
	BindDev    string
	SndTimeout time.Duration
	// ControlKeepAlive is the control connection's TCP keepalive
	// (--cntl-ka); nil: flowscope's own (see controlKeepAlive).
	ControlKeepAlive *net.KeepAliveConfig
}

// controlKeepAlive is a control connection's TCP keepalive: ka when given
// (--cntl-ka), else probes after 10 s without traffic, every 5 s, and the
// connection ends after 4 unanswered, so a peer that vanished while no
// data flows ends the test within 30 s.
func controlKeepAlive(ka *net.KeepAliveConfig) net.KeepAliveConfig {
	if ka != nil {
		return *ka
	}
	return net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 4}
}

// DefaultConfig returns the configuration of a plain `flowscope -c HOST`.
func DefaultConfig() Config {
	return Config{
		Params: Params{
			Protocol:       ProtoTCP,
			Parallel:       1,
			Duration:       10 * time.Second,
			Interval:       time.Second,
			BlockSize:      DefaultBlockSize,
			ServerAffinity: -1,
		},
		Port:           DefaultPort,
		Network:        "tcp",
		ConnectTimeout: 10 * time.Second,
		StallWindow:    time.Second,
		StallTimeout:   10 * time.Second,

		ConnectConcurrency: 128,
	}
}

// MaxParallel bounds -P. Stock iperf3 stops at 128; flowscope peers go further.
const MaxParallel = 100000

// Validate reports the first problem with c as an error suitable for one
// line of user-facing output; its cause is CauseInvalid.
func (c *Config) Validate() error {
	var err error
	switch {
	case c.Port < 1 || c.Port > 65535:
		err = fmt.Errorf("port %d out of range 1-65535", c.Port)
	case c.Network != "tcp" && c.Network != "tcp4" && c.Network != "tcp6":
		err = fmt.Errorf("unknown network %q", c.Network)
	case c.StallTimeout < 0:
		err = errors.New("stall timeout must not be negative")
	case c.CPort < 0 || c.CPort > 65535 || c.CPort > 0 && c.CPort+c.NumStreams() > 65536:
		err = fmt.Errorf("client port %d out of range for %d streams", c.CPort, c.NumStreams())
	case c.ConnectConcurrency < 1:
		err = fmt.Errorf("connect concurrency %d must be at least 1", c.ConnectConcurrency)
	case c.checkPlatform() != nil:
		err = c.checkPlatform()
	default:
		return c.Params.validate(Limits{})
	}
	return &Error{Cause: CauseInvalid, Err: err}
}
