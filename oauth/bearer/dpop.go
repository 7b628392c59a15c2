package bearer

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DPoP-bound access tokens (RFC 9449 §7): a token whose cnf names a key
// thumbprint (jkt) is accepted only as "Authorization: DPoP <token>" with a
// DPoP proof by that key for this very request: its htm and htu name the
// request's method and URL, its iat is recent, its ath is the token's hash,
// and its jti has not been seen within the proof's lifetime. Presented as a
// bearer token it is refused, or anyone who copied it could use it.

// SchemeDPoP is the authorization scheme of DPoP-bound tokens (RFC 9449
// §7.1).
const SchemeDPoP = "DPoP"

// DefaultProofMaxAge is how old, or how far ahead, a proof's iat may be when
// [DPoPOptions.MaxAge] is zero; it matches Latch's LATCH_DPOP_MAX_AGE
// default.
const DefaultProofMaxAge = 60 * time.Second

// DefaultReplayCacheSize bounds the proofs remembered against replay when
// [DPoPOptions.ReplayCacheSize] is zero.
const DefaultReplayCacheSize = 100_000

// DPoPOptions configures how DPoP-bound tokens are checked.
type DPoPOptions struct {
	// BaseURL is this resource server's URL as clients call it (scheme,
	// host and any path prefix a proxy strips), for the htu check: the
	// proof's htu must be BaseURL followed by the request's path. Empty
	// means the request's own scheme (TLS or not), Host and path, which is
	// right without a proxy.
	BaseURL string
	// MaxAge is how old, or how far ahead, a proof's iat may be; 0 means
	// [DefaultProofMaxAge].
	MaxAge time.Duration
	// ReplayCacheSize bounds the proofs remembered, in this process, until
	// they are too old to be accepted anyway (RFC 9449 §11.1); 0 means
	// [DefaultReplayCacheSize]. When it is full of live proofs, requests
	// with new proofs are answered 503 rather than let a replay through.
	// Each process has its own cache: behind a load balancer a proof could
	// be replayed once on every instance within MaxAge, with the same
	// method, URL and token only.
	ReplayCacheSize int
}

// ErrReplayCacheFull means the replay cache holds ReplayCacheSize live
// proofs, so a new one cannot be remembered; it wraps [ErrUnavailable].
var ErrReplayCacheFull = fmt.Errorf("%w: the DPoP replay cache is full", ErrUnavailable)

// errNoToken is a request without an access token.
var errNoToken = errors.New("bearer: no access token")

// confirmedKey is the jkt of a cnf claim or introspection member (RFC 7800
// §3.1, RFC 9449 §6): empty for an unbound token. A cnf with anything else
// (a certificate thumbprint, RFC 8705) binds the token to a key this
// package cannot check, so the token is refused.
func confirmedKey(cnf json.RawMessage) (string, error) {
	if len(cnf) == 0 || string(cnf) == "null" {
		return "", nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(cnf, &members); err != nil {
		return "", invalidf("cnf is not an object")
	}
	var jkt string
	if raw, ok := members["jkt"]; !ok || len(members) != 1 || json.Unmarshal(raw, &jkt) != nil || jkt == "" {
		return "", invalidf("the token is bound (cnf) to something other than a DPoP key")
	}
	return jkt, nil
}

// authorization splits the one Authorization header of r into its scheme
// and token68 (RFC 9110 §11.4). Several Authorization headers are no
// credentials rather than whichever comes first.
func authorization(r *http.Request) (scheme, token string, ok bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", "", false
	}
	scheme, token, ok = strings.Cut(values[0], " ")
	token = strings.TrimLeft(token, " ")
	if !ok || token == "" || strings.ContainsAny(token, " \t") {
		return "", "", false
	}
	return scheme, token, true
}

// Authenticate verifies the access token of r: a bearer token (RFC 6750
// §2.1) not bound to a key, or a DPoP-bound token presented as
// "Authorization: DPoP" with a valid proof (RFC 9449 §7.1). Errors match
// [ErrInvalidToken], [ErrInvalidProof] or [ErrUnavailable]; a request
// without credentials gives an error that matches [ErrInvalidToken].
// [Verifier.Middleware] calls it; call it yourself to protect something
// other than an http.Handler.
func (v *Verifier) Authenticate(r *http.Request) (*Claims, error) {
	c, _, err := v.authenticate(r)
	if errors.Is(err, errNoToken) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c, err
}

// authenticate is [Verifier.Authenticate], also saying which scheme the
// client used ("Bearer", "DPoP" or "" for none), for the challenge.
func (v *Verifier) authenticate(r *http.Request) (*Claims, string, error) {
	scheme, token, ok := authorization(r)
	switch {
	case !ok:
		return nil, "", errNoToken
	case strings.EqualFold(scheme, "Bearer"):
		c, err := v.Verify(r.Context(), token)
		return c, "Bearer", err
	case strings.EqualFold(scheme, SchemeDPoP):
		c, err := v.verifyDPoP(r, token)
		return c, SchemeDPoP, err
	}
	return nil, "", errNoToken
}

// verifyDPoP checks a token presented with the DPoP scheme and the proof
// that comes with it (RFC 9449 §7.1, §4.3). The proof is checked first: it
// costs no call to the server. Its jti is remembered last, so that a
// request refused for another reason does not use the proof up.
func (v *Verifier) verifyDPoP(r *http.Request, token string) (*Claims, error) {
	htu, ok := v.requestHTU(r)
	if !ok {
		return nil, invalidProof("The request's URL cannot be compared with the proof's htu.")
	}
	maxAge := v.opts.DPoP.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultProofMaxAge
	}
	proof, err := CheckProof(r, ProofCheck{HTU: htu, AccessToken: token, MaxAge: maxAge, Now: v.opts.Now()})
	switch {
	case err != nil:
		return nil, err
	case proof == nil:
		return nil, invalidProof("A DPoP proof is required with the DPoP scheme.")
	}
	c, err := v.verifyToken(r.Context(), token)
	switch {
	case err != nil:
		return nil, err
	case c.JKT == "":
		return nil, invalidf("the token is not bound to a DPoP key")
	case c.JKT != proof.JKT:
		return nil, invalidf("the DPoP proof is signed by another key than the token is bound to")
	}
	if err := v.replay.use(proof, v.opts.Now(), proof.IssuedAt.Add(maxAge+time.Second)); err != nil {
		return nil, err
	}
	return c, nil
}

// requestHTU is the URL of r as a proof's htu must name it.
func (v *Verifier) requestHTU(r *http.Request) (string, bool) {
	// RequestURI is the request-target as the client sent it, which
	// http.StripPrefix and routers leave alone.
	path := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		path = u.EscapedPath()
	}
	if base := v.opts.DPoP.BaseURL; base != "" {
		return NormalizeHTU(strings.TrimSuffix(base, "/") + path)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return NormalizeHTU(scheme + "://" + r.Host + path)
}

// replayCache remembers the proofs accepted in this process until they
// are too old to be accepted anyway.
type replayCache struct {
	size int

	mu        sync.Mutex
	seen      map[[32]byte]time.Time // proof key → when it may be forgotten
	nextSweep time.Time
}

func newReplayCache(size int) *replayCache {
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	return &replayCache{size: size, seen: map[[32]byte]time.Time{}}
}

// use records proof as used until until. It fails with [ErrInvalidProof]
// if it was used before, and [ErrReplayCacheFull] if there is no room. A
// full cache is swept at most once a second, so that a flood of proofs
// cannot make every request walk it.
func (c *replayCache) use(p *Proof, now, until time.Time) error {
	// A jti is unique per key only (RFC 9449 §11.1).
	key := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return invalidProof("The DPoP proof was used before; make a new one for each request.")
	}
	if len(c.seen) >= c.size && !now.Before(c.nextSweep) {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		c.nextSweep = now.Add(time.Second)
	}
	if len(c.seen) >= c.size {
		return ErrReplayCacheFull
	}
	c.seen[key] = until
	return nil
}

// writeChallenge answers a request that authenticate refused: 401 with the
// challenge of the scheme the client used, and the other scheme's as a
// hint (RFC 9110 §11.6.1 allows a field line each), or 503 when the server
// cannot be asked.
func (v *Verifier) writeChallenge(w http.ResponseWriter, scheme string, err error) {
	if errors.Is(err, ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token cannot be checked now; retry later.")
		return
	}
	code, description := "invalid_token", "The access token is invalid, expired or revoked."
	var pe *ProofError
	switch {
	case errors.As(err, &pe):
		code, description = "invalid_dpop_proof", pe.Description
	case errors.Is(err, errBoundAsBearer):
		description = "The access token is bound to a DPoP key; present it as \"Authorization: DPoP\" with a DPoP proof."
	case errors.Is(err, errNoToken):
		// RFC 6750 §3.1, RFC 9449 §7.1: no error code when no token was
		// presented.
		code, description = "", ""
	}
	algs := "algs=" + quote(strings.Join(ProofAlgorithms, " "))
	dpop := SchemeDPoP + " " + strings.Join(append(v.challengeParams(code, description, ""), algs), ", ")
	if scheme == SchemeDPoP {
		w.Header().Add("WWW-Authenticate", dpop)
		w.Header().Add("WWW-Authenticate", "Bearer"+realmParam(v.opts.Realm))
	} else {
		w.Header().Add("WWW-Authenticate", bearerChallenge(v.challengeParams(code, description, "")))
		w.Header().Add("WWW-Authenticate", SchemeDPoP+" "+strings.Join(append(v.challengeParams("", "", ""), algs), ", "))
	}
	if code == "" {
		code, description = "invalid_request", "An access token is required."
	}
	writeError(w, http.StatusUnauthorized, code, description)
}

func realmParam(realm string) string {
	if realm == "" {
		return ""
	}
	return " realm=" + quote(realm)
}
