package engine

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flowscope/flowscope/wire"
)

// MinAuthKeyLen is the shortest pre-shared key accepted.
const MinAuthKeyLen = 16

// ReadAuthKeyFile reads a pre-shared key (--auth-key-file): the file's
// content without surrounding white space, at least MinAuthKeyLen bytes.
func ReadAuthKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read auth key: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if len(k) < MinAuthKeyLen {
		return nil, fmt.Errorf("auth key in %s is %d bytes; use at least %d (e.g. head -c 32 /dev/urandom | base64 > %s)", path, len(k), MinAuthKeyLen, path)
	}
	return []byte(k), nil
}

// authenticate makes a client prove it knows the server's key, when one is
// configured: a fresh nonce goes out, HMAC(key, cookie || nonce) must come
// back. The key itself never crosses the wire.
func (t *serverTest) authenticate(br *bufio.Reader, p *wire.Params) error {
	key := t.srv.cfg.AuthKey
	if len(key) == 0 {
		return nil
	}
	if !p.Flowscope.Has(wire.ExtAuth) {
		return t.reject(p, wire.ErrAuth, errors.New("authentication required: this server only runs tests for clients started with --auth-key-file"))
	}
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	js, _ := json.Marshal(wire.AuthChallengeMsg{Nonce: hex.EncodeToString(nonce)})
	_ = t.ctl.SetDeadline(time.Now().Add(setupTimeout))
	if err := wire.WriteState(t.ctl, wire.AuthChallenge); err != nil {
		return err
	}
	if err := wire.WriteMessage(t.ctl, js); err != nil {
		return err
	}
	msg, err := wire.ReadMessage(br, 1024)
	if err != nil {
		return fmt.Errorf("read auth response: %w", describeCtlErr(err))
	}
	mac, err := wire.DecodeAuthResponse(msg)
	if err != nil || !hmac.Equal(mac, wire.AuthMAC(key, t.cookie, nonce)) {
		return t.reject(p, wire.ErrAuth, errors.New("authentication failed: the client's key does not match this server's"))
	}
	return nil
}

// answerAuth answers a server's authentication challenge.
func (c *Client) answerAuth(br *bufio.Reader) error {
	msg, err := wire.ReadMessage(br, 1024)
	if err != nil {
		return fmt.Errorf("read auth challenge: %w", err)
	}
	nonce, err := wire.DecodeAuthChallenge(msg)
	if err != nil {
		return err
	}
	if len(c.cfg.AuthKey) == 0 {
		return errors.New("the server requires authentication: start the client with --auth-key-file")
	}
	js, _ := json.Marshal(wire.AuthResponseMsg{MAC: hex.EncodeToString(wire.AuthMAC(c.cfg.AuthKey, c.cookie, nonce))})
	return wire.WriteMessage(c.ctl, js)
}
