package bearer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// ProofHeader is the request header that carries a DPoP proof (RFC 9449
// §4.1).
const ProofHeader = "DPoP"

// typProof is the typ of a proof (RFC 9449 §4.2).
const typProof = "dpop+jwt"

// maxProofLen bounds the proofs parsed at all: an RSA 4096 jwk and its
// signature fit well within it.
const maxProofLen = 8 << 10

// algEd25519 is the fully-specified name of EdDSA over Ed25519 (RFC 9864),
// which go-jose v3 does not know; it is verified here.
const algEd25519 = "Ed25519"

// ProofAlgorithms are the DPoP proof algorithms [CheckProof] accepts (an
// authorization server's dpop_signing_alg_values_supported, a resource
// server's algs challenge parameter). Only asymmetric ones: a MAC proves
// nothing to anyone but its key's other holder, and none proves nothing
// (RFC 9449 §4.3 check 5).
var ProofAlgorithms = []string{
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.EdDSA), algEd25519,
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
}

// ErrInvalidProof is what every error of [CheckProof] matches with
// [errors.Is]: RFC 9449's invalid_dpop_proof.
var ErrInvalidProof = errors.New("bearer: invalid DPoP proof")

// ProofError is a refused proof. Description says why, in words fit for
// the client (an error_description).
type ProofError struct {
	Description string
}

func (e *ProofError) Error() string { return "bearer: invalid DPoP proof: " + e.Description }

// Is makes a ProofError match [ErrInvalidProof].
func (e *ProofError) Is(target error) bool { return target == ErrInvalidProof }

func invalidProof(description string) error { return &ProofError{Description: description} }

// Proof is a DPoP proof that passed every check of RFC 9449 §4.3 that needs
// no state. Its jti must still be checked for replay, and its nonce, if the
// server hands out nonces, against them.
type Proof struct {
	// JKT is the RFC 7638 thumbprint (SHA-256, base64url) of its key: the
	// cnf.jkt of the tokens bound to it (RFC 9449 §6.1).
	JKT      string
	JTI      string
	IssuedAt time.Time
	// Nonce is the proof's nonce claim, or empty (RFC 9449 §8).
	Nonce string
}

// ProofCheck is what [CheckProof] compares a proof with.
type ProofCheck struct {
	// HTU is the URL the request was sent to, as [NormalizeHTU] spells it.
	HTU string
	// AccessToken is the access token presented with the proof, whose hash
	// the proof's ath must be (§4.3 check 12); empty at a token endpoint,
	// where an ath is ignored.
	AccessToken string
	// MaxAge is how old, or how far ahead, iat may be. Now is the clock.
	MaxAge time.Duration
	Now    time.Time
}

// proofClaims is the claim set of RFC 9449 §4.2.
type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath,omitempty"`
	Nonce string   `json:"nonce,omitempty"`
}

// CheckProof checks the DPoP header of r per RFC 9449 §4.3, except the jti
// replay and the nonce, which need the caller's state. A request without a
// DPoP header gives a nil proof and no error. Errors match
// [ErrInvalidProof] and are a [*ProofError].
func CheckProof(r *http.Request, c ProofCheck) (*Proof, error) {
	values := r.Header.Values(ProofHeader)
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1:
		// Check 1: which of two would count depends on every proxy on the
		// way; refuse rather than guess.
		return nil, invalidProof("The request carries more than one DPoP header.")
	}
	raw := values[0]
	if len(raw) > maxProofLen || strings.Count(raw, ".") != 2 || !strictCompact(raw) {
		return nil, invalidProof("The DPoP header is not a compact JWS.")
	}
	jws, err := jose.ParseSigned(raw)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalidProof("The DPoP header is not a compact JWS.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != typProof {
		return nil, invalidProof("The DPoP proof's typ must be dpop+jwt.")
	}
	if !slices.Contains(ProofAlgorithms, h.Algorithm) {
		return nil, invalidProof("The DPoP proof's alg is not supported; see dpop_signing_alg_values_supported.")
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() {
		return nil, invalidProof("The DPoP proof has no valid jwk header.")
	}
	if !jwk.IsPublic() {
		// Check 7: a private key (or a symmetric one) in a header sent
		// to the server is a key the client has given away.
		return nil, invalidProof("The DPoP proof's jwk must be a public key.")
	}
	payload, err := verifyProofSignature(raw, jws, h.Algorithm, jwk)
	if err != nil {
		return nil, invalidProof("The DPoP proof's signature does not verify with its jwk.")
	}
	var pc proofClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&pc); err != nil || dec.More() {
		return nil, invalidProof("The DPoP proof's claims are not a JSON object.")
	}
	if pc.JTI == "" || pc.HTM == "" || pc.HTU == "" || pc.IAT == nil {
		return nil, invalidProof("The DPoP proof lacks one of jti, htm, htu and iat.")
	}
	if len(pc.JTI) > 256 {
		return nil, invalidProof("The DPoP proof's jti is too long.")
	}
	if pc.HTM != r.Method {
		return nil, invalidProof("The DPoP proof's htm does not match the request's method.")
	}
	if got, ok := NormalizeHTU(pc.HTU); !ok || got != c.HTU {
		return nil, invalidProof("The DPoP proof's htu does not match the request's URL.")
	}
	iat := *pc.IAT
	if math.IsNaN(iat) || math.IsInf(iat, 0) || math.Abs(iat) > 1<<40 {
		return nil, invalidProof("The DPoP proof's iat is not a time.")
	}
	issued := time.Unix(0, 0).Add(time.Duration(iat * float64(time.Second)))
	if age := c.Now.Sub(issued); age > c.MaxAge || age < -c.MaxAge {
		return nil, invalidProof("The DPoP proof's iat is too old or too far ahead; check the clock.")
	}
	if c.AccessToken != "" && pc.ATH != AccessTokenHash(c.AccessToken) {
		return nil, invalidProof("The DPoP proof's ath does not match the access token.")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalidProof("The DPoP proof's jwk has no thumbprint.")
	}
	return &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: pc.JTI, IssuedAt: issued, Nonce: pc.Nonce}, nil
}

// AccessTokenHash is a proof's ath for accessToken: base64url(SHA-256)
// of its ASCII (RFC 9449 §4.2).
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// strictCompact reports whether every part of a compact JWS is unpadded
// base64url without stray bytes, so that one proof has one spelling.
func strictCompact(raw string) bool {
	if strings.ContainsAny(raw, "\r\n") { // the only bytes a strict decoder skips
		return false
	}
	enc := base64.RawURLEncoding.Strict()
	for part := range strings.SplitSeq(raw, ".") {
		if _, err := enc.DecodeString(part); err != nil {
			return false
		}
	}
	return true
}

// verifyProofSignature verifies the one signature of a proof with jwk and
// returns the payload. go-jose checks that the key suits the algorithm;
// Ed25519 (RFC 9864), which go-jose v3 does not know, is checked here over
// the compact form's signing input.
func verifyProofSignature(raw string, jws *jose.JSONWebSignature, alg string, jwk *jose.JSONWebKey) ([]byte, error) {
	if alg != algEd25519 {
		return jws.Verify(jwk.Key)
	}
	pub, ok := jwk.Key.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("bearer: Ed25519 proof with another key type")
	}
	last := strings.LastIndexByte(raw, '.')
	if !ed25519.Verify(pub, []byte(raw[:last]), jws.Signatures[0].Signature) {
		return nil, errors.New("bearer: Ed25519 signature does not verify")
	}
	return jws.UnsafePayloadWithoutVerification(), nil
}

// NormalizeHTU is a URL as RFC 9449 §4.3 check 9 compares it: without query
// and fragment, after RFC 3986 §6.2.2 syntax-based normalisation (case of
// the scheme and host, percent-encoding) and §6.2.3 scheme-based
// normalisation (the default port dropped, an empty path made "/"). ok is
// false for anything but an absolute http or https URL without user
// information.
func NormalizeHTU(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	// Path holds the path decoded; escaping it again spells every path
	// one way, whatever the case of its percent-encodings.
	p := (&url.URL{Path: u.Path}).EscapedPath()
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, true
}
