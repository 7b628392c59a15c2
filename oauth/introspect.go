package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// Introspection is an RFC 7662 answer. An inactive token is exactly
// {"active": false}: nothing else is said about it.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Username  string   `json:"username,omitempty"`
	Aud       []string `json:"aud,omitempty"`
}

// Token types named in introspection answers.
const (
	TokenTypeBearer  = "Bearer"
	TokenTypeRefresh = "refresh_token"
)

var inactive = &Introspection{}

// Introspect runs the introspection endpoint (RFC 7662). Only confidential
// clients whose metadata has can_introspect may call it; fosite's own
// endpoint would let any client or any bearer token in (FOSITE.md §6).
//
// The caller's client and the token (with its login) are read in one query:
// introspection is Latch's busiest endpoint, and a database round trip was
// its largest cost under load.
func (p *Provider) Introspect(ctx context.Context, r *http.Request) (*Introspection, error) {
	if err := parseForm(r); err != nil {
		return nil, err
	}
	if err := checkClientCredentials(r); err != nil {
		return nil, err
	}
	token := r.PostForm.Get("token")
	parsed, jwt, ok, err := p.parseAny(ctx, token)
	if err != nil {
		return nil, p.mapRetryError(ctx, storageError("verify jwt", err))
	}
	var tok *storage.Token
	var fam *storage.Family
	if id, found := clientIDOf(r); found && ok {
		var c *storage.Client
		c, tok, fam, err = p.store.LookupClientToken(ctx, id, parsed.key)
		switch {
		case err == nil:
			ctx = withPrefetchedClient(ctx, c)
		case !errors.Is(err, storage.ErrNotFound):
			return nil, p.mapRetryError(ctx, storageError("look up client and token", err))
		}
	}
	client, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		return nil, p.mapRetryError(ctx, err)
	}
	if client.IsPublic() {
		// Said like any failed authentication: a distinct answer would
		// tell a caller without a secret that this client exists.
		return nil, clientAuthFailed(fmt.Sprintf("client %.64q: a public client may not introspect", client.GetID()), nil)
	}
	if fc, ok := client.(fositeClient); !ok || !fc.c.CanIntrospect {
		return nil, fosite.ErrRequestForbidden.WithHint("This client may not introspect tokens.")
	}
	if token == "" {
		return nil, fosite.ErrInvalidRequest.WithHint("The token parameter is missing.")
	}
	if !ok || tok == nil {
		return inactive, nil
	}
	in, err := p.judge(ctx, parsed, jwt, tok, fam)
	return in, p.mapRetryError(ctx, err)
}

// clientIDOf is the client id a request authenticates with, as fosite reads
// it.
func clientIDOf(r *http.Request) (string, bool) {
	id, _ := clientCredentials(r, r.PostForm)
	return id, id != ""
}

type prefetchedClientKey struct{}

// withPrefetchedClient lets fosite's client authentication use a client
// already read with the token, instead of reading it again.
func withPrefetchedClient(ctx context.Context, c *storage.Client) context.Context {
	return context.WithValue(ctx, prefetchedClientKey{}, c)
}

func prefetchedClient(ctx context.Context, id string) (*storage.Client, bool) {
	c, ok := ctx.Value(prefetchedClientKey{}).(*storage.Client)
	return c, ok && c.ID == id
}

// parseAny recognises an opaque token by its HMAC or a JWT by its
// signature; ok is false for anything Latch did not issue.
func (p *Provider) parseAny(ctx context.Context, token string) (parsedToken, *accessClaims, bool, error) {
	if parsed, ok := p.strategy.parse(ctx, token); ok {
		return parsed, nil, true, nil
	}
	if looksLikeJWT(token) {
		return p.parseAccessJWT(ctx, token)
	}
	return parsedToken{}, nil, false, nil
}

// judge decides whether a token read with its login is active, and says
// what it carries.
func (p *Provider) judge(ctx context.Context, parsed parsedToken, jwt *accessClaims, tok *storage.Token, fam *storage.Family) (*Introspection, error) {
	now := p.now()
	if string(tok.Kind) != parsed.kind || !now.Before(tok.ExpiresAt) || !tok.SpentAt.IsZero() {
		return inactive, nil
	}
	if fam.Revoked() || !now.Before(fam.ExpiresAt) {
		return inactive, nil
	}
	if jwt != nil {
		// The family check above already catches a revoked login; the
		// denylist is checked as well so that introspection honours every
		// entry, whatever put it there.
		if denied, err := p.store.IsDenied(ctx, parsed.key); err != nil {
			return nil, storageError("check denylist", err)
		} else if denied {
			return inactive, nil
		}
	}
	in := &Introspection{
		Active:   true,
		Scope:    strings.Join(tok.Scopes, " "),
		ClientID: tok.ClientID,
		Exp:      tok.ExpiresAt.Unix(),
		Iat:      tok.IssuedAt.Unix(),
		Iss:      p.cfg.Issuer,
		JTI:      tok.Key,
		Sub:      fam.UserID,
		Username: fam.Username,
		Aud:      fam.Audience,
	}
	if jwt != nil {
		// The resource server knows the token by its claims.
		in.JTI, in.Aud = jwt.JTI, jwt.Audience
	}
	if tok.Kind == storage.KindAccess {
		in.TokenType = TokenTypeBearer
	} else {
		in.TokenType = TokenTypeRefresh
	}
	return in, nil
}
