package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// ExtAuth: the client can prove it knows the server's pre-shared key.
const ExtAuth = "auth"

// AuthChallenge (S→C, after the parameters) is followed by a length-prefixed
// AuthChallengeMsg; the client answers with a length-prefixed
// AuthResponseMsg. Sent only to clients that offered ExtAuth.
const AuthChallenge State = 102

// AuthChallengeMsg carries the server's nonce (hex).
type AuthChallengeMsg struct {
	Nonce string `json:"nonce"`
}

// AuthResponseMsg carries HMAC-SHA256(key, cookie || nonce), hex.
type AuthResponseMsg struct {
	MAC string `json:"mac"`
}

// AuthMAC is the proof of the key for one test: the cookie binds it to the
// test, the server's fresh nonce keeps it from being replayed.
func AuthMAC(key []byte, cookie string, nonce []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cookie))
	m.Write(nonce)
	return m.Sum(nil)
}

// DecodeAuthChallenge parses a challenge and returns its nonce.
func DecodeAuthChallenge(b []byte) ([]byte, error) {
	var c AuthChallengeMsg
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode auth challenge: %w", err)
	}
	n, err := hex.DecodeString(c.Nonce)
	if err != nil || len(n) < 16 || len(n) > 64 {
		return nil, errors.New("decode auth challenge: bad nonce")
	}
	return n, nil
}

// DecodeAuthResponse parses a response and returns its MAC.
func DecodeAuthResponse(b []byte) ([]byte, error) {
	var r AuthResponseMsg
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode auth response: %w", err)
	}
	m, err := hex.DecodeString(r.MAC)
	if err != nil || len(m) != sha256.Size {
		return nil, errors.New("decode auth response: bad MAC")
	}
	return m, nil
}

// ExtUDPToken: each UDP stream request carries, after the stream header,
// a UDPTokenSize-byte token that ties it to its test (UDPStreamToken), so
// the server adopts a stream only for the test whose client sent it.
const ExtUDPToken = "udp-token"

// UDPTokenSize is the length of a UDP stream token.
const UDPTokenSize = 16

// UDPStreamToken is the token a flowscope client puts in its UDP stream
// requests. It is derived from the test's cookie, which only the control
// connection carries, and, when the server requires authentication, keyed
// with the pre-shared key and bound to the server's nonce for this test:
// only a client that knows the key and saw this test's challenge can make
// it. Without a key (and nonce) it still tells one test's requests from
// another's.
func UDPStreamToken(key []byte, cookie string, nonce []byte) []byte {
	if len(key) == 0 {
		key = []byte("flowscope udp stream")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("udp-stream\x00"))
	m.Write([]byte(cookie))
	m.Write(nonce)
	return m.Sum(nil)[:UDPTokenSize]
}
