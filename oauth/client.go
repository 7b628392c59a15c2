package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/latchhq/latch/oauth/reqlog"
	"github.com/latchhq/latch/storage"
)

// fositeClient presents a [storage.Client] to fosite. It implements
// [fosite.OpenIDConnectClient] only so that fosite enforces the client's
// token_endpoint_auth_method (FOSITE.md §7); Latch speaks no OpenID Connect.
type fositeClient struct {
	c *storage.Client
}

var _ fosite.OpenIDConnectClient = fositeClient{}

func (f fositeClient) GetID() string                   { return f.c.ID }
func (f fositeClient) GetHashedSecret() []byte         { return []byte(f.c.SecretHash) }
func (f fositeClient) GetRedirectURIs() []string       { return nil }
func (f fositeClient) GetGrantTypes() fosite.Arguments { return f.c.GrantTypes }
func (f fositeClient) GetResponseTypes() fosite.Arguments {
	return fosite.Arguments{}
}
func (f fositeClient) GetScopes() fosite.Arguments   { return f.c.Scopes }
func (f fositeClient) IsPublic() bool                { return f.c.IsPublic() }
func (f fositeClient) GetAudience() fosite.Arguments { return f.c.Audience }

func (f fositeClient) GetRequestURIs() []string                     { return nil }
func (f fositeClient) GetJSONWebKeys() *jose.JSONWebKeySet          { return nil }
func (f fositeClient) GetJSONWebKeysURI() string                    { return "" }
func (f fositeClient) GetRequestObjectSigningAlgorithm() string     { return "" }
func (f fositeClient) GetTokenEndpointAuthSigningAlgorithm() string { return "" }
func (f fositeClient) GetTokenEndpointAuthMethod() string           { return f.c.AuthMethod }

// checkClientCredentials holds a token, revocation or introspection request
// to the rules of RFC 6749 §2.3 that fosite leaves out, before fosite
// authenticates the client: one authentication method and one client
// identity per request, and Basic credentials that can be read. All three
// endpoints call it right after parseForm.
//
// fosite takes the first Authorization header's Basic credentials when
// there are any, ignores a form client_id that names another client, and
// then judges the form's client_secret as well, so a request with both
// methods was refused for a reason that misled the client ("supports
// client_secret_basic but client_secret_post was requested").
func checkClientCredentials(r *http.Request) error {
	// Which of two headers would count depends on every proxy on the way
	// keeping their order; refuse rather than guess.
	auth := r.Header.Values("Authorization")
	if len(auth) > 1 {
		return fosite.ErrInvalidRequest.WithHint("The request carries more than one Authorization header.")
	}
	if len(auth) == 0 || !isBasic(auth[0]) {
		if r.PostForm.Get("client_id") == "" {
			// §5.2 "no client authentication included" is invalid_client;
			// fosite would say invalid_request.
			return clientAuthFailed("no client authentication", nil)
		}
		return nil
	}
	// §2.3: "The client MUST NOT use more than one authentication method
	// in each request"; §5.2 makes that invalid_request. A client
	// assertion (RFC 7521) is a method too, and an empty client_secret is
	// still a second one. Whether the Basic credentials can be read does
	// not matter here: the client tried both.
	for _, param := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		if r.PostForm.Has(param) {
			return fosite.ErrInvalidRequest.WithHintf("The client authenticated both by HTTP Basic and by the %s parameter; use one method.", param)
		}
	}
	// Basic credentials that cannot be read are a failed authentication,
	// 401 invalid_client with WWW-Authenticate (API.md), whichever part is
	// wrong: the Base64, the colon, or the form-url-encoding that §2.3.1
	// asks of id and secret (fosite would answer that last one 400
	// invalid_request). The decoding error is dropped, not wrapped: its
	// text quotes the bytes around a bad escape, which may be the secret's.
	id, secret, ok := r.BasicAuth()
	if ok {
		var errID, errSecret error
		id, errID = url.QueryUnescape(id)
		_, errSecret = url.QueryUnescape(secret)
		ok = errID == nil && errSecret == nil
	}
	if !ok {
		return clientAuthFailed("malformed Basic credentials (RFC 6749 §2.3.1: form-url-encoded id and secret, a colon, Base64)", nil)
	}
	// Many clients send their client_id in the form as well; that is fine
	// as long as it names the client the Basic credentials authenticate,
	// which is the one fosite goes on with.
	if r.PostForm.Has("client_id") && r.PostForm.Get("client_id") != id {
		return fosite.ErrInvalidRequest.WithHint("The client_id parameter names another client than the Authorization header.")
	}
	return nil
}

// isBasic reports whether an Authorization header uses the Basic scheme,
// whether or not its credentials are well-formed. Scheme names are
// case-insensitive (RFC 9110 §11.1).
func isBasic(authorization string) bool {
	scheme, _, _ := strings.Cut(authorization, " ")
	return strings.EqualFold(scheme, "Basic")
}

// authenticateClient is fosite's client authentication strategy
// ([fosite.Config.ClientAuthenticationStrategy]), so it runs for the token,
// revocation and introspection endpoints alike. It is fosite's default
// with two changes. A secret that costs an argon2id verification is
// verified first, by verifyChosenSecret, under the client guard and in the
// hashing pool. And every invalid_client answer is [clientAuthFailed]'s:
// fosite's own told a caller without any secret whether a client id exists
// and which method that client uses ("The OAuth 2.0 Client supports client
// authentication method 'client_secret_basic' ..."), where an unknown id
// got no such detail. Each is counted in latch_client_auth_failures_total.
//
// An authenticated client is named in the request's log scope: from here
// on every line of the request, the access line too, carries its client_id.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	ctx, err := p.verifyChosenSecret(ctx, r, form)
	if err == nil {
		var c fosite.Client
		if c, err = p.fosite.DefaultClientAuthenticationStrategy(ctx, r, form); err == nil {
			reqlog.SetClientID(ctx, c.GetID())
			p.log.DebugContext(ctx, "client authenticated", "public", c.IsPublic())
			return c, nil
		}
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.ErrorField != fosite.ErrInvalidClient.ErrorField {
		return nil, err
	}
	if code := ErrorCode(err); !Canceled(ctx, err) && code != EUnavailable && code != EConflict {
		// Otherwise mapError answers it, and nothing failed.
		p.metrics.clientAuth.WithLabelValues(clientAuthFailure(err)).Inc()
	}
	// fosite's hints never hold a secret (they are written for clients);
	// without one, its debug text is that of a Latch error: a failed
	// client lookup or a hash mismatch. The client id says whose.
	reason := rfc.HintField
	if reason == "" {
		reason = rfc.DebugField
	}
	id, _ := clientIDOf(r)
	return nil, clientAuthFailed(fmt.Sprintf("client %.64q: %s", id, reason), err)
}

// clientAuthFailure is the reason label of a failed client authentication.
func clientAuthFailure(err error) string {
	switch {
	case errors.Is(err, errClientLockedOut):
		return "locked_out"
	case errors.Is(err, fosite.ErrNotFound):
		return "unknown_client"
	case errors.Is(err, errHashMismatch):
		return "wrong_secret"
	}
	return "other"
}

// verifyChosenSecret verifies a presented client secret that costs an
// argon2id verification, before fosite authenticates the client: the
// secret of a client whose secret an operator chose, and any secret
// presented with an unknown client id. It does so under the client guard
// (clientguard.go), which refuses an id past its limit without hashing,
// and in the hashing pool, which answers 503 when it stays full. A right
// secret is recorded in the context it returns, so that fosite's check of
// it, which follows, costs nothing; so is a client it read, so that fosite
// does not read it again.
//
// An unknown id always costs a dummy verification, whatever the secret:
// otherwise its fast refusal would tell that a chosen-secret client does
// not exist, and so which ids are worth guessing against. A client with a
// generated (SHA-256) secret is refused as fast as ever, which shows that
// it exists; that is no help to a guesser, since its secret cannot be
// guessed. A request without a secret costs no hash either way: fosite
// refuses it (or lets a public client in) for every id alike.
func (p *Provider) verifyChosenSecret(ctx context.Context, r *http.Request, form url.Values) (context.Context, error) {
	id, secret := clientCredentials(r, form)
	if id == "" || secret == "" {
		return ctx, nil
	}
	c, lookup := clientManager{p.store}.GetClient(ctx, id)
	var hash string
	switch {
	case errors.Is(lookup, fosite.ErrNotFound):
	case lookup != nil:
		return ctx, lookup
	default:
		sc := c.(fositeClient).c
		ctx = withPrefetchedClient(ctx, sc)
		if sc.IsPublic() || strings.HasPrefix(sc.SecretHash, sha256Prefix) {
			return ctx, nil
		}
		hash = sc.SecretHash
	}
	key, err := p.reserveClientAuth(ctx, id)
	if err != nil {
		return ctx, err
	}
	err = p.pw.verify(ctx, hash, secret)
	switch {
	case err == nil:
		p.releaseClientAuth(ctx, key)
		return withVerified(ctx, hash, secret), nil
	case errors.Is(err, errHashMismatch):
		// A failure: its reservation stays counted.
		if hash == "" {
			return ctx, clientAuthFailed("no such client", lookup)
		}
		return ctx, clientAuthFailed("wrong secret", err)
	case errors.Is(err, errHashBusy):
		p.releaseClientAuth(ctx, key)
		return ctx, busyError(err)
	case Canceled(ctx, err):
		p.releaseClientAuth(ctx, key)
		return ctx, err
	default:
		p.log.ErrorContext(ctx, "unusable client secret hash", "client_id", id, "err", err)
		return ctx, clientAuthFailed("unusable secret hash", err)
	}
}

// clientCredentials are the client id and secret a request authenticates
// with, as fosite reads them: HTTP Basic if the request has it (RFC 6749
// §2.3.1: form-url-encoded id and secret), the form otherwise.
func clientCredentials(r *http.Request, form url.Values) (id, secret string) {
	if id, secret, ok := r.BasicAuth(); ok {
		id, errID := url.QueryUnescape(id)
		secret, errSecret := url.QueryUnescape(secret)
		if errID != nil || errSecret != nil {
			return "", ""
		}
		return id, secret
	}
	return form.Get("client_id"), form.Get("client_secret")
}

// clientAuthFailed is the one answer to every failed client
// authentication: 401 invalid_client with fosite's generic description
// and no hint, so that all failures read alike. The reason goes into the
// debug field, which the handlers log and fosite keeps from clients
// (SendDebugMessagesToClients is false); it must never hold a secret.
// cause is kept for [Provider.mapError], which must still see a storage
// outage behind a failed client lookup.
func clientAuthFailed(reason string, cause error) error {
	return fosite.ErrInvalidClient.WithWrap(cause).WithDebug(reason)
}
