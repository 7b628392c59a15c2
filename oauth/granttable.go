package oauth

import (
	"strings"

	"github.com/ory/fosite"
)

// Grant types Latch serves.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// grant is one grant type Latch serves. Its entry in [grants] is the only
// place outside its handler's code where it is spelled: the provider
// composes the handler, the token endpoint accepts the name, CreateClient
// lets clients register it, requireGrant enforces the client rules and the
// RFC 8414 metadata lists it, all from the table.
type grant struct {
	// name is the grant_type value.
	name string
	// handler builds the grant's token endpoint handler from the parts of
	// the provider it uses. The handler starts with requireGrant, so that a
	// client may use only the grants it lists (API.md).
	handler func(*Provider) fosite.TokenEndpointHandler
	// publicClients says whether a public client (token_endpoint_auth_method
	// none) may register and use the grant.
	publicClients bool
}

// grants is every grant Latch serves, in the order that metadata and error
// messages list them.
var grants = []grant{
	{name: GrantPassword, handler: newPasswordGrant, publicClients: true},
	{name: GrantRefreshToken, handler: func(p *Provider) fosite.TokenEndpointHandler { return &refreshGrant{p} }, publicClients: true},
	// RFC 6749 §4.4: only a confidential client may use it.
	{name: GrantClientCredentials, handler: newClientCredentialsGrant},
}

// GrantTypes returns the grant types Latch serves: the metadata's
// grant_types_supported (RFC 8414 §2), and what a client may register.
func GrantTypes() []string {
	names := make([]string, len(grants))
	for i, g := range grants {
		names[i] = g.name
	}
	return names
}

// grantNamed returns the grant called name, if Latch serves it.
func grantNamed(name string) (grant, bool) {
	for _, g := range grants {
		if g.name == name {
			return g, true
		}
	}
	return grant{}, false
}

// grantList names the grants for error messages: "password, refresh_token, ...".
func grantList() string { return strings.Join(GrantTypes(), ", ") }

// requireGrant answers unauthorized_client unless the client lists the
// grant and, if the client is public, the grant admits public clients.
// CreateClient refuses such a client already; this keeps the rule for one
// stored by other means.
func requireGrant(ar fosite.AccessRequester, name string) error {
	client := ar.GetClient()
	if !client.GetGrantTypes().Has(name) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client may not use the %s grant.", name)
	}
	if g, _ := grantNamed(name); client.IsPublic() && !g.publicClients {
		return fosite.ErrUnauthorizedClient.WithHintf("A public client cannot use the %s grant.", name)
	}
	return nil
}
