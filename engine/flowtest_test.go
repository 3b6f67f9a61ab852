package engine

import (
	"net"
	"testing"
)

// Helpers for the tests of one flow on a loopback connection, in both
// builds (with Linux's accelerations and without).

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

// loopFlow wraps one end of a loopback pair as a flow; owned takes the
// socket out of Go's poller, as tests with few flows do.
func loopFlow(tb testing.TB, dir Dir, conn *net.TCPConn, owned bool) *flow {
	tb.Helper()
	f, err := newFlow(0, dir, conn, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if owned {
		if !accelerated {
			tb.Skip("a portable build has no owned sockets")
		}
		f.detach()
		if f.own == nil {
			tb.Fatal("socket was not detached")
		}
	}
	return f
}
