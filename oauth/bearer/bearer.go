// Package bearer protects a resource server's net/http handlers with the
// access tokens of a Latch authorization server (or any RFC 8414 server that
// issues RFC 9068 JWT access tokens and answers RFC 7662 introspection).
//
// A token with three dot-separated parts is a JWT: it is checked locally
// against the server's published keys (RFC 7517 JWKS, cached and refetched
// when a token names an unknown kid), with its typ (at+jwt, RFC 9068 §4),
// iss, aud and exp/nbf. Any other token, and a JWT when no Audience is
// configured, is introspected (RFC 7662), optionally with a short cache
// bounded by the token's exp. The verified claims travel in the request
// context ([FromContext]).
//
// Failures are answered as RFC 6750 §3 says: 401 with
// WWW-Authenticate: Bearer (and error="invalid_token" when a token was
// presented but is not valid), 403 insufficient_scope from [RequireScope].
//
// DPoP-bound tokens (RFC 9449), whose cnf claim or introspection member
// names a key thumbprint (jkt), are accepted only as
// "Authorization: DPoP <token>" with a DPoP proof header by that key for
// this request ([CheckProof]: typ, an asymmetric alg from
// [ProofAlgorithms], signature, htm and htu naming the request, iat within
// [DPoPOptions.MaxAge], ath the token's hash), whose jti has not been seen
// by this process within that time. A bound token presented as a bearer
// token is refused, and so is a token bound to anything else (a
// certificate, RFC 8705). Refusals of the DPoP scheme answer with a
// WWW-Authenticate: DPoP challenge carrying error (invalid_token or
// invalid_dpop_proof) and algs (RFC 9449 §7.1); every 401 carries a
// challenge for each scheme. Resource-server nonces (§9) are not offered.
//
// A JWT is verified without asking the server. When it carries a status
// claim (draft-ietf-oauth-status-list, as Latch's JWTs do), its bit in the
// server's Token Status List is checked too: each list is fetched once,
// kept decoded, and refetched in the background after its ttl, so a
// revocation is seen within ttl plus one fetch at no per-request cost, and
// a list older than [Options.StatusListMaxStaleness] fails the request
// closed ([ErrUnavailable]). Lists are only fetched under the Issuer. A JWT
// without a status claim can only be revoked by its exp (see
// [Options.RequireStatusList]). This package uses go-jose for the JOSE
// parts and imports nothing else of Latch.
package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors returned by [Verifier.Verify]. Test them with [errors.Is].
var (
	// ErrInvalidToken means the token is missing, malformed, forged,
	// expired, revoked or meant for another audience.
	ErrInvalidToken = errors.New("bearer: invalid token")
	// ErrUnavailable means the authorization server could not be asked (its
	// metadata, keys or introspection endpoint failed); retry later.
	ErrUnavailable = errors.New("bearer: authorization server unavailable")
)

// Options configures a [Verifier].
type Options struct {
	// Issuer is the authorization server's issuer identifier; tokens must
	// carry it as iss, and its RFC 8414 metadata is found under it. Required.
	Issuer string
	// Audience is this resource server's identifier; a JWT must list it in
	// aud (RFC 9068 §4). Without it JWTs are not verified locally but
	// introspected.
	Audience string
	// JWKSURL is the server's key set; empty means the jwks_uri of its
	// metadata.
	JWKSURL string
	// IntrospectionURL, ClientID and ClientSecret let opaque tokens be
	// introspected (RFC 7662), authenticating with client_secret_basic. An
	// empty IntrospectionURL with a ClientID means the
	// introspection_endpoint of the metadata.
	IntrospectionURL string
	ClientID         string
	ClientSecret     string
	// IntrospectionCacheTTL keeps an active introspection answer this long
	// (never past the token's exp); 0 asks the server every time, so a
	// revocation takes effect at once. The time counts from when the
	// introspection request was sent, so a revocation is seen by every
	// request that begins more than IntrospectionCacheTTL after the
	// revocation call returned: that is the cache's whole bound. Inactive
	// answers are never cached.
	IntrospectionCacheTTL time.Duration
	// StatusListMaxStaleness bounds how old a token status list may be
	// (since the fetch that last confirmed it) and still be used; past it,
	// a token that names the list waits for a fetch, and is refused with
	// ErrUnavailable (503 from [Verifier.Middleware]) when the fetch
	// fails. 0 means 5 times the list's refresh interval (its ttl), and
	// at least 1 minute. See status.go for the whole timing.
	StatusListMaxStaleness time.Duration
	// RequireStatusList refuses JWTs that carry no status_list claim,
	// which no revocation could reach before their exp.
	RequireStatusList bool
	// Leeway tolerates clock skew in exp and nbf checks; 0 means 30s. A
	// negative value means none.
	Leeway time.Duration
	// JWKSRefreshInterval is the least time between two fetches of the key
	// set caused by unknown kids; 0 means 1s. A request with an unknown kid
	// waits for the next allowed fetch rather than failing, so a key
	// rotation never fails a request, and forged kids cost at most one fetch
	// per interval.
	JWKSRefreshInterval time.Duration
	// JWKSMaxAge is how long a fetched key set is used before it is fetched
	// again; 0 means 5 minutes.
	JWKSMaxAge time.Duration
	// Realm is the realm of WWW-Authenticate challenges; empty omits it.
	Realm string
	// HTTPClient makes the calls to the authorization server; nil means a
	// client with a 10s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DPoP configures the checks of DPoP-bound tokens (dpop.go).
	DPoP DPoPOptions
}

// Claims is what a verified token says.
type Claims struct {
	Issuer    string
	Subject   string // the user id, or the client id for client_credentials
	Audience  []string
	ClientID  string
	SessionID string // sid: the login (token family) at Latch
	Scope     string // space-separated
	JWTID     string
	Username  string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// JKT is the cnf.jkt of a DPoP-bound token (RFC 9449 §6): the RFC 7638
	// thumbprint of the key whose proof came with the request. Empty for
	// a bearer token.
	JKT string
	// Introspected is true when the server was asked (an opaque token, or a
	// JWT without a configured Audience), false for a JWT checked locally.
	Introspected bool
}

// Scopes returns the granted scopes.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether scope was granted.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes(), scope) }

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	opts Options
	jwks *jwksCache

	// issuerURL is the parsed Issuer; status lists are fetched only
	// under it, with statusClient, which follows no redirects.
	issuerURL    *url.URL
	status       *statusCache
	statusClient *http.Client

	metaMu sync.Mutex
	meta   *serverMetadata

	cacheMu sync.Mutex
	cache   map[[32]byte]cached

	replay *replayCache // DPoP proofs seen (dpop.go)
}

type cached struct {
	claims *Claims
	until  time.Time
}

// maxCached bounds the introspection cache; past it, answers are not cached
// until expired entries have been swept.
const maxCached = 10000

// New returns a Verifier. It makes no network call: metadata and keys are
// fetched on first use.
func New(opts Options) (*Verifier, error) {
	if opts.Issuer == "" {
		return nil, errors.New("bearer: Issuer is required")
	}
	if opts.Audience == "" && opts.ClientID == "" {
		return nil, errors.New("bearer: set Audience (to verify JWTs) or ClientID and ClientSecret (to introspect), or both")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	} else if opts.Leeway < 0 {
		opts.Leeway = 0
	}
	if opts.JWKSRefreshInterval <= 0 {
		opts.JWKSRefreshInterval = time.Second
	}
	if opts.JWKSMaxAge <= 0 {
		opts.JWKSMaxAge = 5 * time.Minute
	}
	iss, err := url.Parse(opts.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("bearer: Issuer %q is not an absolute URL", opts.Issuer)
	}
	v := &Verifier{
		opts: opts, cache: map[[32]byte]cached{}, replay: newReplayCache(opts.DPoP.ReplayCacheSize),
		issuerURL: iss, statusClient: noRedirects(opts.HTTPClient),
	}
	v.jwks = newJWKSCache(v)
	v.status = newStatusCache(v)
	return v, nil
}

// Verify checks token, presented as a bearer token, and returns its claims.
// Errors wrap [ErrInvalidToken] or [ErrUnavailable]. A DPoP-bound token is
// refused: it needs its proof, which [Verifier.Authenticate] checks.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, err := v.verifyToken(ctx, token)
	if err == nil && c.JKT != "" {
		// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token.
		return nil, errBoundAsBearer
	}
	return c, err
}

// errBoundAsBearer refuses a DPoP-bound token presented as a bearer token:
// taking it would throw its binding away.
var errBoundAsBearer = fmt.Errorf("%w: the token is bound to a DPoP key (cnf.jkt); present it with the DPoP scheme and a proof", ErrInvalidToken)

// verifyToken checks token, bound or not, and returns its claims.
func (v *Verifier) verifyToken(ctx context.Context, token string) (*Claims, error) {
	if token == "" || len(token) > 16<<10 {
		return nil, fmt.Errorf("%w: empty or too long", ErrInvalidToken)
	}
	if strings.Count(token, ".") == 2 && v.opts.Audience != "" {
		return v.verifyJWT(ctx, token)
	}
	if v.opts.ClientID == "" {
		return nil, fmt.Errorf("%w: not a JWT, and introspection is not configured", ErrInvalidToken)
	}
	return v.introspectCached(ctx, token)
}

type claimsKey struct{}

// FromContext returns the claims that [Verifier.Middleware] verified.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// NewContext returns a context carrying c, for tests of handlers that call
// [FromContext].
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Middleware lets through requests with a valid access token in the
// Authorization header ([Verifier.Authenticate]: a bearer token, RFC 6750
// §2.1, or a DPoP-bound token with its proof, RFC 9449 §7.1), with its
// claims in the context, and answers the others with 401 and
// WWW-Authenticate challenges for both schemes (or 503 when the server
// cannot be asked).
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, scheme, err := v.authenticate(r)
		if err != nil {
			v.writeChallenge(w, scheme, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
	})
}

// RequireScope lets through requests whose verified token (from
// [Verifier.Middleware], which must run first) carries every scope, and
// answers the others 403 insufficient_scope (RFC 6750 §3.1).
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := FromContext(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeError(w, http.StatusUnauthorized, "invalid_token", "No verified access token.")
				return
			}
			for _, s := range scopes {
				if !c.HasScope(s) {
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", error_description="The access token lacks a required scope.", scope=%s`, quote(strings.Join(scopes, " "))))
					writeError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks a required scope.")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// challengeParams are the auth-params of a challenge (RFC 6750 §3).
func (v *Verifier) challengeParams(code, description, scope string) []string {
	var params []string
	if v.opts.Realm != "" {
		params = append(params, "realm="+quote(v.opts.Realm))
	}
	if code != "" {
		params = append(params, "error="+quote(code))
	}
	if description != "" {
		params = append(params, "error_description="+quote(description))
	}
	if scope != "" {
		params = append(params, "scope="+quote(scope))
	}
	return params
}

// bearerChallenge is a Bearer challenge with params (RFC 6750 §3).
func bearerChallenge(params []string) string {
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote makes an RFC 9110 quoted-string; the values here never hold a
// quote or backslash, but escape them anyway.
func quote(s string) string {
	return strconv.Quote(strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s))
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// Token reads "Authorization: Bearer TOKEN" (RFC 6750 §2.1): the scheme is
// case-insensitive (RFC 9110 §11.1), and several Authorization headers are
// no token rather than whichever comes first. Latch's admin API reads its
// bearer with it too, so both agree on what a bearer is.
func Token(r *http.Request) (string, bool) {
	scheme, token, ok := authorization(r)
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, true
}

// introspectCached introspects token, answering from the cache when
// IntrospectionCacheTTL allows.
func (v *Verifier) introspectCached(ctx context.Context, token string) (*Claims, error) {
	ttl := v.opts.IntrospectionCacheTTL
	if ttl <= 0 {
		return v.introspect(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	now := v.opts.Now()
	v.cacheMu.Lock()
	e, ok := v.cache[key]
	v.cacheMu.Unlock()
	if ok && now.Before(e.until) {
		return e.claims, nil
	}
	c, err := v.introspect(ctx, token)
	if err != nil {
		return nil, err
	}
	until := now.Add(ttl)
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if len(v.cache) >= maxCached {
		for k, e := range v.cache {
			if !now.Before(e.until) {
				delete(v.cache, k)
			}
		}
	}
	if len(v.cache) < maxCached {
		v.cache[key] = cached{claims: c, until: until}
	}
	return c, nil
}
