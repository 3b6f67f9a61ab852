package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/flowscope/flowscope/nstest"
)

// The veth scenarios run the server in one network namespace and the
// client in another, joined by a veth pair: nstest's two-namespace
// topology (nstest.NewPair), which also removes namespaces an earlier,
// killed run left behind. The namespaces exist only for one scenario and
// are removed afterwards (also after Ctrl-C). The addresses exist only
// inside them, which have nothing but the veth pair and lo: no packet
// leaves the host.

// vethSrvAddr is the server's address inside its namespace.
const vethSrvAddr = nstest.PairServerAddr

// netTopo is a client and a server namespace joined by a veth pair.
type netTopo struct {
	tp   *nstest.Topology
	port int // last server port handed out
}

// nextPort returns a new server port for the next run: the namespaces are
// the harness's own, so nothing else can hold it.
func (t *netTopo) nextPort() int {
	if t.port == 0 {
		t.port = 5300
	}
	t.port++
	return t.port
}

// netnsMissing says why the veth scenarios cannot run here, or "".
func netnsMissing() string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d)", os.Geteuid()))
	}
	for _, bin := range []string{"ip", "ss"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" (iproute2)")
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "skipped, needs " + strings.Join(missing, ", ") + " for network namespaces"
}

// newNetTopo builds the two namespaces and the veth pair.
func newNetTopo(ctx context.Context) (*netTopo, error) {
	tp, err := nstest.NewPair(ctx)
	if err != nil {
		return nil, err
	}
	return &netTopo{tp: tp}, nil
}

// close kills whatever still runs in the namespaces and deletes them (the
// veth pair goes with them), on a deadline of its own. Safe to call twice
// and on nil.
func (t *netTopo) close() error {
	if t == nil {
		return nil
	}
	return t.tp.Close()
}

// wrapNetns makes argv run inside namespace ns: `ip netns exec` execs the
// program after switching, so the process (its pid, rusage, and the
// parent-death signal) is the program itself.
func wrapNetns(ns nstest.Namespace, argv []string) []string {
	return append([]string{"ip", "netns", "exec", ns.Name}, argv...)
}

// waitListeningNetns polls `ss` in ns until something listens on TCP
// port (it never connects: iperf3 -s would take a probe for a client).
func waitListeningNetns(ctx context.Context, s *server, ns nstest.Namespace, port int, deadline time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	err := ns.WaitListening(wctx, port, func() bool { return !s.exited() })
	switch {
	case err == nil:
		return nil
	case s.exited():
		return fmt.Errorf("%w: %v%s", errServerExited, s.waitErr, tail(s.out.String()))
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("server not listening on port %d in %s after %s: %v%s", port, ns, deadline, err, tail(s.out.String()))
}
