package interop

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// reorderProxy stands between an iperf3-protocol client and server on
// loopback and makes the server's accept order the reverse of the
// client's connect order, as load and RSS do in the field
// (esnet/iperf#2029): the first connection (the control connection) goes
// straight through; the next hold connections (the data connections of a
// test) are held until all have arrived, then connected to the server one
// at a time, last arrival first, each handshake complete before the next
// starts. From then on bytes are copied both ways, and a half-close on one
// side is passed on to the other. It serves one test.
type reorderProxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	hold   int
	// delay holds back what the server sends on the data connections
	// for this long after the proxy connected them (0: none).
	delay time.Duration

	mu    sync.Mutex
	conns []net.Conn // every connection, both sides, closed at cleanup
	// upstream is the arrival index of each data connection, in the
	// order it was connected to the server.
	upstream []int
	// client and server are, by arrival index, each data connection's
	// port on the client (its remote port here) and on the proxy's side
	// towards the server (what the server sees as its remote port).
	client, server []int
	wg             sync.WaitGroup
}

// startReorderProxy listens on a free loopback port and forwards to
// target, holding the hold data connections that follow the control
// connection. It returns the port to give the client.
func startReorderProxy(t *testing.T, target string, hold int) (*reorderProxy, int) {
	t.Helper()
	return startDelayingProxy(t, target, hold, 0)
}

// startDelayingProxy is startReorderProxy whose data connections, in
// addition, carry nothing from the server to the client until delay has
// passed: a stock peer whose first data comes later than flowscope waits.
func startDelayingProxy(t *testing.T, target string, hold int, delay time.Duration) (*reorderProxy, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &reorderProxy{t: t, ln: ln, target: target, hold: hold, delay: delay}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p, ln.Addr().(*net.TCPAddr).Port
}

func (p *reorderProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *reorderProxy) serve() {
	defer p.wg.Done()
	ctl, err := p.ln.Accept()
	if err != nil {
		return
	}
	p.track(ctl)
	if err := p.forward(ctl); err != nil {
		p.t.Logf("reorder proxy: control connection: %v", err)
		return
	}
	held := make([]net.Conn, 0, p.hold)
	for len(held) < p.hold {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		held = append(held, c)
	}
	p.mu.Lock()
	p.client, p.server = make([]int, len(held)), make([]int, len(held))
	for i, c := range held {
		p.client[i] = c.RemoteAddr().(*net.TCPAddr).Port
	}
	p.mu.Unlock()
	for i := len(held) - 1; i >= 0; i-- {
		up, err := p.forwardUp(held[i], p.delay)
		if err != nil {
			p.t.Logf("reorder proxy: data connection %d: %v", i, err)
			return
		}
		p.mu.Lock()
		p.upstream = append(p.upstream, i)
		p.server[i] = up.LocalAddr().(*net.TCPAddr).Port
		p.mu.Unlock()
	}
	// Anything later (a stray connection) goes straight through.
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		if p.forward(c) != nil {
			return
		}
	}
}

// forward connects down to the server (the dial returns once the
// handshake is complete, so the server's accept queue holds the
// connections in the order forward is called) and copies both ways.
func (p *reorderProxy) forward(down net.Conn) error {
	_, err := p.forwardUp(down, 0)
	return err
}

// forwardUp is forward, returning the connection to the server; what the
// server sends is held back for delay.
func (p *reorderProxy) forwardUp(down net.Conn, delay time.Duration) (net.Conn, error) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = down.Close()
		return nil, err
	}
	p.track(up)
	p.wg.Add(2)
	go p.pipe(up.(*net.TCPConn), down.(*net.TCPConn), 0)
	go p.pipe(down.(*net.TCPConn), up.(*net.TCPConn), delay)
	return up, nil
}

// pipe copies src to dst (after delay) until src ends, then half-closes
// dst; on an error it closes both, which the other direction sees too.
func (p *reorderProxy) pipe(dst, src *net.TCPConn, delay time.Duration) {
	defer p.wg.Done()
	if delay > 0 {
		// Not synchronisation: the delay is the behaviour modelled.
		timer := time.NewTimer(delay)
		<-timer.C
	}
	_, err := io.Copy(dst, src)
	if err == nil || errors.Is(err, io.EOF) {
		_ = dst.CloseWrite()
		return
	}
	_ = dst.Close()
	_ = src.Close()
}

// order returns the arrival index of each data connection in the order
// the proxy connected them to the server.
func (p *reorderProxy) order() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.upstream...)
}

// ports returns, by arrival index, each data connection's port on the
// client and the port the server sees it from.
func (p *reorderProxy) ports() (client, server []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.client...), append([]int(nil), p.server...)
}

func (p *reorderProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
