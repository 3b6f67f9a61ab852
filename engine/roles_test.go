//go:build unix

package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rolePairs returns n loopback connections as this end holds them, and
// the peer's ends in the same order.
func rolePairs(t *testing.T, n int) (ours []net.Conn, peers []*net.TCPConn) {
	t.Helper()
	for range n {
		c, s := tcpPair(t)
		ours = append(ours, s)
		peers = append(peers, c)
	}
	return ours, peers
}

// TestObserveRolesFromData: the connections on which the peer writes
// become receivers, whatever the order says, and the bytes read while
// watching are reported for the connection they came from.
func TestObserveRolesFromData(t *testing.T) {
	cases := []struct {
		name      string
		recvFirst bool
		talking   []int // connections the peer sends on
		swapped   int
	}{
		{"client, server kept the dial order", false, []int{3, 4, 5}, 0},
		{"client, server reversed the order", false, []int{0, 1, 2}, 6},
		{"server, client kept its order", true, []int{0, 1, 2}, 0},
		{"server, accept order mixed", true, []int{0, 4, 5}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, peers := rolePairs(t, 6)
			for k, i := range c.talking {
				if _, err := peers[i].Write(make([]byte, 100+k)); err != nil {
					t.Fatal(err)
				}
			}
			split, err := observeRoles(t.Context(), ours, c.recvFirst, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(split.recv, c.talking) {
				t.Errorf("receivers %v, want %v", split.recv, c.talking)
			}
			if len(split.send) != 3 || split.heard != 3 || split.swapped != c.swapped || split.guessed() {
				t.Errorf("split %+v, want 3 senders, 3 heard, %d swapped", split, c.swapped)
			}
			for k, i := range c.talking {
				if split.preRead[i] != 100+k {
					t.Errorf("connection %d: %d bytes read while watching, the peer wrote %d", i, split.preRead[i], 100+k)
				}
			}
			// Known as soon as the third connection spoke, long before the wait.
			if split.took >= 20*time.Second {
				t.Errorf("took %v: the wait ran out although every sender spoke", split.took)
			}
		})
	}
}

// TestObserveRolesKeepsTheRest: what is not read while watching stays on
// the connection, and the read deadline is cleared: the receiver reads
// every byte the peer sent, exactly once.
func TestObserveRolesKeepsTheRest(t *testing.T) {
	ours, peers := rolePairs(t, 2)
	const total = 1 << 20
	wrote := make(chan error, 1)
	go func() {
		_, err := peers[0].Write(make([]byte, total))
		if err == nil {
			err = peers[0].CloseWrite()
		}
		wrote <- err
	}()
	split, err := observeRoles(t.Context(), ours, false, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(split.recv, []int{0}) || !slices.Equal(split.send, []int{1}) {
		t.Fatalf("split %+v", split)
	}
	rest, err := io.Copy(io.Discard, ours[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(split.preRead[0]) + rest; got != total {
		t.Errorf("%d bytes while watching + %d after = %d, the peer sent %d", split.preRead[0], rest, got, total)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	// The silent connection has no deadline left: a write from the peer
	// long after the wait still arrives.
	if _, err := peers[1].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := ours[1].Read(make([]byte, 1)); err != nil {
		t.Errorf("silent connection after watching: %v", err)
	}
}

// TestObserveRolesFallsBackToOrder: when the peer's senders do not all
// speak within the wait, the ones heard from are receivers and the rest
// follow the order, preferring the order's receivers.
func TestObserveRolesFallsBackToOrder(t *testing.T) {
	cases := []struct {
		name      string
		recvFirst bool
		talking   []int
		recv      []int
		swapped   int
	}{
		{"nothing heard, client", false, nil, []int{2, 3}, 0},
		{"nothing heard, server", true, nil, []int{0, 1}, 0},
		{"one heard where the order agrees", false, []int{3}, []int{2, 3}, 0},
		{"one heard where the order disagrees", false, []int{0}, []int{0, 2}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, peers := rolePairs(t, 4)
			for _, i := range c.talking {
				if _, err := peers[i].Write([]byte("data")); err != nil {
					t.Fatal(err)
				}
			}
			const wait = 300 * time.Millisecond
			split, err := observeRoles(t.Context(), ours, c.recvFirst, wait)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(split.recv, c.recv) || split.swapped != c.swapped {
				t.Errorf("receivers %v swapped %d, want %v and %d", split.recv, split.swapped, c.recv, c.swapped)
			}
			if !split.guessed() || split.heard != len(c.talking) || split.took < wait {
				t.Errorf("split %+v: want a guess after the whole wait, %d heard", split, len(c.talking))
			}
		})
	}
}

// TestPeerOrder: the stock peer's order is estimated as this end's order,
// or its reverse when that explains the split with fewer swapped pairs;
// each half keeps that order.
func TestPeerOrder(t *testing.T) {
	cases := []struct {
		name  string
		first []int
		n     int
		want  []int
	}{
		{"order kept", []int{0, 1}, 4, []int{0, 1, 2, 3}},
		{"halves swapped: the reverse explains it", []int{2, 3}, 4, []int{3, 2, 1, 0}},
		{"one pair swapped", []int{0, 2}, 4, []int{0, 2, 1, 3}},
		{"reversed at 8 per direction", []int{8, 9, 10, 11, 12, 13, 14, 15}, 16,
			[]int{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"mixed, nearer this order", []int{1, 3, 4, 5}, 8, []int{1, 3, 4, 5, 0, 2, 6, 7}},
		{"mixed, nearer the reverse", []int{3, 5, 6, 7}, 8, []int{7, 6, 5, 3, 4, 2, 1, 0}},
		{"one per direction, reversed", []int{1}, 2, []int{1, 0}},
	}
	for _, c := range cases {
		if got, _ := peerOrder(c.first, c.n); !slices.Equal(got, c.want) {
			t.Errorf("%s: peerOrder(%v, %d) = %v, want %v", c.name, c.first, c.n, got, c.want)
		}
	}
}

// TestObserveRolesFailures: a peer that writes on every connection is no
// --bidir peer, one that closes a connection ends the test, an odd count
// is refused, and cancellation returns at once.
func TestObserveRolesFailures(t *testing.T) {
	t.Run("data on every connection", func(t *testing.T) {
		ours, peers := rolePairs(t, 2)
		for _, p := range peers {
			if _, err := p.Write([]byte("data")); err != nil {
				t.Fatal(err)
			}
		}
		// Both writes must be readable before watching starts, or the
		// second could be cut off by the first reaching P.
		for _, c := range ours {
			waitReadable(t, c)
		}
		_, err := observeRoles(t.Context(), ours, false, 20*time.Second)
		if !errors.Is(err, ErrTooManySenders) {
			t.Errorf("err %v, want ErrTooManySenders", err)
		}
	})
	t.Run("peer closes a connection", func(t *testing.T) {
		ours, peers := rolePairs(t, 2)
		peers[1].Close()
		_, err := observeRoles(t.Context(), ours, false, 20*time.Second)
		if err == nil {
			t.Fatal("no error for a data connection the peer closed")
		}
	})
	t.Run("odd count", func(t *testing.T) {
		ours, _ := rolePairs(t, 3)
		if _, err := observeRoles(t.Context(), ours, false, time.Second); err == nil {
			t.Fatal("no error for 3 connections")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ours, _ := rolePairs(t, 2)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := observeRoles(ctx, ours, false, 20*time.Second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
}

// waitReadable waits until c has data to read (a peek through MSG_PEEK),
// at most 10 s.
func waitReadable(t *testing.T, c net.Conn) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	var n int
	if err := rc.Read(func(fd uintptr) bool {
		n, _, err = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return !errors.Is(err, unix.EAGAIN)
	}); err != nil || n == 0 {
		t.Fatalf("connection never became readable: %v", err)
	}
}

func TestRoleWait(t *testing.T) {
	if w := roleWait(0); w != roleWaitFloor {
		t.Errorf("roleWait(0) = %v", w)
	}
	if w := roleWait(50 * time.Millisecond); w != roleWaitFloor+400*time.Millisecond {
		t.Errorf("roleWait(50ms) = %v", w)
	}
	if w := roleWait(5 * time.Second); w != roleWaitCeil {
		t.Errorf("roleWait(5s) = %v", w)
	}
}
