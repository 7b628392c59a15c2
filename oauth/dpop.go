package oauth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// DPoP (RFC 9449): a client proves, with every token request, that it
// holds a private key, and the tokens issued are bound to that key's RFC 7638
// thumbprint (jkt). fosite v0.49 knows nothing of it, so the proof is
// checked here, before fosite sees the request, and the grants read the
// checked proof from the context.
//
// A login (family) is bound to the key of the proof that started it: its
// access tokens carry cnf.jkt, and a public client's refresh tokens need a
// proof by the same key (§5; a confidential client's refresh tokens are
// sender-constrained by its authentication already, so they stay unbound).

// DPoPHeader is the request header that carries a proof (RFC 9449 §4.1).
const DPoPHeader = "DPoP"

// TokenTypeDPoP is the token_type of a bound access token (RFC 9449 §5) and
// the authorization scheme it is presented with (§7.1).
const TokenTypeDPoP = "DPoP"

// typDPoP is the typ of a proof (RFC 9449 §4.2).
const typDPoP = "dpop+jwt"

// DefaultDPoPMaxAge is how old, or how far ahead, a proof's iat may be when
// [Config.DPoPMaxAge] is zero (LATCH_DPOP_MAX_AGE).
const DefaultDPoPMaxAge = 60 * time.Second

// maxProofLen bounds the proofs parsed at all: an RSA 4096 jwk and its
// signature fit well within it.
const maxProofLen = 8 << 10

// algEd25519 is the fully-specified name of EdDSA over Ed25519 (RFC 9864),
// which go-jose v3 does not know; Latch verifies it itself.
const algEd25519 = "Ed25519"

// DPoPAlgorithms are the proof algorithms Latch accepts, the metadata's
// dpop_signing_alg_values_supported. Only asymmetric ones: a MAC proves
// nothing to anyone but its key's other holder, and none proves nothing
// (RFC 9449 §4.3 check 5).
var DPoPAlgorithms = []string{
	string(jose.ES256), string(jose.ES384), string(jose.ES512),
	string(jose.EdDSA), algEd25519,
	string(jose.RS256), string(jose.RS384), string(jose.RS512),
	string(jose.PS256), string(jose.PS384), string(jose.PS512),
}

// ErrInvalidDPoPProof is RFC 9449 §5's invalid_dpop_proof, which fosite has
// no constant for: a token request whose proof is missing where one is
// needed, malformed, or fails a check of §4.3.
var ErrInvalidDPoPProof = &fosite.RFC6749Error{
	ErrorField:       "invalid_dpop_proof",
	DescriptionField: "The DPoP proof is missing or invalid.",
	CodeField:        http.StatusBadRequest,
}

func invalidProof(hint string) *fosite.RFC6749Error { return ErrInvalidDPoPProof.WithHint(hint) }

// dpopProof is a proof that passed every check of RFC 9449 §4.3.
type dpopProof struct {
	// JKT is the RFC 7638 thumbprint (SHA-256, base64url) of its key.
	JKT      string
	JTI      string
	IssuedAt time.Time
}

// dpopClaims is the claim set of RFC 9449 §4.2.
type dpopClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath,omitempty"`
	Nonce string   `json:"nonce,omitempty"`
}

// dpopVerifier checks proofs for one endpoint set. It holds no state: the
// replay check is the caller's (a database at the token endpoint).
type dpopVerifier struct {
	maxAge time.Duration
	now    func() time.Time
}

// verify checks the DPoP header of r per RFC 9449 §4.3, for a request to
// the endpoint whose public URL, normalised by normalizeHTU, is htu. A
// request without a DPoP header gives a nil proof and no error. accessToken
// is the token presented with the proof to a resource server (checked
// against ath), or empty at the token endpoint, where an ath is ignored.
func (v *dpopVerifier) verify(r *http.Request, htu, accessToken string) (*dpopProof, error) {
	values := r.Header.Values(DPoPHeader)
	switch {
	case len(values) == 0:
		return nil, nil
	case len(values) > 1:
		// Check 1: which of two would count depends on every proxy on the
		// way; refuse rather than guess.
		return nil, invalidProof("The request carries more than one DPoP header.")
	}
	raw := values[0]
	if len(raw) > maxProofLen || strings.Count(raw, ".") != 2 || !canonicalJWS(raw) {
		return nil, invalidProof("The DPoP header is not a compact JWS.")
	}
	jws, err := jose.ParseSigned(raw)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalidProof("The DPoP header is not a compact JWS.")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != typDPoP {
		return nil, invalidProof("The DPoP proof's typ must be dpop+jwt.")
	}
	if !isDPoPAlgorithm(h.Algorithm) {
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
	var c dpopClaims
	if err := strictUnmarshal(payload, &c); err != nil {
		return nil, invalidProof("The DPoP proof's claims are not a JSON object.")
	}
	if c.JTI == "" || c.HTM == "" || c.HTU == "" || c.IAT == nil {
		return nil, invalidProof("The DPoP proof lacks one of jti, htm, htu and iat.")
	}
	if len(c.JTI) > 256 {
		return nil, invalidProof("The DPoP proof's jti is too long.")
	}
	if c.HTM != r.Method {
		return nil, invalidProof("The DPoP proof's htm does not match the request's method.")
	}
	if got, ok := normalizeHTU(c.HTU); !ok || got != htu {
		return nil, invalidProof("The DPoP proof's htu does not match the request's URL.")
	}
	iat := *c.IAT
	if math.IsNaN(iat) || math.IsInf(iat, 0) || math.Abs(iat) > 1<<40 {
		return nil, invalidProof("The DPoP proof's iat is not a time.")
	}
	issued := time.Unix(0, 0).Add(time.Duration(iat * float64(time.Second)))
	if age := v.now().Sub(issued); age > v.maxAge || age < -v.maxAge {
		return nil, invalidProof("The DPoP proof's iat is too old or too far ahead; check the clock.")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ATH != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return nil, invalidProof("The DPoP proof's ath does not match the access token.")
		}
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalidProof("The DPoP proof's jwk has no thumbprint.")
	}
	return &dpopProof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: c.JTI, IssuedAt: issued}, nil
}

// isDPoPAlgorithm reports whether alg is one of [DPoPAlgorithms].
func isDPoPAlgorithm(alg string) bool {
	for _, a := range DPoPAlgorithms {
		if a == alg {
			return true
		}
	}
	return false
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
		return nil, errors.New("oauth: Ed25519 proof with another key type")
	}
	last := strings.LastIndexByte(raw, '.')
	if !ed25519.Verify(pub, []byte(raw[:last]), jws.Signatures[0].Signature) {
		return nil, errors.New("oauth: Ed25519 signature does not verify")
	}
	return jws.UnsafePayloadWithoutVerification(), nil
}

// normalizeHTU is a URL as §4.3 check 9 compares it: without query and
// fragment, after RFC 3986 §6.2.2 syntax-based normalisation (case of the
// scheme and host, percent-encoding) and §6.2.3 scheme-based normalisation
// (the default port dropped, an empty path made "/"). ok is false for
// anything but an absolute http or https URL without user information.
func normalizeHTU(s string) (string, bool) {
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

// dpopReplayKey is the key of a proof in the replay store: its jti is
// unique per key only (RFC 9449 §11.1), and neither is stored as such.
func dpopReplayKey(p *dpopProof) string {
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	return hex.EncodeToString(sum[:])
}

type dpopProofKey struct{}

// withDPoP carries the checked proof of a token request to the grants.
func withDPoP(ctx context.Context, p *dpopProof) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, dpopProofKey{}, p)
}

// dpopFrom is the checked proof of the token request, or nil.
func dpopFrom(ctx context.Context) *dpopProof {
	p, _ := ctx.Value(dpopProofKey{}).(*dpopProof)
	return p
}

// proofJKT is the thumbprint of the request's proof, or empty: the key a
// new login is bound to.
func proofJKT(ctx context.Context) string {
	if p := dpopFrom(ctx); p != nil {
		return p.JKT
	}
	return ""
}

// tokenProof checks the DPoP proof of a token request, if any, and records
// it as used, on every node, until it is too old to be accepted anyway.
func (p *Provider) tokenProof(ctx context.Context, r *http.Request) (*dpopProof, error) {
	proof, err := p.dpop.verify(r, p.tokenHTU, "")
	if err != nil || proof == nil {
		return nil, err
	}
	err = p.store.UseDPoPJTI(ctx, dpopReplayKey(proof), p.now(), proof.IssuedAt.Add(p.dpop.maxAge+time.Second))
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		return nil, invalidProof("The DPoP proof was used before; make a new one for each request.")
	case err != nil:
		return nil, storageError("use dpop proof", err)
	}
	return proof, nil
}

// checkRefreshBinding decides whether a refresh may go on (RFC 9449 §5).
// A login's tokens are bound to the key of the proof it started with
// (families.dpop_jkt), so a proof by any other key is refused, and so is a
// proof on a login that started without one: the new access token would
// be bound to a key the caller does not hold, or silently not bound at
// all, where API.md promises tokens bound to the proof's key. (Binding
// each access token to its own request's key would need the key per
// token.) A public client's refresh token is itself bound: refreshing it
// needs a proof by the login's key. A confidential client's is not, and
// may go without a proof. It runs in the refresh's transaction, on the
// locked family, before anything is written: a refused refresh spends
// nothing.
func checkRefreshBinding(ctx context.Context, ar fosite.AccessRequester, fam *storage.Family) error {
	proof := dpopFrom(ctx)
	switch {
	case fam.DPoPJKT == "" && proof != nil:
		return invalidProof("This login was started without DPoP, so its tokens cannot be bound to a key; start a new login with a DPoP proof.")
	case fam.DPoPJKT == "":
		return nil
	case proof == nil && ar.GetClient().IsPublic():
		return invalidProof("The refresh token is bound to a DPoP key; send a DPoP proof by that key.")
	case proof != nil && proof.JKT != fam.DPoPJKT:
		return invalidProof("The DPoP proof is signed by another key than the one this login is bound to.")
	}
	return nil
}

// dpopGate refuses, before any grant runs (and so before a password is
// checked), a token request without a proof from a client registered with
// dpop_bound_access_tokens (RFC 9449 §5.2). It handles no grant itself.
type dpopGate struct{}

var _ fosite.TokenEndpointHandler = dpopGate{}

func (dpopGate) CanHandleTokenEndpointRequest(context.Context, fosite.AccessRequester) bool {
	return true
}

func (dpopGate) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (dpopGate) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if fc, ok := ar.GetClient().(fositeClient); ok && fc.c.DPoPBoundAccessTokens && dpopFrom(ctx) == nil {
		return invalidProof("This client must send a DPoP proof with every token request.")
	}
	// Not handled: fosite goes on to the grant's own handler.
	return fosite.ErrUnknownRequest
}

func (dpopGate) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// Confirmation is the cnf claim of a bound token (RFC 7800, RFC 9449 §6).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// confirmation is the cnf of a login's access tokens, nil when unbound.
func confirmation(fam *storage.Family) *Confirmation {
	if fam.DPoPJKT == "" {
		return nil
	}
	return &Confirmation{JKT: fam.DPoPJKT}
}

// newDPoPVerifier returns the token endpoint's verifier and its htu.
func newDPoPVerifier(issuer string, maxAge time.Duration, now func() time.Time) (*dpopVerifier, string, error) {
	if maxAge < 0 {
		return nil, "", errors.New("oauth: dpop max age must not be negative")
	}
	if maxAge == 0 {
		maxAge = DefaultDPoPMaxAge
	}
	htu, ok := normalizeHTU(issuer + "/oauth2/token")
	if !ok {
		return nil, "", fmt.Errorf("oauth: issuer %q is not an http or https URL", issuer)
	}
	return &dpopVerifier{maxAge: maxAge, now: now}, htu, nil
}
