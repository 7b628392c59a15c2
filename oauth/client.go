package oauth

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

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
			return fosite.ErrInvalidClient.WithHint("Client authentication is required.")
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
		return fosite.ErrInvalidClient.WithHint("The Basic credentials are malformed: RFC 6749 §2.3.1 asks for the form-url-encoded client id and secret, joined by a colon, in Base64.")
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
