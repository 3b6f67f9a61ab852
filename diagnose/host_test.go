package diagnose

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowscope/flowscope/sysctl"
)

// TestMain pins the host vocabulary to Linux's, so the tables of the other
// tests hold Linux's texts whatever OS runs them; asHost switches it.
func TestMain(m *testing.M) {
	local = hostFor("linux")
	os.Exit(m.Run())
}

// asHost makes findings about this host use goos's vocabulary until the
// test ends.
func asHost(t *testing.T, goos string) {
	t.Helper()
	saved := local
	local = hostFor(goos)
	t.Cleanup(func() { local = saved })
}

func TestFixesNameTheHostsSettings(t *testing.T) {
	cases := []struct {
		goos                     string
		ports, window, fds, sock []string
	}{
		{"linux",
			[]string{`sysctl -w net.ipv4.ip_local_port_range="1024 65535"`, "net.ipv4.ip_local_port_range holds 1000"},
			[]string{"sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608", "net.core.rmem_max 4194304", "silently capped"},
			[]string{"ulimit -n 2064", "limits.conf"}, []string{"ss -tin"}},
		{"darwin",
			[]string{"sysctl -w net.inet.ip.portrange.first=1024 net.inet.ip.portrange.last=65535", "net.inet.ip.portrange.first…net.inet.ip.portrange.last holds 1000"},
			[]string{"sysctl -w kern.ipc.maxsockbuf=16777216", "kern.ipc.maxsockbuf 4194304", "refuses"},
			[]string{"ulimit -n 2064", "launchctl limit maxfiles 2064"}, []string{"netstat -anv -p tcp"}},
		{"freebsd",
			[]string{"sysctl -w net.inet.ip.portrange.first=1024 net.inet.ip.portrange.last=65535"},
			[]string{"sysctl -w kern.ipc.maxsockbuf=16777216"},
			[]string{"ulimit -n 2064", "sysctl -w kern.maxfilesperproc=2064"}, []string{"netstat -an -p tcp"}},
		{"windows",
			[]string{"netsh int ipv4 set dynamicport tcp start=1025 num=64511"}, nil, nil, []string{"netstat -ano -p tcp"}},
	}
	for _, c := range cases {
		asHost(t, c.goos)
		all := func(what string, f *Finding, want []string) {
			t.Helper()
			if f == nil {
				if want != nil {
					t.Errorf("%s %s: no finding", c.goos, what)
				}
				return
			}
			text := f.String()
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("%s %s: %q lacks %q", c.goos, what, text, w)
				}
			}
			if c.goos != "linux" && strings.Contains(text, "net.core") || c.goos != "linux" && strings.Contains(text, "net.ipv4") {
				t.Errorf("%s %s names a Linux setting: %q", c.goos, what, text)
			}
		}
		all("ports", EphemeralPorts(1000, 1000), c.ports)
		all("setup", SetupFailed(map[string]int{CausePorts: 3}, 10), c.ports[:1])
		maxBuf := int64(4 << 20)
		if c.goos == "windows" {
			maxBuf = sysctl.Unknown
		}
		all("window", WindowClamped(8<<20, maxBuf, maxBuf), c.window)
		soft := int64(1024)
		if c.goos == "windows" {
			soft = sysctl.Unknown
		}
		all("fds", FDLimit(1000, 1, soft, soft), c.fds)
		all("stall", Stalled([]StalledStream{{ID: 1, For: time.Second, Reason: "odd"}}, 1, DirAny), c.sock)
		asHost(t, "linux")
	}
	// The server's OS is not known to a client: both vocabularies.
	f := BacklogSmall(1000, 128)
	if !strings.Contains(f.Fix, "net.core.somaxconn=65536") || !strings.Contains(f.Fix, "kern.ipc.somaxconn=65536") {
		t.Errorf("backlog fix %q names not both Linux's and the BSDs' setting", f.Fix)
	}
}

// What macOS, FreeBSD and Windows do not report must not decide a stall's
// reason: their zero would read as a closed window or an idle sender.
func TestStallReasonUsesOnlyKnownFields(t *testing.T) {
	cases := []struct {
		name    string
		ti      sysctl.TCPInfo
		sending bool
		want    string
	}{
		{"macOS sender, window open", sysctl.TCPInfo{Known: sysctl.FieldSndWnd | sysctl.FieldSndCwnd | sysctl.FieldRTO, SndWnd: 65535, SndCwnd: 10, RTO: 200000}, true, "no progress (cwnd 10, RTO 200ms)"},
		{"macOS sender, peer window 0", sysctl.TCPInfo{Known: sysctl.FieldSndWnd, SndWnd: 0}, true, "peer window 0: the receiver is not reading"},
		{"Windows receiver", sysctl.TCPInfo{Known: sysctl.FieldRcvWnd, RcvWnd: 65535}, false, "no data arriving"},
		{"nothing known, sender", sysctl.TCPInfo{}, true, "no progress"},
		{"nothing known, receiver", sysctl.TCPInfo{LastDataRecv: 10}, false, "no data arriving"},
	}
	for _, c := range cases {
		if got := StallReason(c.ti, c.sending, false, time.Second); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
