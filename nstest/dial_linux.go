package nstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialContext opens a connection from inside ns, so a test can reach an
// address that exists only there (a server in a namespace, or its
// 127.0.0.1) without running a helper program in it. A goroutine locked
// to its thread joins ns, makes the socket and returns to the thread's
// own namespace; the socket stays in ns. Should the way back fail, the
// thread stays locked and the runtime retires it with the goroutine.
func (ns Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return ns.dial(ctx, &net.Dialer{}, network, addr)
}

// DialFrom is DialContext from the local address laddr (host:port, port
// 0 for any), which must exist in ns: a test sends from an address of its
// choosing, a second client or a spoofed one.
func (ns Namespace) DialFrom(ctx context.Context, network, laddr, addr string) (net.Conn, error) {
	var la net.Addr
	var err error
	switch network {
	case "udp", "udp4", "udp6":
		la, err = net.ResolveUDPAddr(network, laddr)
	default:
		la, err = net.ResolveTCPAddr(network, laddr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s in netns %s: %w", addr, laddr, ns.Name, err)
	}
	return ns.dial(ctx, &net.Dialer{LocalAddr: la}, network, addr)
}

func (ns Namespace) dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s in netns %s: %w", addr, ns.Name, err)}
			return
		}
		defer home.Close()
		target, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s in netns %s: %w", addr, ns.Name, err)}
			return
		}
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		_ = target.Close()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("dial %s: join netns %s: %w", addr, ns.Name, err)}
			return
		}
		c, err := d.DialContext(ctx, network, addr)
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// HTTPClient returns an HTTP client whose connections are made inside ns,
// each request bounded by timeout.
func (ns Namespace) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       ns.DialContext,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}
