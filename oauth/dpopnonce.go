package oauth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"
)

// Server-provided DPoP nonces (RFC 9449 §8), when Config.DPoPNonce is on:
// a proof must carry a nonce the server handed out recently, which limits
// proofs made ahead of time (by an attacker who briefly held the client's
// key or a clock set forward) to the nonce's short life.
//
// A nonce is stateless and the same on every node that shares LATCH_SECRET:
// the number of the current time bucket (DPoPMaxAge long) and an HMAC of it
// under a key derived from the secret. A nonce of the current or the
// previous bucket is accepted, so one lives between one and two buckets,
// and no node needs to remember which nonces it gave out, nor ask the
// database.

// DPoPNonceHeader is the response header that carries a nonce (§8.1).
const DPoPNonceHeader = "DPoP-Nonce"

// ErrUseDPoPNonce is RFC 9449 §8's use_dpop_nonce: the proof lacks a
// nonce, or its nonce is not (or no longer) one the server handed out. The
// answer carries a fresh nonce in DPoP-Nonce.
var ErrUseDPoPNonce = &fosite.RFC6749Error{
	ErrorField:       "use_dpop_nonce",
	DescriptionField: "Authorization server requires nonce in DPoP proof.",
	CodeField:        http.StatusBadRequest,
}

// dpopNonces makes and checks nonces.
type dpopNonces struct {
	key    []byte
	bucket time.Duration
}

// nonceLen is the bytes of a nonce before base64url: an 8-byte bucket
// number and a 16-byte MAC.
const nonceLen = 8 + 16

func newDPoPNonces(secret []byte, bucket time.Duration) (*dpopNonces, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "latch dpop nonce v1", 32)
	if err != nil {
		return nil, fmt.Errorf("oauth: derive dpop nonce key: %w", err)
	}
	return &dpopNonces{key: key, bucket: bucket}, nil
}

func (n *dpopNonces) mac(bucket uint64) []byte {
	m := hmac.New(sha256.New, n.key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], bucket)
	m.Write(b[:])
	return append(b[:], m.Sum(nil)[:16]...)
}

func (n *dpopNonces) bucketAt(t time.Time) uint64 {
	return uint64(t.UnixNano() / int64(n.bucket))
}

// issue is the nonce of the bucket of now. It is all base64url characters,
// within §8.1's NQCHAR.
func (n *dpopNonces) issue(now time.Time) string {
	return base64.RawURLEncoding.EncodeToString(n.mac(n.bucketAt(now)))
}

// valid reports whether nonce is the nonce of now's bucket or the one
// before.
func (n *dpopNonces) valid(nonce string, now time.Time) bool {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(raw) != nonceLen {
		return false
	}
	b, cur := binary.BigEndian.Uint64(raw[:8]), n.bucketAt(now)
	if b != cur && b+1 != cur {
		return false
	}
	return hmac.Equal(raw, n.mac(b))
}

// DPoPNonce is the nonce to send in the DPoP-Nonce header of a token
// endpoint answer, and false when nonces are off.
func (p *Provider) DPoPNonce() (string, bool) {
	if p.nonces == nil {
		return "", false
	}
	return p.nonces.issue(p.now()), true
}

// checkNonce refuses a proof without a valid nonce, when nonces are on.
func (p *Provider) checkNonce(proof *dpopProof) error {
	if p.nonces == nil || p.nonces.valid(proof.Nonce, p.now()) {
		return nil
	}
	if proof.Nonce == "" {
		return ErrUseDPoPNonce.WithHint("Send the nonce of the DPoP-Nonce header in the proof.")
	}
	return ErrUseDPoPNonce.WithHint("The proof's nonce is unknown or has expired; use the one of the DPoP-Nonce header.")
}
