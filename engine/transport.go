package engine

import (
	"context"
	"net"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// transport is what differs between TCP and UDP tests, in the manner of
// iperf3's struct protocol: how the client opens data connections and the
// server accepts them, the default block size, and whether receivers drain
// at the end. Per stream, the flow loop and the counters of each interval
// and of the results differ too; they are the transport's streamIO (see
// there). Everything else — the control protocol, the sampler, the events —
// is the same for both.
//
// This is also the seam for platform code: the Linux-only accelerations
// (owned blocking sockets, UDP GSO/GRO, MSG_TRUNC, the -Z payload file) sit
// in the TCP and UDP flow loops behind streamIO.run.
type transport interface {
	// defaultBlockSize is -l when not given, for a control connection.
	defaultBlockSize(ctl *net.TCPConn) int
	// dial opens every data connection of a client's test.
	dial(ctx context.Context, c *Client, server net.Addr, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error)
	// listen readies a server for its test's data connections before
	// CREATE_STREAMS goes out; the returned func releases what it holds.
	listen(ctx context.Context, t *serverTest) (release func(), err error)
	// accept waits for a server's data connections and makes them flows
	// whose senders send at sendRate.
	accept(ctx context.Context, t *serverTest, sendRate uint64, ctlState <-chan stateResult) (flowSet, error)
	// drains: receivers can read to EOF after the senders shut down (with
	// a flowscope peer that agreed to ExtDrain).
	drains() bool
	// listenBacklog: data connections queue in the server's listen
	// backlog, so a client dialling many at once may overflow it.
	listenBacklog() bool
	// endGrace is how long a client whose senders stopped waits before
	// TEST_END, so that its last data reaches the server first.
	endGrace(p *Params) time.Duration
}

// transportFor returns the transport of a protocol.
func transportFor(p Protocol) transport {
	if p == ProtoUDP {
		return udpTransport{}
	}
	return tcpTransport{}
}

// tcpTransport runs TCP tests.
type tcpTransport struct{}

func (tcpTransport) defaultBlockSize(*net.TCPConn) int { return DefaultBlockSize }

func (tcpTransport) dial(ctx context.Context, c *Client, server net.Addr, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error) {
	return c.dialStreams(ctx, server, ext, emit)
}

func (tcpTransport) listen(context.Context, *serverTest) (func(), error) { return func() {}, nil }

func (tcpTransport) accept(ctx context.Context, t *serverTest, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	return t.acceptTCP(ctx, sendRate, ctlState)
}

func (tcpTransport) drains() bool        { return true }
func (tcpTransport) listenBacklog() bool { return true }

// endGrace is none: the receivers drain, or a stock server reads what
// arrived before it stops.
func (tcpTransport) endGrace(*Params) time.Duration { return 0 }

// udpTransport runs UDP tests.
type udpTransport struct{}

// defaultBlockSize is iperf3's: one datagram per segment of the control
// connection's path.
func (udpTransport) defaultBlockSize(ctl *net.TCPConn) int {
	if m := mss(mustRaw(ctl)); m >= MinUDPSize {
		return min(m, MaxUDPSize)
	}
	return 1460
}

func (udpTransport) dial(ctx context.Context, c *Client, server net.Addr, ext *wire.Extensions, emit func(Event)) (flowSet, []time.Duration, error) {
	return c.dialUDPStreams(ctx, server, ext, emit)
}

func (udpTransport) listen(ctx context.Context, t *serverTest) (func(), error) {
	var token []byte // a flowscope client proves its streams are its own
	if t.ext.Has(wire.ExtUDPToken) && t.roles {
		token = wire.UDPStreamToken(t.srv.cfg.AuthKey, t.cookie, t.authNonce)
	}
	if err := t.joinUDP(ctx, &t.params, token); err != nil {
		return nil, err
	}
	return t.leaveUDP, nil
}

func (udpTransport) accept(ctx context.Context, t *serverTest, sendRate uint64, ctlState <-chan stateResult) (flowSet, error) {
	return t.acceptUDP(ctx, sendRate, ctlState)
}

func (udpTransport) drains() bool        { return false }
func (udpTransport) listenBacklog() bool { return false }

// maxUDPEndGrace bounds udpTransport.endGrace at low rates.
const maxUDPEndGrace = 100 * time.Millisecond

// endGrace is one datagram's gap at the sending rate, at most
// maxUDPEndGrace, when the client sends: a stock server stops counting at
// TEST_END, and a TEST_END sent right after the last datagram can be read
// first (iperf3's server then reports one datagram fewer than was sent).
// Nothing when the client only receives.
func (udpTransport) endGrace(p *Params) time.Duration {
	if p.Reverse && !p.Bidir {
		return 0
	}
	if p.Rate == 0 {
		return time.Millisecond
	}
	gap := time.Duration(float64(p.BlockSize*8) / float64(p.Rate) * float64(time.Second))
	return min(max(gap, time.Millisecond), maxUDPEndGrace)
}
