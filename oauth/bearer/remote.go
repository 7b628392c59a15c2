package bearer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// serverMetadata is the part of RFC 8414 metadata this package reads.
type serverMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// metadata returns the server's metadata, fetched once; a failed fetch is
// tried again on the next call.
func (v *Verifier) metadata(ctx context.Context) (*serverMetadata, error) {
	v.metaMu.Lock()
	defer v.metaMu.Unlock()
	if v.meta != nil {
		return v.meta, nil
	}
	var m serverMetadata
	if err := v.getJSON(ctx, strings.TrimSuffix(v.opts.Issuer, "/")+"/.well-known/oauth-authorization-server", &m); err != nil {
		return nil, err
	}
	// RFC 8414 §3.3: the metadata must name the issuer it was asked for.
	if m.Issuer != v.opts.Issuer {
		return nil, fmt.Errorf("%w: metadata names issuer %q, want %q", ErrUnavailable, m.Issuer, v.opts.Issuer)
	}
	v.meta = &m
	return v.meta, nil
}

func (v *Verifier) jwksURL(ctx context.Context) (string, error) {
	if v.opts.JWKSURL != "" {
		return v.opts.JWKSURL, nil
	}
	m, err := v.metadata(ctx)
	if err != nil {
		return "", err
	}
	if m.JWKSURI == "" {
		return "", fmt.Errorf("%w: the metadata has no jwks_uri", ErrUnavailable)
	}
	return m.JWKSURI, nil
}

func (v *Verifier) introspectionURL(ctx context.Context) (string, error) {
	if v.opts.IntrospectionURL != "" {
		return v.opts.IntrospectionURL, nil
	}
	m, err := v.metadata(ctx)
	if err != nil {
		return "", err
	}
	if m.IntrospectionEndpoint == "" {
		return "", fmt.Errorf("%w: the metadata has no introspection_endpoint", ErrUnavailable)
	}
	return m.IntrospectionEndpoint, nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	return v.doJSON(req, out)
}

func (v *Verifier) doJSON(req *http.Request, out any) error {
	res, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return fmt.Errorf("%w: %s %s answered %s", ErrUnavailable, req.Method, req.URL.Redacted(), res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, req.Method, req.URL.Redacted(), err)
	}
	return nil
}

// jwksCache holds the server's key set. Fetches are serialised; a fetch
// forced by an unknown kid waits until JWKSRefreshInterval has passed since
// the previous one, and callers waiting at once share one fetch.
type jwksCache struct {
	v *Verifier

	mu      sync.Mutex
	set     *jose.JSONWebKeySet
	fetched time.Time // wall clock when the fetch of set began

	fetching chan struct{} // a one-slot semaphore
}

func newJWKSCache(v *Verifier) *jwksCache {
	return &jwksCache{v: v, fetching: make(chan struct{}, 1)}
}

func (c *jwksCache) cached() (*jose.JSONWebKeySet, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set, c.fetched
}

// key returns the verification keys for kid, fetching the set when it is
// missing, old, or lacks kid.
//
// A set whose fetch began after this call did is as good as a fetch of its
// own: any key published before the token reached us is in it. So a key
// rotation never fails a request, while made-up kids cause at most one
// fetch per JWKSRefreshInterval.
func (c *jwksCache) key(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	started := time.Now()
	set, fetched := c.cached()
	if set != nil && time.Since(fetched) < c.v.opts.JWKSMaxAge {
		if keys := set.Key(kid); len(keys) > 0 {
			return keys, nil
		}
	}
	select {
	case c.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-c.fetching }()
	if set, fetched = c.cached(); set != nil && fetched.After(started) {
		return set.Key(kid), nil
	}
	if wait := c.v.opts.JWKSRefreshInterval - time.Since(fetched); set != nil && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	begin := time.Now()
	u, err := c.v.jwksURL(ctx)
	if err != nil {
		return nil, err
	}
	var fresh jose.JSONWebKeySet
	if err := c.v.getJSON(ctx, u, &fresh); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.set, c.fetched = &fresh, begin
	c.mu.Unlock()
	return fresh.Key(kid), nil
}

// Algorithms accepted for JWT access tokens. Symmetric algorithms and "none"
// never are: the key set is public.
var allowedAlgs = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// jwtClaims is the RFC 9068 §2.2 claim set; aud may be a string or an array.
type jwtClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	JTI       string          `json:"jti"`
	Username  string          `json:"username"`
	IssuedAt  *json.Number    `json:"iat"`
	Expiry    *json.Number    `json:"exp"`
	NotBefore *json.Number    `json:"nbf"`
	// Cnf binds a token to a key (RFC 7800): with a jkt, to a DPoP key.
	Cnf json.RawMessage `json:"cnf"`
	// SID and Status come with Latch's tokens: the login, and where the
	// token's status is published (status.go).
	SID    string       `json:"sid"`
	Status *statusClaim `json:"status"`
}

func audience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	err := json.Unmarshal(raw, &many)
	return many, err
}

func numericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// verifyJWT checks an RFC 9068 JWT access token (§4): signature by a key of
// the server's set, typ at+jwt, iss, aud, exp and nbf.
func (v *Verifier) verifyJWT(ctx context.Context, token string) (*Claims, error) {
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalidf("not a compact JWS")
	}
	h := jws.Signatures[0].Protected
	if !slices.Contains(allowedAlgs, h.Algorithm) {
		return nil, invalidf("algorithm %q is not accepted", h.Algorithm)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalidf("typ %q is not at+jwt", typ)
	}
	if h.JSONWebKey != nil {
		// A key carried by the token itself proves nothing.
		return nil, invalidf("embedded keys are not accepted")
	}
	keys, err := v.jwks.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") && (k.Algorithm == "" || k.Algorithm == h.Algorithm) {
			if payload, err = jws.Verify(k.Key); err == nil {
				break
			}
		}
	}
	if payload == nil {
		return nil, invalidf("no published key verifies the signature")
	}
	var c jwtClaims
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalidf("claims are not a JSON object")
	}
	aud, err := audience(c.Audience)
	if err != nil {
		return nil, invalidf("aud is neither a string nor an array of strings")
	}
	now, leeway := v.opts.Now(), v.opts.Leeway
	exp, ok := numericDate(c.Expiry)
	switch {
	case c.Issuer != v.opts.Issuer:
		return nil, invalidf("iss %q is not %q", c.Issuer, v.opts.Issuer)
	case !slices.Contains(aud, v.opts.Audience):
		return nil, invalidf("aud does not name %q", v.opts.Audience)
	case !ok:
		return nil, invalidf("no exp")
	case !now.Before(exp.Add(leeway)):
		return nil, invalidf("expired")
	}
	if nbf, ok := numericDate(c.NotBefore); ok && now.Add(leeway).Before(nbf) {
		return nil, invalidf("not valid yet")
	}
	jkt, err := confirmedKey(c.Cnf)
	if err != nil {
		return nil, err
	}
	if err := v.checkStatus(ctx, c.Status); err != nil {
		return nil, err
	}
	iat, _ := numericDate(c.IssuedAt)
	return &Claims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: aud, ClientID: c.ClientID, Scope: c.Scope,
		JWTID: c.JTI, Username: c.Username, IssuedAt: iat, ExpiresAt: exp, JKT: jkt,
		SessionID: c.SID,
	}, nil
}

// introspection is an RFC 7662 §2.2 answer.
type introspection struct {
	Active    bool            `json:"active"`
	Scope     string          `json:"scope"`
	ClientID  string          `json:"client_id"`
	Username  string          `json:"username"`
	TokenType string          `json:"token_type"`
	Exp       *json.Number    `json:"exp"`
	Iat       *json.Number    `json:"iat"`
	Nbf       *json.Number    `json:"nbf"`
	Sub       string          `json:"sub"`
	Aud       json.RawMessage `json:"aud"`
	Iss       string          `json:"iss"`
	JTI       string          `json:"jti"`
	Cnf       json.RawMessage `json:"cnf"`
}

// introspect asks the server about token (RFC 7662 §2.1), authenticating
// with client_secret_basic (RFC 6749 §2.3.1: form-encoded before Base64).
// Only an active access token passes: a refresh token, which introspection
// also calls active, is not a bearer credential.
func (v *Verifier) introspect(ctx context.Context, token string) (*Claims, error) {
	u, err := v.introspectionURL(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(v.opts.ClientID), url.QueryEscape(v.opts.ClientSecret))
	var in introspection
	if err := v.doJSON(req, &in); err != nil {
		return nil, err
	}
	if !in.Active {
		return nil, invalidf("inactive")
	}
	aud, err := audience(in.Aud)
	if err != nil {
		return nil, invalidf("aud is neither a string nor an array of strings")
	}
	now, leeway := v.opts.Now(), v.opts.Leeway
	exp, hasExp := numericDate(in.Exp)
	switch {
	case in.TokenType != "" && !strings.EqualFold(in.TokenType, "bearer") && !strings.EqualFold(in.TokenType, "access_token") && !strings.EqualFold(in.TokenType, SchemeDPoP):
		return nil, invalidf("token_type %q is not an access token", in.TokenType)
	case in.Iss != "" && in.Iss != v.opts.Issuer:
		return nil, invalidf("iss %q is not %q", in.Iss, v.opts.Issuer)
	case v.opts.Audience != "" && len(aud) > 0 && !slices.Contains(aud, v.opts.Audience):
		return nil, invalidf("aud does not name %q", v.opts.Audience)
	case hasExp && !now.Before(exp.Add(leeway)):
		return nil, invalidf("expired")
	}
	if nbf, ok := numericDate(in.Nbf); ok && now.Add(leeway).Before(nbf) {
		return nil, invalidf("not valid yet")
	}
	jkt, err := confirmedKey(in.Cnf)
	switch {
	case err != nil:
		return nil, err
	case strings.EqualFold(in.TokenType, SchemeDPoP) && jkt == "":
		return nil, invalidf("token_type DPoP without cnf.jkt")
	}
	iat, _ := numericDate(in.Iat)
	return &Claims{
		Issuer: in.Iss, Subject: in.Sub, Audience: aud, ClientID: in.ClientID, Scope: in.Scope,
		JWTID: in.JTI, Username: in.Username, IssuedAt: iat, ExpiresAt: exp, JKT: jkt, Introspected: true,
	}, nil
}
