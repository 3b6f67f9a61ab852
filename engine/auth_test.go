//go:build unix

package engine

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// TestReadAuthKeyFileRefusals: an empty path, /dev/zero, a FIFO, a
// directory and an oversized file are each refused at once with one line
// that says what is wrong; a proper key file is read.
func TestReadAuthKeyFileRefusals(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("k", MaxAuthKeyFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "key")
	if err := os.WriteFile(good, []byte("  0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"", "path is empty"},
		{"/dev/zero", "not a regular file (a character device)"},
		{fifo, "not a regular file (a FIFO)"},
		{dir, "not a regular file (a directory)"},
		{big, "at most 4096"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadAuthKeyFile(tc.path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("ReadAuthKeyFile(%q) = %v; want one line saying %q", tc.path, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadAuthKeyFile(%q) still reading after 10 s", tc.path)
		}
	}
	k, err := ReadAuthKeyFile(good)
	if err != nil || string(k) != "0123456789abcdef0123" {
		t.Errorf("ReadAuthKeyFile(good) = %q, %v", k, err)
	}
}

// TestAuthBeforeSlot: with a key and one test slot, a connection that
// sends a cookie and parameters offering auth but never answers the
// challenge does not hold the slot: a keyed client runs its test
// meanwhile, and the server drops the stranger within authTimeout.
func TestAuthBeforeSlot(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	ts := startServer(t, ServerConfig{AuthKey: key})
	stranger, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.Write(wire.EncodeCookie(wire.NewCookie())); err != nil {
		t.Fatal(err)
	}
	br := wire.NewReader(stranger)
	_ = stranger.SetReadDeadline(time.Now().Add(30 * time.Second))
	if st, err := wire.ReadState(br); err != nil || st != wire.ParamExchange {
		t.Fatalf("stranger: state %v, %v; want PARAM_EXCHANGE", st, err)
	}
	p := &wire.Params{TCP: true, Time: 5, Parallel: 1, Len: 1000, Flowscope: &wire.Extensions{Extensions: []string{wire.ExtAuth}}}
	if err := wire.WriteMessage(stranger, p.Marshal()); err != nil {
		t.Fatal(err)
	}
	if st, err := wire.ReadState(br); err != nil || st != wire.AuthChallenge {
		t.Fatalf("stranger: state %v, %v; want the auth challenge", st, err)
	}
	sent := time.Now()

	cfg := clientConfig(ts, 1, 300*time.Millisecond)
	cfg.AuthKey = key
	if _, end, err := runClient(t, cfg); err != nil {
		t.Errorf("keyed client while a stranger sat on the challenge: %v", err)
	} else {
		checkConservation(t, end)
		<-ts.ends
	}

	// The stranger, silent since the challenge, is dropped.
	_, err = io.Copy(io.Discard, br)
	if took := time.Since(sent); isTimeout(err) || took > authTimeout+10*time.Second {
		t.Errorf("the stranger was still connected %v after the challenge (%v); expected a close within about %v", took.Round(time.Millisecond), err, authTimeout)
	}
}
