package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/flowscope/flowscope/wire"
)

// MinAuthKeyLen is the shortest pre-shared key accepted.
const MinAuthKeyLen = 16

// MaxAuthKeyFileSize bounds a key file: a key is a line of text, and a
// path to something endless (/dev/zero) must not be read until memory
// runs out.
const MaxAuthKeyFileSize = 4096

// ReadAuthKeyFile reads a pre-shared key (--auth-key-file): the file's
// content without surrounding white space, at least MinAuthKeyLen bytes.
// The path must name a regular file of at most MaxAuthKeyFileSize bytes:
// an empty path, a device, a FIFO (which would block the server's start
// until someone writes to it) or a directory is refused.
func ReadAuthKeyFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("auth key file: the path is empty (an unset variable?); name the key file, or leave the option out to run without authentication")
	}
	// O_NONBLOCK: opening a FIFO does not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read auth key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read auth key: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("auth key file %s is not a regular file (%s)", path, fileKind(st.Mode()))
	case st.Size() > MaxAuthKeyFileSize:
		return nil, fmt.Errorf("auth key file %s has %d bytes; a key file holds at most %d", path, st.Size(), MaxAuthKeyFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxAuthKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read auth key: %w", err)
	}
	if len(b) > MaxAuthKeyFileSize { // it grew since the Stat
		return nil, fmt.Errorf("auth key file %s has more than %d bytes", path, MaxAuthKeyFileSize)
	}
	k := strings.TrimSpace(string(b))
	if len(k) < MinAuthKeyLen {
		return nil, fmt.Errorf("auth key in %s is %d bytes; use at least %d (e.g. head -c 32 /dev/urandom | base64 > %s)", path, len(k), MinAuthKeyLen, path)
	}
	return []byte(k), nil
}

// fileKind names what a non-regular file is, for an error message.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// authenticate makes a client prove it knows the server's key, when one is
// configured: a fresh nonce goes out, HMAC(key, cookie || nonce) must come
// back. The key itself never crosses the wire.
func (t *serverTest) authenticate(p *wire.Params) error {
	key := t.srv.cfg.AuthKey
	if len(key) == 0 {
		return nil
	}
	if !p.Flowscope.Has(wire.ExtAuth) {
		return t.reject(p, wire.ErrAuth, &Error{Cause: CauseAuth, Err: errors.New("authentication required: this server only runs tests for clients started with --auth-key-file")})
	}
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	js, _ := json.Marshal(wire.AuthChallengeMsg{Nonce: hex.EncodeToString(nonce)})
	if err := t.writeState(wire.AuthChallenge); err != nil {
		return err
	}
	if err := wire.WriteMessage(t.w(), js); err != nil {
		return err
	}
	msg, err := wire.ReadMessage(t.br, 1024)
	if err != nil {
		return fmt.Errorf("read auth response: %w", describeCtlErr(err))
	}
	mac, err := wire.DecodeAuthResponse(msg)
	if err != nil || !hmac.Equal(mac, wire.AuthMAC(key, t.cookie, nonce)) {
		return t.reject(p, wire.ErrAuth, &Error{Cause: CauseAuth, Err: errors.New("authentication failed: the client's key does not match this server's")})
	}
	if p.UDP && !p.Flowscope.Has(wire.ExtUDPToken) {
		// Without the token a stream request could come from anyone
		// who can send from the client's address.
		return t.reject(p, wire.ErrAuth, errors.New("UDP tests on this server need a client that proves its UDP streams (flowscope with the udp-token extension)"))
	}
	t.authNonce = nonce
	return nil
}

// answerAuth answers a server's authentication challenge.
func (c *Client) answerAuth() error {
	msg, err := wire.ReadMessage(c.s.br, 1024)
	if err != nil {
		return fmt.Errorf("read auth challenge: %w", err)
	}
	nonce, err := wire.DecodeAuthChallenge(msg)
	if err != nil {
		return err
	}
	if len(c.cfg.AuthKey) == 0 {
		return &Error{Cause: CauseAuth, Err: errors.New("the server requires authentication: start the client with --auth-key-file")}
	}
	c.authNonce = nonce // the UDP stream token is bound to it
	js, _ := json.Marshal(wire.AuthResponseMsg{MAC: hex.EncodeToString(wire.AuthMAC(c.cfg.AuthKey, c.s.cookie, nonce))})
	return wire.WriteMessage(c.s.w(), js)
}
