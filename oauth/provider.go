// Package oauth is Latch's protocol core: the one place where fosite is
// composed, and where Latch's own rules live — logins (token families),
// rotation with reuse detection, revocation, introspection, and the account
// operations that end logins (password change, disable, delete).
//
// fosite parses requests, authenticates clients, generates and checks HMAC
// tokens and writes RFC 6749 errors. The grant handlers, revocation and
// introspection are Latch's own, because fosite's defaults are wrong for us
// in ways listed in FOSITE.md: reuse detected before the client is checked,
// races answered with invalid_request, no absolute session lifetime,
// revocation answered 200 for another client's token, introspection open to
// any bearer token.
//
// Persistence goes through [storage.Store]; HTTP stays in package handlers.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchhq/latch/storage"
)

// Modes of reuse detection ([Config.ReuseDetection]).
const (
	ReuseEnforce = "enforce"
	ReuseReport  = "report"
)

// Config holds the settings of a [Provider].
type Config struct {
	// Issuer is the iss of metadata, introspection answers and JWTs.
	Issuer string
	// Secret keys the HMAC of opaque tokens; 32 bytes of randomness or more.
	Secret []byte
	// OldSecrets are retired secrets whose tokens are still accepted.
	OldSecrets [][]byte

	// AccessTokenFormat is FormatOpaque (the default) or FormatJWT: RFC 9068
	// access tokens signed with the keys of [Provider.RotateSigningKey].
	AccessTokenFormat string
	// DefaultAudience is the JWT aud of clients without an audience of
	// their own; empty means the Issuer.
	DefaultAudience string

	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration // idle lifetime of a refresh token
	SessionMaxAge   time.Duration // absolute lifetime of a login
	RefreshGrace    time.Duration
	// ReuseDetection is what a spent refresh token presented after the
	// grace window does: ReuseEnforce (the default) ends its login,
	// ReuseReport only records and counts the reuse, so that operators can
	// size RefreshGrace from real traffic before they enforce. Either way
	// the token is refused.
	ReuseDetection string
	// AnomalyAction is what a refresh that raises a refresh-time signal
	// listed in AnomalySignals does (signals.go): AnomalyLog (the default)
	// only records and counts it, AnomalyRevoke ends the login instead.
	// AnomalySignals nil means user_agent_changed alone. RefreshBurst is
	// the refreshes of one login allowed within a minute before
	// refresh_burst; zero means DefaultRefreshBurst.
	AnomalyAction  string
	AnomalySignals []string
	RefreshBurst   int
	// EventRetention is how long the janitor keeps audit events
	// (LATCH_EVENT_RETENTION); zero keeps them for ever.
	EventRetention time.Duration
	// DPoPMaxAge is how old, or how far ahead, a DPoP proof's iat may be;
	// zero means DefaultDPoPMaxAge (dpop.go).
	DPoPMaxAge time.Duration
	// DPoPNonce makes the token endpoint require server-provided nonces in
	// DPoP proofs (RFC 9449 §8; dpopnonce.go).
	DPoPNonce bool
	// StatusListTTL is the ttl of Status List Tokens (JWT access tokens
	// only); zero means DefaultStatusListTTL (status.go).
	StatusListTTL time.Duration

	// LoginMaxFailures and LoginMaxFailuresPerAddress are the failed password
	// grants allowed per username and per client address within
	// LoginLockout; past them the password grant is refused for LoginLockout.
	LoginMaxFailures           int
	LoginMaxFailuresPerAddress int
	LoginLockout               time.Duration

	// ClientAuthMaxFailures is the failed authentications allowed per client
	// id within ClientAuthLockout, for ids whose secret costs an argon2id
	// verification (secrets an operator chose, and unknown ids); past it,
	// that id's authentications are refused, without hashing, for
	// ClientAuthLockout. Zero means 20 and 15 minutes (see clientguard.go).
	ClientAuthMaxFailures int
	ClientAuthLockout     time.Duration

	// Argon2 is the cost of password hashes; the zero value is OWASP's
	// minimum. Hashes of another cost are upgraded at the next login.
	Argon2 Argon2Params
	// HashConcurrency bounds simultaneous password hashes (0: the number of
	// CPUs); a password grant that waits HashQueueWait (0: 2s) for a slot is
	// answered 503.
	HashConcurrency int
	HashQueueWait   time.Duration

	Logger *slog.Logger
	// Registerer receives Latch's protocol metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Provider serves the token, revocation and introspection endpoints and the
// account operations. It is safe for concurrent use.
type Provider struct {
	cfg      Config
	store    storage.Store
	fosite   *fosite.Fosite
	strategy *tokenStrategy
	log      *slog.Logger
	metrics  *metrics
	pw       *passwords
	keys     *keyRing
	lockouts lockoutLog
	guardKey []byte // keys the login guard's username counters (guard.go)
	dpop     *dpopVerifier
	tokenHTU string      // the token endpoint's URL as DPoP proofs name it
	nonces   *dpopNonces // nil unless Config.DPoPNonce
	// status hands out status list indexes, statusCache keeps the signed
	// lists (status.go).
	status      *statusAllocator
	statusCache statusCache
}

// NewProvider composes fosite with Latch's handlers over store.
func NewProvider(cfg Config, store storage.Store) (*Provider, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("oauth: secret must be at least 32 bytes")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("oauth: issuer is required")
	}
	if cfg.AccessTokenTTL <= 0 || cfg.RefreshTokenTTL <= 0 || cfg.SessionMaxAge <= 0 || cfg.RefreshGrace < 0 || cfg.EventRetention < 0 {
		return nil, errors.New("oauth: token lifetimes must be positive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch cfg.AccessTokenFormat {
	case "":
		cfg.AccessTokenFormat = FormatOpaque
	case FormatOpaque, FormatJWT:
	default:
		return nil, fmt.Errorf("oauth: access token format %q is not opaque or jwt", cfg.AccessTokenFormat)
	}
	switch cfg.ReuseDetection {
	case "":
		cfg.ReuseDetection = ReuseEnforce
	case ReuseEnforce, ReuseReport:
	default:
		return nil, fmt.Errorf("oauth: reuse detection %q is not enforce or report", cfg.ReuseDetection)
	}
	if err := checkAnomalyConfig(&cfg); err != nil {
		return nil, err
	}
	if cfg.DefaultAudience == "" {
		cfg.DefaultAudience = cfg.Issuer
	}
	if cfg.StatusListTTL < 0 {
		return nil, errors.New("oauth: status list ttl must not be negative")
	}
	if cfg.StatusListTTL == 0 {
		cfg.StatusListTTL = DefaultStatusListTTL
	}
	global, err := hmacKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	guardKey, err := loginGuardKey(cfg.Secret)
	if err != nil {
		return nil, err
	}
	var rotated [][]byte
	for _, old := range cfg.OldSecrets {
		k, err := hmacKey(old)
		if err != nil {
			return nil, err
		}
		rotated = append(rotated, k)
	}
	if cfg.LoginMaxFailures <= 0 {
		cfg.LoginMaxFailures = 5
	}
	if cfg.LoginMaxFailuresPerAddress <= 0 {
		cfg.LoginMaxFailuresPerAddress = 50
	}
	if cfg.LoginLockout <= 0 {
		cfg.LoginLockout = 15 * time.Minute
	}
	if cfg.ClientAuthMaxFailures <= 0 {
		cfg.ClientAuthMaxFailures = defaultClientAuthMaxFailures
	}
	if cfg.ClientAuthLockout <= 0 {
		cfg.ClientAuthLockout = defaultClientAuthLockout
	}
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = runtime.NumCPU()
	}
	if cfg.HashQueueWait <= 0 {
		cfg.HashQueueWait = 2 * time.Second
	}
	argon := cfg.Argon2.orDefault()
	if argon.time < 1 || argon.threads < 1 || argon.memory < 8*uint32(argon.threads) {
		return nil, errors.New("oauth: argon2 parameters need time >= 1, threads >= 1 and memory >= 8 KiB per thread")
	}

	dpop, tokenHTU, err := newDPoPVerifier(cfg.Issuer, cfg.DPoPMaxAge, cfg.Now)
	if err != nil {
		return nil, err
	}

	var nonces *dpopNonces
	if cfg.DPoPNonce {
		if nonces, err = newDPoPNonces(cfg.Secret, dpop.maxAge); err != nil {
			return nil, err
		}
	}

	pw := newPasswords(argon, cfg.HashConcurrency, cfg.HashQueueWait)
	// Every field fosite would otherwise default lazily is set here: its lazy
	// defaults race under concurrent first requests (FOSITE.md §1.3).
	fc := &fosite.Config{
		AccessTokenLifespan:        cfg.AccessTokenTTL,
		RefreshTokenLifespan:       cfg.RefreshTokenTTL,
		GlobalSecret:               global,
		RotatedGlobalSecrets:       rotated,
		TokenEntropy:               32,
		ClientSecretsHasher:        secretHasher{pw},
		ScopeStrategy:              fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:   fosite.ExactAudienceMatchingStrategy,
		RefreshTokenScopes:         []string{},
		JWKSFetcherStrategy:        fosite.NewDefaultJWKSFetcherStrategy(),
		AccessTokenIssuer:          cfg.Issuer,
		TokenURL:                   cfg.Issuer + "/oauth2/token",
		SendDebugMessagesToClients: false,
	}
	p := &Provider{
		cfg:      cfg,
		store:    store,
		strategy: newTokenStrategy(fc),
		log:      cfg.Logger,
		metrics:  newMetrics(cfg.Registerer),
		pw:       pw,
		guardKey: guardKey,
		dpop:     dpop,
		tokenHTU: tokenHTU,
		nonces:   nonces,
	}
	p.keys = newKeyRing(store, cfg.Secret, cfg.OldSecrets, p.now)
	p.status = &statusAllocator{store: store, now: p.now, accessTTL: cfg.AccessTokenTTL}
	fc.ClientAuthenticationStrategy = p.authenticateClient
	handler := func(h any) compose.Factory {
		return func(fosite.Configurator, any, any) any { return h }
	}
	handlers := make([]compose.Factory, 0, len(grants)+2)
	handlers = append(handlers, handler(dpopGate{})) // first: it refuses before a grant's work
	for _, g := range grants {
		handlers = append(handlers, handler(g.handler(p)))
	}
	handlers = append(handlers, handler(&revocation{p}))
	composed := compose.Compose(fc, clientManager{store}, p.strategy, handlers...)
	// Compose always builds a *fosite.Fosite; introspection needs its
	// AuthenticateClient, which the OAuth2Provider interface does not expose.
	p.fosite = composed.(*fosite.Fosite)
	return p, nil
}

func (p *Provider) now() time.Time { return p.cfg.Now().UTC() }

// Token runs the token endpoint (RFC 6749 §4.3, §4.4, §6). The error, if
// any, is an RFC 6749 error ready for [Provider.WriteAccessError]. Every
// answer counts in latch_token_requests_total.
func (p *Provider) Token(ctx context.Context, r *http.Request) (_ fosite.AccessRequester, _ fosite.AccessResponder, err error) {
	defer func() { p.countToken(r.PostForm.Get("grant_type"), err) }()
	if err := parseForm(r); err != nil {
		return nil, nil, err
	}
	gt := r.PostForm.Get("grant_type")
	if gt == "" {
		return nil, nil, fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing.")
	}
	if _, ok := grantNamed(gt); !ok {
		return nil, nil, fosite.ErrUnsupportedGrantType.WithHintf("Grant type %q is not supported.", truncate(gt, 40))
	}
	if err := checkClientCredentials(r); err != nil {
		return nil, nil, err
	}
	if err := p.prepareSigning(ctx); err != nil {
		return nil, nil, p.mapError(ctx, err)
	}
	if p.JWTAccessTokens() {
		// The status list index of the access token, taken before the
		// grant's transaction (status.go); given back if unused.
		slot, err := p.status.take(ctx)
		if err != nil {
			return nil, nil, p.mapError(ctx, err)
		}
		defer p.status.giveBack(slot)
		ctx = withStatusSlot(ctx, slot)
	}
	proof, err := p.tokenProof(ctx, r, gt)
	if err != nil {
		return nil, nil, p.mapError(ctx, err)
	}
	ctx = withDPoP(ctx, proof)
	ar, err := p.fosite.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
	if err != nil {
		return ar, nil, p.mapError(ctx, err)
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		return ar, nil, p.mapError(ctx, err)
	}
	return ar, resp, nil
}

// WriteAccessResponse writes a successful token response.
func (p *Provider) WriteAccessResponse(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, resp fosite.AccessResponder) {
	p.fosite.WriteAccessResponse(ctx, w, ar, resp)
}

// WriteAccessError writes an RFC 6749 §5.2 error; handlers use it for every
// OAuth endpoint so that all errors share one shape.
func (p *Provider) WriteAccessError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	p.fosite.WriteAccessError(ctx, w, ar, err)
}

// Revoke runs the revocation endpoint (RFC 7009). A nil error means 200.
// Every answer counts in latch_revocations_total.
func (p *Provider) Revoke(ctx context.Context, r *http.Request) (err error) {
	defer func() { p.metrics.revocations.WithLabelValues(result(err)).Inc() }()
	if err := parseForm(r); err != nil {
		return err
	}
	if err := checkClientCredentials(r); err != nil {
		return err
	}
	return p.mapRetryError(ctx, p.fosite.NewRevocationRequest(ctx, r))
}

// Ready reports whether the database answers.
func (p *Provider) Ready(ctx context.Context) error { return p.store.Ping(ctx) }

// Issuer returns the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// parseForm enforces the form rules of RFC 6749 §3.2 and §5: a POST with an
// application/x-www-form-urlencoded body whose parameters appear once.
func parseForm(r *http.Request) error {
	if r.Method != http.MethodPost {
		return fosite.ErrInvalidRequest.WithHint("The request must be a POST.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return fosite.ErrInvalidRequest.WithHint("The body must be application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			// 413, as the edge answers a body whose declared length is
			// over the cap, for one streamed past it. (fosite's errors.Is
			// compares the status too: this is not ErrInvalidRequest to it.)
			e := fosite.ErrInvalidRequest.WithHint("The request body is too large.").WithWrap(err)
			e.CodeField = http.StatusRequestEntityTooLarge
			return e
		}
		return fosite.ErrInvalidRequest.WithHint("The body could not be parsed as a form.").WithWrap(err)
	}
	for name, values := range r.PostForm {
		if len(values) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter %q must not be repeated.", truncate(name, 40))
		}
	}
	return nil
}

// truncate cuts s to at most n bytes, at a character boundary, and marks
// the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clientManager is the only storage fosite sees: it loads clients for
// client authentication. Tokens never pass through fosite's storage
// interfaces, because Latch's own handlers store them.
type clientManager struct{ store storage.ClientStore }

var _ fosite.ClientManager = clientManager{}

func (m clientManager) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if c, ok := prefetchedClient(ctx, id); ok {
		return fositeClient{c}, nil
	}
	c, err := m.store.GetClient(ctx, id)
	if err != nil {
		return nil, storageError("get client", err)
	}
	return fositeClient{c}, nil
}

// ClientAssertionJWTValid is never reached: no Latch client uses
// private_key_jwt, and fosite checks the method before the assertion.
func (clientManager) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

func (clientManager) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errors.New("oauth: client assertions are not supported")
}

// WriteRevocationResponse writes RFC 7009's empty 200 answer.
func (p *Provider) WriteRevocationResponse(ctx context.Context, w http.ResponseWriter) {
	p.fosite.WriteRevocationResponse(ctx, w, nil)
}
