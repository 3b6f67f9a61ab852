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
