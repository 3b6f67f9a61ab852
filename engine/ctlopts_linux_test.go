package engine

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mptcpCapableSYNs reads the kernel's count of MP_CAPABLE SYNs received
// (MPTcpExtMPCapableSYNRX): one per MPTCP connection accepted here.
func mptcpCapableSYNs(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		t.Skipf("no /proc/net/netstat: %v", err)
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "MPTcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == "MPCapableSYNRX" {
				v, _ := strconv.Atoi(values[j])
				return v
			}
		}
	}
	t.Skip("this kernel counts no MPTCP connections (no MPTcpExt in /proc/net/netstat)")
	return 0
}

// TestMPTCP: with -m the control and every data connection are MPTCP
// connections (the kernel accepted them as MP_CAPABLE), and the test runs.
func TestMPTCP(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Skip("MPTCP is not enabled on this host (net.mptcp.enabled)")
	}
	ts := startServer(t, ServerConfig{})
	cfg := clientConfig(ts, 2, 300*time.Millisecond)
	cfg.MPTCP = true
	before := mptcpCapableSYNs(t)
	_, end, err := runClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range end.Streams {
		if s.Bytes == 0 {
			t.Errorf("stream %d moved nothing over MPTCP", s.ID)
		}
	}
	if got := mptcpCapableSYNs(t) - before; got < 3 {
		t.Errorf("the kernel accepted %d MPTCP connections; want at least 3 (control and 2 streams)", got)
	}
	<-ts.ends
}

// TestControlKeepAlive: --cntl-ka's values are on the client's control
// connection; without it, flowscope's own.
func TestControlKeepAlive(t *testing.T) {
	for _, c := range []struct {
		name                  string
		cntlKA                bool // --cntl-ka=20/3/2
		idle, interval, count int
	}{
		{"default", false, 10, 5, 4},
		{"cntl-ka 20/3/2", true, 20, 3, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, ServerConfig{})
			cfg := clientConfig(ts, 1, 200*time.Millisecond)
			if c.cntlKA {
				ka := controlKeepAlive(nil)
				ka.Idle, ka.Interval, ka.Count = 20*time.Second, 3*time.Second, 2
				cfg.ControlKeepAlive = &ka
			}
			cl := NewClient(cfg, nil)
			got := make(chan [3]int, 1)
			cl.hooks.afterDial = func(idx int) {
				if idx != 0 {
					return
				}
				rc, err := cl.s.ctl.SyscallConn()
				if err != nil {
					t.Error(err)
					return
				}
				var v [3]int
				_ = rc.Control(func(fd uintptr) {
					for i, opt := range []int{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT} {
						v[i], _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, opt)
					}
				})
				got <- v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := cl.Run(ctx); err != nil {
				t.Fatal(err)
			}
			<-ts.ends
			if v := <-got; v != [3]int{c.idle, c.interval, c.count} {
				t.Errorf("control connection keepalive idle/interval/count = %v, want %d/%d/%d", v, c.idle, c.interval, c.count)
			}
		})
	}
}
