package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.Duration = "127.0.0.1", port, time.Second
	rec, end, err := runClient(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want connection refused", err)
	}
	if end == nil || end.Err == nil || rec.end != end {
		t.Fatalf("client must emit one End carrying the error, got %+v", rec.end)
	}
}

// fakeServer accepts one test with the stock protocol, lets data flow
// briefly, then behaves as told.
func fakeServer(t *testing.T, afterRunning func(ctl net.Conn, data []net.Conn)) int {
	return fakeServerOpts(t, true, afterRunning)
}

// fakeServerOpts is fakeServer; with read false it never reads the data
// connections, as a receiver that stopped reading.
func fakeServerOpts(t *testing.T, read bool, afterRunning func(ctl net.Conn, data []net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		ctl, err := ln.Accept()
		if err != nil {
			return
		}
		defer ctl.Close()
		br := wire.NewReader(ctl)
		if _, err := wire.ReadCookie(br); err != nil {
			return
		}
		_ = wire.WriteState(ctl, wire.ParamExchange)
		msg, err := wire.ReadMessage(br, wire.MaxParamsSize)
		if err != nil {
			return
		}
		p, err := wire.UnmarshalParams(msg)
		if err != nil {
			return
		}
		_ = wire.WriteState(ctl, wire.CreateStreams) // stock: no extensions
		var data []net.Conn
		defer func() {
			for _, c := range data {
				c.Close()
			}
		}()
		n := p.Parallel
		if p.Bidirectional {
			n *= 2
		}
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			data = append(data, c)
			if _, err := wire.ReadCookie(c); err != nil {
				return
			}
			if !read {
				continue
			}
			go func() { // discard what the client sends
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
		_ = wire.WriteState(ctl, wire.TestStart)
		_ = wire.WriteState(ctl, wire.TestRunning)
		afterRunning(ctl, data)
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServerVanishes: the server's connections close abruptly mid-test, as
// when its process is killed. The client must fail promptly with a clear
// error instead of running out the clock.
func TestServerVanishes(t *testing.T) {
	t.Parallel()
	port := fakeServer(t, func(ctl net.Conn, data []net.Conn) {
		for _, c := range data { // let data flow: a block on each stream
			_, _ = io.ReadFull(c, make([]byte, 64<<10))
		}
		for _, c := range data {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		ctl.(*net.TCPConn).SetLinger(0)
	})
	cfg := DefaultConfig()
	cfg.Host, cfg.Port, cfg.Parallel, cfg.Duration = "127.0.0.1", port, 2, 30*time.Second
	begin := time.Now()
	_, end, err := runClient(t, cfg)
	if err == nil {
		t.Fatal("test against a vanished server succeeded")
	}
	if took := time.Since(begin); took >= cfg.Duration {
		t.Errorf("client took %v to notice the server was gone: it ran out its clock", took)
	}
	if end == nil || len(end.Streams) != 2 {
		t.Fatalf("end = %+v, want the partial results of 2 streams", end)
	}
	t.Logf("error: %v", err)
}

func TestServerBusy(t *testing.T) {
	t.Parallel()
	// The fake server holds its one test open; a second client is refused
	// by our real server while it runs a test.
	ts := startServer(t, ServerConfig{})
	first := make(chan error, 1)
	cfg := clientConfig(ts, 1, 3*time.Second)
	running := make(chan struct{})
	var once bool
	go func() {
		_, err := NewClient(cfg, func(ev Event) {
			if _, ok := ev.(*Sample); ok && !once {
				once = true
				close(running)
			}
		}).Run(context.Background())
		first <- err
	}()
	<-running
	_, _, err := runClient(t, clientConfig(ts, 1, time.Second))
	if !errors.Is(err, ErrServerBusy) {
		t.Errorf("second client: err = %v, want ErrServerBusy", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first client: %v", err)
	}
	<-ts.ends
}

// TestServerSurvivesBadClients: garbage, a silent connection and a client
// that vanishes after the parameters do not stop the next test.
func TestServerSurvivesBadClients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	addr := ts.addr.String()

	silent, err := net.Dial("tcp", addr) // sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	garbage, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	garbage.Write([]byte(strings.Repeat("GET / HTTP/1.0\r\n", 4)))
	// The server takes it for a control connection, asks for parameters and
	// reads garbage as a length: it must answer an error and close.
	garbage.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, _ := garbage.Read(buf)
	if n == 0 {
		t.Error("server sent nothing to a garbage client")
	}
	garbage.Close()
	if e := <-ts.ends; e.Err == nil {
		t.Error("server reported success for a garbage client")
	}

	quitter, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	quitter.Write(wire.EncodeCookie(wire.NewCookie()))
	br := wire.NewReader(quitter)
	if st, _ := wire.ReadState(br); st != wire.ParamExchange {
		t.Fatalf("state %v, want PARAM_EXCHANGE", st)
	}
	p := &wire.Params{TCP: true, Time: 5, Parallel: 2, Len: 1000}
	wire.WriteMessage(quitter, p.Marshal())
	if st, _ := wire.ReadState(br); st != wire.CreateStreams {
		t.Fatalf("state %v, want CREATE_STREAMS", st)
	}
	quitter.Close() // vanish before opening streams
	if e := <-ts.ends; e.Err == nil {
		t.Error("server reported success for a client that vanished")
	}

	_, end, err := runClient(t, clientConfig(ts, 2, 500*time.Millisecond))
	if err != nil {
		t.Fatalf("next client after bad ones: %v", err)
	}
	checkConservation(t, end)
	<-ts.ends
}

// TestRejectsBadParamsClearly: a UDP datagram size below the header's
// gets iperf3's SERVER_ERROR, not a hang or a crash.
func TestRejectsBadParamsClearly(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	conn, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write(wire.EncodeCookie(wire.NewCookie()))
	br := wire.NewReader(conn)
	wire.ReadState(br)
	wire.WriteMessage(conn, (&wire.Params{UDP: true, Time: 1, Parallel: 1, Len: 8}).Marshal())
	st, _ := wire.ReadState(br)
	if st != wire.ServerError {
		t.Fatalf("state %v, want SERVER_ERROR", st)
	}
	// iperf3's "block size invalid", which a stock client prints.
	if pe := wire.ReadServerError(br); pe.Code != wire.ErrUDPBlockSize {
		t.Errorf("code %d, want %d", pe.Code, wire.ErrUDPBlockSize)
	}
	<-ts.ends
}

func TestByteLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 2, 0)
	cfg.Bytes = 50 << 20
	_, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, s := range end.Streams {
		total += s.Bytes
	}
	// Each sender may finish its block in flight after the limit.
	if total < uint64(cfg.Bytes) || total > uint64(cfg.Bytes)+uint64(2*cfg.BlockSize) {
		t.Errorf("sent %d bytes for -n %d", total, cfg.Bytes)
	}
	checkConservation(t, end)
	<-ts.ends
}

func TestOmit(t *testing.T) {
	t.Parallel()
	ts := startServer(t, ServerConfig{Interval: 250 * time.Millisecond})
	cfg := clientConfig(ts, 1, time.Second)
	cfg.Omit = time.Second
	cfg.Interval = 250 * time.Millisecond
	rec, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The omitted intervals come first, the last of them ends the omit
	// period, and the measured ones start again from 0. (A loaded machine
	// may skip a late tick, so their number is not fixed.)
	omitted, measuredSamples := 0, 0
	var sent, measured uint64
	for _, s := range rec.samples {
		sent += s.Sent.Bytes
		if s.Omitted {
			if measuredSamples > 0 {
				t.Errorf("omitted sample %d after a measured one", s.Seq)
			}
			omitted++
			continue
		}
		if measuredSamples == 0 && s.Start != 0 {
			t.Errorf("the first measured sample starts at %v, want 0", s.Start)
		}
		measuredSamples++
		measured += s.Sent.Bytes
	}
	if omitted == 0 || measuredSamples == 0 {
		t.Errorf("%d omitted and %d measured samples, want both", omitted, measuredSamples)
	}
	if end.Streams[0].Bytes != measured {
		t.Errorf("result %d bytes, measured intervals add up to %d", end.Streams[0].Bytes, measured)
	}
	// The measured part runs from the end of the omit period to the end
	// of the test, which comes no earlier than -t after it.
	if end.Seconds < cfg.Duration.Seconds()-0.01 {
		t.Errorf("measured %.3f s of a %v test", end.Seconds, cfg.Duration)
	}
	// Each side cuts the omit period at its own clock, so the measured
	// totals may differ; the whole test's do not: the receiver drained
	// every byte the sender wrote, omitted or not.
	srvEnd := <-ts.ends
	var received uint64
	for _, ev := range ts.eventsOf(srvEnd.Test) {
		if s, ok := ev.(*Sample); ok {
			received += s.Received.Bytes
		}
	}
	if received != sent {
		t.Errorf("the client's samples add up to %d bytes sent, the server's to %d received", sent, received)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	base.Host = "x"
	bad := map[string]func(c *Config){
		"port":     func(c *Config) { c.Port = 70000 },
		"parallel": func(c *Config) { c.Parallel = 0 },
		"interval": func(c *Config) { c.Interval = time.Millisecond },
		"length":   func(c *Config) { c.BlockSize = -1 },
		"R+bidir":  func(c *Config) { c.Reverse, c.Bidir = true, true },
		"no end":   func(c *Config) { c.Duration = 0 },
		"network":  func(c *Config) { c.Network = "udp" },
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mutate := range bad {
		c := base
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_ = strconv.Itoa
}

// TestResetControlMessage: a control connection reset by the peer reads
// as one "read: connection reset by peer", not "read: read: …", and the
// cause stays testable.
func TestResetControlMessage(t *testing.T) {
	cli, srv := tcpPair(t)
	if err := srv.SetLinger(0); err != nil { // close sends RST
		t.Fatal(err)
	}
	srv.Close()
	_, err := wire.ReadState(wire.NewReader(cli))
	if err == nil {
		t.Fatal("read after the peer's reset succeeded")
	}
	got := describeCtlErr(err)
	if msg := got.Error(); strings.Contains(msg, "read: read:") || !strings.Contains(msg, "connection reset by peer") {
		t.Errorf("message %q; want one \"read: connection reset by peer\"", msg)
	}
	if !errors.Is(got, syscall.ECONNRESET) {
		t.Errorf("%v does not wrap ECONNRESET", got)
	}
}
