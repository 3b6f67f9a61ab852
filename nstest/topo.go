// Package nstest builds throw-away network topologies out of Linux network
// namespaces for tests that run real processes on both ends of a TCP path:
// a client and a server namespace joined by one veth pair, or the same two
// joined through a router namespace that shapes the client→server direction
// with tbf, and a loopback-only namespace.
//
// Every namespace it creates is named "fsnt-<pid>-<seq>-<role>", so
// parallel test binaries never collide and namespaces left behind by a
// crashed run are recognised (their pid is gone) and removed. Addresses are
// from 10.211.0.0/16 and exist only inside the namespaces, which have only
// connected routes: no packet leaves the host.
//
// Everything needs root and iproute2 (ip, tc, ss); Require skips a test
// when they are missing, and fails it instead when the environment variable
// CI is set.
package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "fsnt-"

// setupTimeout bounds each ip/tc/ss/sh command the package runs itself.
const setupTimeout = 10 * time.Second

// Require skips t unless the process is root and ip, tc and ss are on
// PATH. When the environment variable CI is set it fails t instead: CI runs
// as root and must run these tests.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d)", os.Geteuid()))
	}
	for _, bin := range []string{"ip", "tc", "ss"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%q on PATH (iproute2)", bin))
		}
	}
	if len(missing) == 0 {
		return
	}
	skipOrFail(t, "network-namespace test needs "+strings.Join(missing, ", ")+
		"; run as root with iproute2 installed")
}

// RequireCommand skips t (fails it when CI is set) unless every named
// program is on PATH.
func RequireCommand(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		skipOrFail(t, "test needs "+strings.Join(missing, ", ")+" on PATH")
	}
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so this is a failure, not a skip", msg)
	}
	t.Skip("skipping: " + msg)
}

// Namespace is a network namespace created by this package. The zero
// value is not usable.
type Namespace struct {
	Name string
}

func (ns Namespace) String() string { return ns.Name }

// Command returns a command that runs name with args inside ns via
// `ip netns exec`. ip execs the program after switching namespaces, so the
// process is the program itself and cancelling ctx kills it. WaitDelay is
// set so Wait returns even if a grandchild holds the output pipes.
func (ns Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", ns.Name, name}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs name with args inside ns, bounded by ctx and setupTimeout, and
// returns its standard output. The error names the command and includes
// its standard error.
func (ns Namespace) Run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	out, err := output(ns.Command(ctx, name, args...))
	if err != nil {
		return out, fmt.Errorf("in netns %s: %w", ns.Name, err)
	}
	return out, nil
}

// SetSysctl writes value to the sysctl key (dotted, e.g.
// "net.core.somaxconn") as seen from inside ns, and reads it back. Global
// sysctls are read-only or absent inside a child namespace; that is an
// error here.
func (ns Namespace) SetSysctl(ctx context.Context, key, value string) error {
	path := sysctlPath(key)
	if _, err := ns.Run(ctx, "sh", "-c", `printf '%s\n' "$1" > "$2"`, "sh", value, path); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	got, err := ns.Sysctl(ctx, key)
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(value), " ") {
		return fmt.Errorf("set sysctl %s=%s in netns %s: reads back %q", key, value, ns.Name, got)
	}
	return nil
}

// Sysctl reads the sysctl key (dotted) as seen from inside ns.
func (ns Namespace) Sysctl(ctx context.Context, key string) (string, error) {
	out, err := ns.Run(ctx, "cat", sysctlPath(key))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(out), nil
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// Pids returns the processes that live in ns (`ip netns pids`).
func (ns Namespace) Pids(ctx context.Context) ([]int, error) {
	return netnsPids(ctx, ns.Name)
}

// KillAll sends SIGKILL to every process in ns and waits up to 5 s for
// them to be gone.
func (ns Namespace) KillAll(ctx context.Context) error {
	return killNetns(ctx, ns.Name)
}

// WaitListening polls until a TCP socket in ns listens on port, ctx ends
// or alive (if not nil) reports that the process that should listen has
// exited.
func (ns Namespace) WaitListening(ctx context.Context, port int, alive func() bool) error {
	filter := fmt.Sprintf("sport = :%d", port)
	for {
		out, err := ns.Run(ctx, "ss", "-Hltn", filter)
		if err != nil {
			return fmt.Errorf("wait for a listener on port %d: %w", port, err)
		}
		if strings.TrimSpace(out) != "" {
			return nil
		}
		if alive != nil && !alive() {
			return fmt.Errorf("wait for a listener on port %d in netns %s: the process exited", port, ns.Name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for a listener on port %d in netns %s: %w", port, ns.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TBF is a token-bucket shaper (`tc qdisc add … tbf`). Values use tc's
// syntax: Rate "100mbit", Burst "32kb", Latency "25ms".
type TBF struct {
	Rate, Burst, Latency string
}

// Topology is a set of namespaces made by NewLoopback, NewPair or
// NewRouted. Close removes them.
type Topology struct {
	// Client and Server are where the two ends run; they are the same
	// namespace for NewLoopback.
	Client, Server Namespace
	// Router is set by NewRouted: it forwards between Client and Server
	// and shapes the Client→Server direction on RouterServerDev.
	Router *Namespace
	// ClientAddr and ServerAddr are the ends' IPv4 addresses.
	ClientAddr, ServerAddr string
	// RouterServerDev is the router's interface towards Server, where the
	// shaper sits (NewRouted only).
	RouterServerDev string

	created []Namespace
	closed  bool
}

// Addresses used inside the namespaces.
const (
	PairClientAddr   = "10.211.0.1"
	PairServerAddr   = "10.211.0.2"
	RoutedClientAddr = "10.211.1.1"
	RouterClientAddr = "10.211.1.2"
	RouterServerAddr = "10.211.2.1"
	RoutedServerAddr = "10.211.2.2"
)

var (
	seq        atomic.Int64
	staleOnce  sync.Once
	errStale   error
	staleCount int
	// staleLogged makes one test only log the removal of stale namespaces.
	staleLogged atomic.Bool
)

// newNamespace creates a namespace "fsnt-<pid>-<seq>-role" with lo up.
func (tp *Topology) newNamespace(ctx context.Context, role string) (Namespace, error) {
	name := fmt.Sprintf("%s%d-%d-%s", Prefix, os.Getpid(), seq.Add(1), role)
	if err := ip(ctx, "netns", "add", name); err != nil {
		return Namespace{}, fmt.Errorf("create %s namespace: %w", role, err)
	}
	ns := Namespace{Name: name}
	tp.created = append(tp.created, ns)
	if err := ip(ctx, "-n", name, "link", "set", "lo", "up"); err != nil {
		return Namespace{}, fmt.Errorf("bring up lo in %s: %w", name, err)
	}
	return ns, nil
}

// begin removes stale namespaces of earlier runs (once per process).
func begin(ctx context.Context) error {
	staleOnce.Do(func() { staleCount, errStale = RemoveStale(ctx) })
	return errStale
}

// NewLoopback creates one namespace with only lo up; Client and Server are
// that namespace and both addresses are 127.0.0.1. It isolates a loopback
// test's ports and kernel counters from the host.
func NewLoopback(ctx context.Context) (*Topology, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	tp := &Topology{ClientAddr: "127.0.0.1", ServerAddr: "127.0.0.1"}
	ns, err := tp.newNamespace(ctx, "lo")
	if err != nil {
		return nil, errors.Join(err, tp.Close())
	}
	tp.Client, tp.Server = ns, ns
	return tp, nil
}

// NewPair creates a client and a server namespace joined by one veth pair
// (PairClientAddr ↔ PairServerAddr, /24).
func NewPair(ctx context.Context) (*Topology, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	tp := &Topology{ClientAddr: PairClientAddr, ServerAddr: PairServerAddr}
	err := tp.buildPair(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("build two-namespace topology: %w", err), tp.Close())
	}
	return tp, nil
}

func (tp *Topology) buildPair(ctx context.Context) error {
	var err error
	if tp.Client, err = tp.newNamespace(ctx, "c"); err != nil {
		return err
	}
	if tp.Server, err = tp.newNamespace(ctx, "s"); err != nil {
		return err
	}
	c, s := tp.Client.Name, tp.Server.Name
	return runAll(ctx, [][]string{
		{"link", "add", "vc", "netns", c, "type", "veth", "peer", "name", "vs", "netns", s},
		{"-n", c, "addr", "add", tp.ClientAddr + "/24", "dev", "vc"},
		{"-n", s, "addr", "add", tp.ServerAddr + "/24", "dev", "vs"},
		{"-n", c, "link", "set", "vc", "up"},
		{"-n", s, "link", "set", "vs", "up"},
	})
}

// NewRouted creates client, router and server namespaces: client
// (RoutedClientAddr) ↔ router ↔ server (RoutedServerAddr), with forwarding
// on in the router and shape, if not nil, as the root qdisc of the
// router's interface towards the server (the client→server data
// direction), so its drops look like network loss to the sender.
func NewRouted(ctx context.Context, shape *TBF) (*Topology, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	tp := &Topology{ClientAddr: RoutedClientAddr, ServerAddr: RoutedServerAddr, RouterServerDev: "rs"}
	if err := tp.buildRouted(ctx, shape); err != nil {
		return nil, errors.Join(fmt.Errorf("build three-namespace topology: %w", err), tp.Close())
	}
	return tp, nil
}

func (tp *Topology) buildRouted(ctx context.Context, shape *TBF) error {
	var err error
	if tp.Client, err = tp.newNamespace(ctx, "c"); err != nil {
		return err
	}
	r, err := tp.newNamespace(ctx, "r")
	if err != nil {
		return err
	}
	tp.Router = &r
	if tp.Server, err = tp.newNamespace(ctx, "s"); err != nil {
		return err
	}
	c, s := tp.Client.Name, tp.Server.Name
	err = runAll(ctx, [][]string{
		{"link", "add", "vc", "netns", c, "type", "veth", "peer", "name", "rc", "netns", r.Name},
		{"link", "add", "vs", "netns", s, "type", "veth", "peer", "name", "rs", "netns", r.Name},
		{"-n", c, "addr", "add", tp.ClientAddr + "/24", "dev", "vc"},
		{"-n", r.Name, "addr", "add", RouterClientAddr + "/24", "dev", "rc"},
		{"-n", r.Name, "addr", "add", RouterServerAddr + "/24", "dev", "rs"},
		{"-n", s, "addr", "add", tp.ServerAddr + "/24", "dev", "vs"},
		{"-n", c, "link", "set", "vc", "up"},
		{"-n", r.Name, "link", "set", "rc", "up"},
		{"-n", r.Name, "link", "set", "rs", "up"},
		{"-n", s, "link", "set", "vs", "up"},
		{"-n", c, "route", "add", "10.211.2.0/24", "via", RouterClientAddr},
		{"-n", s, "route", "add", "10.211.1.0/24", "via", RouterServerAddr},
	})
	if err != nil {
		return err
	}
	if err := r.SetSysctl(ctx, "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	if shape != nil {
		return tp.SetShaper(ctx, *shape)
	}
	return nil
}

// SetShaper installs (or replaces) shape as the root qdisc of the router's
// interface towards the server. Only for NewRouted topologies.
func (tp *Topology) SetShaper(ctx context.Context, shape TBF) error {
	if tp.Router == nil {
		return errors.New("set shaper: topology has no router")
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	args := []string{"-n", tp.Router.Name, "qdisc", "replace", "dev", tp.RouterServerDev, "root", "tbf",
		"rate", shape.Rate, "burst", shape.Burst, "latency", shape.Latency}
	if _, err := output(exec.CommandContext(ctx, "tc", args...)); err != nil {
		return fmt.Errorf("install tbf %+v: %w", shape, err)
	}
	return nil
}

// QdiscStats returns `tc -s qdisc show` for the router's interface towards
// the server (drops, overlimits, backlog). Only for NewRouted topologies.
func (tp *Topology) QdiscStats(ctx context.Context) (string, error) {
	if tp.Router == nil {
		return "", errors.New("qdisc stats: topology has no router")
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	out, err := output(exec.CommandContext(ctx, "tc", "-n", tp.Router.Name, "-s", "qdisc", "show", "dev", tp.RouterServerDev))
	if err != nil {
		return "", fmt.Errorf("qdisc stats: %w", err)
	}
	return out, nil
}

// AddBlackhole makes the router silently drop every packet to addr (a
// host address such as tp.ServerAddr), as a dead path does.
func (tp *Topology) AddBlackhole(ctx context.Context, addr string) error {
	if tp.Router == nil {
		return errors.New("add blackhole route: topology has no router")
	}
	if err := ip(ctx, "-n", tp.Router.Name, "route", "add", "blackhole", addr+"/32"); err != nil {
		return fmt.Errorf("add blackhole route: %w", err)
	}
	return nil
}

// RemoveBlackhole undoes AddBlackhole.
func (tp *Topology) RemoveBlackhole(ctx context.Context, addr string) error {
	if tp.Router == nil {
		return errors.New("remove blackhole route: topology has no router")
	}
	if err := ip(ctx, "-n", tp.Router.Name, "route", "del", "blackhole", addr+"/32"); err != nil {
		return fmt.Errorf("remove blackhole route: %w", err)
	}
	return nil
}

// Namespaces returns every namespace of the topology.
func (tp *Topology) Namespaces() []Namespace {
	return append([]Namespace(nil), tp.created...)
}

// Close kills every process in the topology's namespaces and deletes
// them (their veths go with them). It is safe to call more than once.
func (tp *Topology) Close() error {
	if tp == nil || tp.closed {
		return nil
	}
	tp.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, ns := range tp.created {
		errs = append(errs, removeNetns(ctx, ns.Name))
	}
	return errors.Join(errs...)
}

// RemoveStale deletes namespaces named by this package whose creating
// process no longer exists, killing what still runs in them. It returns
// how many it removed.
func RemoveStale(ctx context.Context) (int, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list network namespaces: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPid(e.Name())
		if !ok || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if err := removeNetns(ctx, e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("remove stale namespace: %w", err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// ownerPid parses the pid out of "fsnt-<pid>-<seq>-<role>".
func ownerPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return 0, false
	}
	return pid, true
}

func removeNetns(ctx context.Context, name string) error {
	kerr := killNetns(ctx, name)
	if err := ip(ctx, "netns", "del", name); err != nil {
		return errors.Join(kerr, fmt.Errorf("delete namespace %s: %w", name, err))
	}
	return kerr
}

func netnsPids(ctx context.Context, name string) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	out, err := output(exec.CommandContext(ctx, "ip", "netns", "pids", name))
	if err != nil {
		return nil, fmt.Errorf("list processes in netns %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("list processes in netns %s: bad pid %q", name, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// killNetns SIGKILLs every process in the namespace and waits until they
// are gone (zombies awaiting their parent's Wait count as gone).
func killNetns(ctx context.Context, name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := netnsPids(ctx, name)
		if err != nil {
			return err
		}
		var live []int
		for _, pid := range pids {
			if !ProcessGone(pid) {
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in netns %s survive SIGKILL", live, name)
		}
		for _, pid := range live {
			killProcess(pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ProcessGone reports whether pid has exited, or is a zombie awaiting its
// parent's wait (it runs no more either way).
func ProcessGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	// Field 3, after the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}

// ip runs `ip args…` bounded by setupTimeout.
func ip(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	_, err := output(exec.CommandContext(ctx, "ip", args...))
	return err
}

func runAll(ctx context.Context, cmds [][]string) error {
	for _, args := range cmds {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// output runs cmd and returns its stdout; the error quotes the command
// line and its stderr.
func output(cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, msg)
		}
		return stdout.String(), fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return stdout.String(), nil
}

// Loopback is NewLoopback for a test: it calls Require, fails t on error
// and removes the namespace in t.Cleanup.
func Loopback(t testing.TB) *Topology {
	t.Helper()
	Require(t)
	tp, err := NewLoopback(context.Background())
	return register(t, tp, err)
}

// Pair is NewPair for a test: it calls Require, fails t on error and
// removes the namespaces in t.Cleanup.
func Pair(t testing.TB) *Topology {
	t.Helper()
	Require(t)
	tp, err := NewPair(context.Background())
	return register(t, tp, err)
}

// Routed is NewRouted for a test: it calls Require, fails t on error and
// removes the namespaces in t.Cleanup.
func Routed(t testing.TB, shape *TBF) *Topology {
	t.Helper()
	Require(t)
	tp, err := NewRouted(context.Background(), shape)
	return register(t, tp, err)
}

func register(t testing.TB, tp *Topology, err error) *Topology {
	t.Helper()
	if staleCount > 0 && staleLogged.CompareAndSwap(false, true) {
		t.Logf("removed %d stale %s* namespace(s) of earlier runs", staleCount, Prefix)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("topology cleanup: %v", err)
		}
	})
	var names []string
	for _, ns := range tp.created {
		names = append(names, ns.Name)
	}
	t.Logf("namespaces %s; client %s, server %s", strings.Join(names, ", "), tp.ClientAddr, tp.ServerAddr)
	return tp
}

// LimitLargePackets makes the router pass packets of 1,024 bytes or more
// towards the server at only rate (an htb class; u32 filters on the IPv4
// total-length field), while smaller packets — ACKs — pass at full speed:
// a one-way black hole for the client→server data whose reverse direction
// and ACKs still work. Only for NewRouted topologies; RemoveShaper undoes it.
func (tp *Topology) LimitLargePackets(ctx context.Context, rate string) error {
	if tp.Router == nil {
		return errors.New("limit large packets: topology has no router")
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	r, dev := tp.Router.Name, tp.RouterServerDev
	cmds := [][]string{
		{"-n", r, "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "10"},
		{"-n", r, "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"},
		{"-n", r, "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", rate, "ceil", rate},
	}
	// tot_len ≥ 1024 when any of its bits 10–15 is set: one filter a bit.
	for bit := 10; bit <= 15; bit++ {
		m := fmt.Sprintf("0x%04x", 1<<bit)
		cmds = append(cmds, []string{"-n", r, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1",
			"u32", "match", "u16", m, m, "at", "2", "flowid", "1:20"})
	}
	for _, c := range cmds {
		if _, err := output(exec.CommandContext(ctx, "tc", c...)); err != nil {
			return fmt.Errorf("limit packets ≥ 1024 bytes to %s: %w", rate, err)
		}
	}
	return nil
}

// RemoveShaper removes whatever root qdisc SetShaper or LimitLargePackets
// installed on the router's interface towards the server.
func (tp *Topology) RemoveShaper(ctx context.Context) error {
	if tp.Router == nil {
		return errors.New("remove shaper: topology has no router")
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := output(exec.CommandContext(ctx, "tc", "-n", tp.Router.Name, "qdisc", "del", "dev", tp.RouterServerDev, "root")); err != nil {
		return fmt.Errorf("remove shaper: %w", err)
	}
	return nil
}
