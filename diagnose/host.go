package diagnose

import (
	"fmt"

	"github.com/flowscope/flowscope/sysctl"
)

// host is one OS's vocabulary for the evidence and fixes of findings about
// that host: setting names, the command that changes them, the tool that
// shows sockets.
type host struct{ n sysctl.Names }

// local is the host this program runs on: findings about this host (file
// limits, local ports, socket buffers) use its vocabulary. Findings about
// the server, whose OS a client does not know, name Linux's and the BSDs'
// settings.
var local = host{sysctl.HostNames}

func hostFor(goos string) host { return host{sysctl.NamesFor(goos)} }

// set returns the command that sets a sysctl.
func (h host) set(assignments string) string { return "sysctl -w " + assignments }

// portRange names the ephemeral port range setting.
func (h host) portRange() string {
	if h.n.PortLast != "" {
		return h.n.PortFirst + "…" + h.n.PortLast
	}
	if h.n.PortFirst == "" {
		return "the dynamic port range"
	}
	return h.n.PortFirst
}

// portRangeFix widens the ephemeral port range.
func (h host) portRangeFix() string {
	switch {
	case h.n.OS == "windows":
		return "netsh int ipv4 set dynamicport tcp start=1025 num=64511 (as administrator)"
	case h.n.PortLast != "":
		return h.set(h.n.PortFirst + "=1024 " + h.n.PortLast + "=65535")
	case h.n.PortFirst != "":
		return h.set(h.n.PortFirst + `="1024 65535"`)
	}
	return ""
}

// bufferFix raises the socket buffer caps to allow window bytes.
func (h host) bufferFix(window int64) string {
	switch {
	case h.n.RmemMax == "":
		return ""
	case h.n.RmemMax == h.n.WmemMax:
		// The BSDs' cap counts the buffers' bookkeeping too.
		return h.set(fmt.Sprintf("%s=%d", h.n.RmemMax, 2*window))
	}
	return h.set(fmt.Sprintf("%s=%d %s=%d", h.n.RmemMax, window, h.n.WmemMax, window))
}

// fdFix raises this process's open file limit to need.
func (h host) fdFix(need int64) string {
	switch h.n.OS {
	case "darwin":
		return fmt.Sprintf("ulimit -n %d (if the hard limit is lower: sudo launchctl limit maxfiles %d unlimited)", need, need)
	case "freebsd":
		return fmt.Sprintf("ulimit -n %d (kern.maxfilesperproc caps the hard limit: %s)", need, h.set(fmt.Sprintf("kern.maxfilesperproc=%d", need)))
	}
	return fmt.Sprintf("ulimit -n %d (raise the hard limit in /etc/security/limits.conf or systemd LimitNOFILE= first if it is lower)", need)
}

// socketsCmd shows the TCP sockets with their kernel state.
func (h host) socketsCmd() string {
	switch h.n.OS {
	case "darwin":
		return "netstat -anv -p tcp"
	case "freebsd":
		return "netstat -an -p tcp"
	case "windows":
		return "netstat -ano -p tcp"
	}
	return "ss -tin"
}

// Findings about the server: its OS is not known here.
const (
	somaxconnFix   = "sysctl -w net.core.somaxconn=65536 (macOS, FreeBSD: sysctl -w kern.ipc.somaxconn=65536)"
	acceptQueueCmd = "ss -lnt; macOS, FreeBSD: netstat -Lan"
)
