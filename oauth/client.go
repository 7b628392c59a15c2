package oauth

import (
	"net/http"
	"net/url"

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
// identity per request. All three endpoints call it right after parseForm.
//
// fosite takes the first Authorization header's Basic credentials when
// there are any, ignores a form client_id that names another client, and
// then judges the form's client_secret as well, so a request with both
// methods was refused for a reason that misled the client ("supports
// client_secret_basic but client_secret_post was requested").
func checkClientCredentials(r *http.Request) error {
	// Which of two headers would count depends on every proxy on the way
	// keeping their order; refuse rather than guess.
	if len(r.Header.Values("Authorization")) > 1 {
		return fosite.ErrInvalidRequest.WithHint("The request carries more than one Authorization header.")
	}
	id, _, ok := r.BasicAuth()
	if !ok {
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
	// still a second one.
	for _, param := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		if r.PostForm.Has(param) {
			return fosite.ErrInvalidRequest.WithHintf("The client authenticated both by HTTP Basic and by the %s parameter; use one method.", param)
		}
	}
	// Many clients send their client_id in the form as well; that is fine
	// as long as it names the client the Basic credentials authenticate,
	// which is the one fosite goes on with.
	if r.PostForm.Has("client_id") {
		if id, err := url.QueryUnescape(id); err == nil && id != r.PostForm.Get("client_id") {
			return fosite.ErrInvalidRequest.WithHint("The client_id parameter names another client than the Authorization header.")
		}
	}
	return nil
}
