package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The veth scenarios run the server in one network namespace and the
// client in another, joined by a veth pair. The namespaces are named
// "fsbench-<harness pid>-c" and "-s"; they exist only for one scenario and
// are removed afterwards (also after Ctrl-C), and a later run removes any
// whose harness is gone (killed with SIGKILL). The addresses exist only
// inside the namespaces, which have nothing but the veth pair and lo: no
// packet leaves the host. The commands are those of nstest/topo.go.

const (
	nsPrefix      = "fsbench-"
	vethCliAddr   = "10.212.0.1"
	vethSrvAddr   = "10.212.0.2"
	nsCmdTimeout  = 10 * time.Second
	nsCleanupTime = 30 * time.Second
)

// netTopo is a client and a server namespace joined by a veth pair.
type netTopo struct {
	cli, srv string // namespace names
	created  []string
	port     int // last server port handed out
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
	removeStaleNetns(ctx)
	pid := strconv.Itoa(os.Getpid())
	t := &netTopo{cli: nsPrefix + pid + "-c", srv: nsPrefix + pid + "-s"}
	err := t.build(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("build veth namespaces: %w", err), t.close())
	}
	return t, nil
}

func (t *netTopo) build(ctx context.Context) error {
	for _, ns := range []string{t.cli, t.srv} {
		if err := ipCmd(ctx, "netns", "add", ns); err != nil {
			return err
		}
		t.created = append(t.created, ns)
		if err := ipCmd(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"link", "add", "vc", "netns", t.cli, "type", "veth", "peer", "name", "vs", "netns", t.srv},
		{"-n", t.cli, "addr", "add", vethCliAddr + "/24", "dev", "vc"},
		{"-n", t.srv, "addr", "add", vethSrvAddr + "/24", "dev", "vs"},
		{"-n", t.cli, "link", "set", "vc", "up"},
		{"-n", t.srv, "link", "set", "vs", "up"},
	} {
		if err := ipCmd(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// close kills whatever still runs in the namespaces and deletes them (the
// veth pair goes with them). It runs on its own deadline, so it also
// works after the run's context was cancelled. Safe to call twice.
func (t *netTopo) close() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), nsCleanupTime)
	defer cancel()
	var errs []error
	for _, ns := range t.created {
		errs = append(errs, removeNetns(ctx, ns))
	}
	t.created = nil
	return errors.Join(errs...)
}

// wrap makes argv run inside namespace ns: `ip netns exec` execs the
// program after switching, so the process (its pid, rusage, and the
// parent-death signal) is the program itself.
func wrapNetns(ns string, argv []string) []string {
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// waitListeningNetns polls `ss` in ns until something listens on TCP
// port (it never connects: iperf3 -s would take a probe for a client).
func waitListeningNetns(ctx context.Context, s *server, ns string, port int, deadline time.Duration) error {
	end := time.Now().Add(deadline)
	filter := fmt.Sprintf("sport = :%d", port)
	for {
		if s.exited() {
			return fmt.Errorf("%w: %v%s", errServerExited, s.waitErr, tail(s.out.String()))
		}
		out, err := nsOutput(ctx, "ip", "netns", "exec", ns, "ss", "-Hltn", filter)
		if err != nil {
			return fmt.Errorf("wait for a listener in %s: %v", ns, err)
		}
		if strings.TrimSpace(out) != "" {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("server not listening on port %d in %s after %s%s", port, ns, deadline, tail(s.out.String()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// removeStaleNetns removes fsbench-<pid>-* namespaces whose harness is
// gone, killing what still runs in them (only processes an earlier run of
// this harness started live there).
func removeStaleNetns(ctx context.Context) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = removeNetns(ctx, e.Name())
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func removeNetns(ctx context.Context, ns string) error {
	kerr := killNetns(ctx, ns)
	if err := ipCmd(ctx, "netns", "del", ns); err != nil {
		return errors.Join(kerr, err)
	}
	return kerr
}

// killNetns SIGKILLs every process in ns, by pid, and waits up to 5 s for
// them to go.
func killNetns(ctx context.Context, ns string) error {
	end := time.Now().Add(5 * time.Second)
	for {
		out, err := nsOutput(ctx, "ip", "netns", "pids", ns)
		if err != nil {
			return err
		}
		var live []int
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && !zombie(pid) {
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("processes %v in %s survive SIGKILL", live, ns)
		}
		for _, pid := range live {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombie reports whether pid is gone or a zombie awaiting its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}

func ipCmd(ctx context.Context, args ...string) error {
	_, err := nsOutput(ctx, "ip", args...)
	return err
}

// nsOutput runs a setup command bounded by nsCmdTimeout and returns its
// stdout; the error quotes the command and its stderr.
func nsOutput(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, nsCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v%s", name, strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.String(), nil
}
