package engine

import (
	"fmt"
	"syscall"
)

// sockOpts are the per-socket options a test asks for.
type sockOpts struct {
	window      int    // SO_SNDBUF and SO_RCVBUF, 0 = autotune
	congestion  string // TCP_CONGESTION, "" = host default
	pacing      uint64 // SO_MAX_PACING_RATE in bytes/s, 0 = unlimited
	noPortBind  bool   // IP_BIND_ADDRESS_NO_PORT, for bind-before-connect
	mss         int    // TCP_MAXSEG (-M), 0 = path default
	tos         int    // IP_TOS / IPV6_TCLASS (-S, --dscp), 0 = default
	v6          bool   // the socket is IPv6: TOS goes to IPV6_TCLASS
	bindDev     string // SO_BINDTODEVICE (--bind-dev)
	userTimeout int    // TCP_USER_TIMEOUT in ms (--snd-timeout)
	udp         bool   // a UDP socket: TCP options are skipped
	dontFrag    bool   // IP_MTU_DISCOVER = IP_PMTUDISC_DO (--dont-fragment)
}

// control is a net.Dialer.Control function applying o before connect.
func (o sockOpts) control(_, _ string, rc syscall.RawConn) error {
	return o.apply(rc)
}

// apply sets the options on an existing socket.
func (o sockOpts) apply(rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = o.setAll(fd) }); err != nil {
		return fmt.Errorf("socket options: %w", err)
	}
	return serr
}

type rawConn = syscall.RawConn
