package oauth

import (
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
