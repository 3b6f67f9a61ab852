package nstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Mesh addresses: host i (1-based) is MeshAddr(i); the hub's bridge is
// MeshHubAddr. All in 10.211.3.0/24, inside the namespaces only.
const (
	MeshHubAddr = "10.211.3.254"
	meshPrefix  = "10.211.3."
	// MaxMeshHosts bounds NewMesh.
	MaxMeshHosts = 32
)

// MeshAddr is the address of mesh host i (1-based).
func MeshAddr(i int) string { return fmt.Sprintf("%s%d", meshPrefix, i) }

// Mesh is n host namespaces on one switch: a hub namespace holds a Linux
// bridge with one veth port per host. The hub has an address on the bridge
// too, so it can act as a controller or monitoring host (a client that
// tests every host, a Prometheus that scrapes them).
type Mesh struct {
	// Hub holds the bridge and is reachable at MeshHubAddr.
	Hub Namespace
	// Hosts[i] has the address Addrs[i] (MeshAddr(i+1)) on its eth0.
	Hosts []Namespace
	Addrs []string

	tp Topology
}

// NewMesh creates a mesh of n hosts (1 ≤ n ≤ MaxMeshHosts).
func NewMesh(ctx context.Context, n int) (*Mesh, error) {
	if n < 1 || n > MaxMeshHosts {
		return nil, fmt.Errorf("mesh of %d hosts: want 1-%d", n, MaxMeshHosts)
	}
	if err := begin(ctx); err != nil {
		return nil, err
	}
	m := &Mesh{}
	if err := m.build(ctx, n); err != nil {
		return nil, errors.Join(fmt.Errorf("build %d-host mesh: %w", n, err), m.Close())
	}
	return m, nil
}

func (m *Mesh) build(ctx context.Context, n int) error {
	var err error
	if m.Hub, err = m.tp.newNamespace(ctx, "hub"); err != nil {
		return err
	}
	hub := m.Hub.Name
	cmds := [][]string{
		{"-n", hub, "link", "add", "br0", "type", "bridge"},
		{"-n", hub, "addr", "add", MeshHubAddr + "/24", "dev", "br0"},
		{"-n", hub, "link", "set", "br0", "up"},
	}
	if err := runAll(ctx, cmds); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		h, err := m.tp.newNamespace(ctx, fmt.Sprintf("h%d", i))
		if err != nil {
			return err
		}
		m.Hosts = append(m.Hosts, h)
		m.Addrs = append(m.Addrs, MeshAddr(i))
		port := fmt.Sprintf("p%d", i)
		err = runAll(ctx, [][]string{
			{"link", "add", "eth0", "netns", h.Name, "type", "veth", "peer", "name", port, "netns", hub},
			{"-n", hub, "link", "set", port, "master", "br0"},
			{"-n", hub, "link", "set", port, "up"},
			{"-n", h.Name, "addr", "add", MeshAddr(i) + "/24", "dev", "eth0"},
			{"-n", h.Name, "link", "set", "eth0", "up"},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Namespaces returns the hub and every host.
func (m *Mesh) Namespaces() []Namespace { return m.tp.Namespaces() }

// Close kills every process in the mesh's namespaces and deletes them. It
// is safe to call more than once.
func (m *Mesh) Close() error {
	if m == nil {
		return nil
	}
	return m.tp.Close()
}

// StartMesh is NewMesh for a test: it calls Require, fails t on error and
// removes the namespaces in t.Cleanup.
func StartMesh(t testing.TB, n int) *Mesh {
	t.Helper()
	Require(t)
	m, err := NewMesh(context.Background(), n)
	if staleCount > 0 && staleLogged.CompareAndSwap(false, true) {
		t.Logf("removed %d stale %s* namespace(s) of earlier runs", staleCount, Prefix)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("mesh cleanup: %v", err)
		}
	})
	var names []string
	for _, ns := range m.Namespaces() {
		names = append(names, ns.Name)
	}
	t.Logf("mesh namespaces %s; hosts %s, hub %s", strings.Join(names, ", "), strings.Join(m.Addrs, ", "), MeshHubAddr)
	return m
}
