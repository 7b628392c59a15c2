package oauth

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// TestGrantTable walks the grant table, so that a grant added to it is
// covered here without a line of its own: CreateClient accepts it (from a
// public client only if its entry admits them), exactly one composed
// handler claims it, and the token endpoint hands it to that handler,
// which refuses clients that do not list it and public clients where its
// entry says so. handlers' TestMetadata checks that the metadata lists
// [GrantTypes].
func TestGrantTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := t.Context()
	if got := GrantTypes(); len(got) != len(grants) || !slices.Contains(got, GrantClientCredentials) {
		t.Fatalf("GrantTypes() = %v, want the %d names of the table", got, len(grants))
	}
	const secret = "a secret of the test's own, long enough"
	without := &storage.Client{ID: "without-grants", AuthMethod: storage.AuthMethodBasic, SecretHash: hashSHA256(secret), CreatedAt: f.clock.Now()}
	if err := f.store.CreateClient(ctx, without); err != nil {
		t.Fatal(err)
	}
	for _, g := range grants {
		t.Run(g.name, func(t *testing.T) {
			confidential, clientSecret, err := f.p.CreateClient(ctx, ClientSpec{GrantTypes: []string{g.name}})
			if err != nil {
				t.Fatalf("CreateClient, confidential: %v", err)
			}
			_, _, err = f.p.CreateClient(ctx, ClientSpec{GrantTypes: []string{g.name}, AuthMethod: storage.AuthMethodNone})
			switch {
			case g.publicClients && err != nil:
				t.Errorf("CreateClient, public: %v, want the client", err)
			case !g.publicClients && ErrorCode(err) != EInvalid:
				t.Errorf("CreateClient, public: %v, want an EInvalid error", err)
			}

			ar := fosite.NewAccessRequest(&fosite.DefaultSession{})
			ar.GrantTypes = fosite.Arguments{g.name}
			var claimed int
			for _, h := range f.p.fosite.Config.GetTokenEndpointHandlers(ctx) {
				if h.CanHandleTokenEndpointRequest(ctx, ar) {
					claimed++
				}
			}
			if claimed != 1 {
				t.Errorf("%d composed token handlers claim the grant, want 1", claimed)
			}

			// A bare request: whatever else the grant needs is missing, but
			// the grant's handler has run by the time that is noticed.
			form := url.Values{"grant_type": {g.name}}
			if code, status := tokenError(ctx, f, confidential.ID, clientSecret, form); status >= 500 || slices.Contains(notDispatched, code) {
				t.Errorf("a client that lists the grant: %d %s, want the grant's handler to answer", status, code)
			}
			if code, _ := tokenError(ctx, f, without.ID, secret, form); code != "unauthorized_client" {
				t.Errorf("a client that does not list the grant: %q, want unauthorized_client", code)
			}
			// Stored directly: CreateClient may refuse it.
			public := &storage.Client{ID: "public-" + g.name, GrantTypes: []string{g.name}, AuthMethod: storage.AuthMethodNone, CreatedAt: f.clock.Now()}
			if err := f.store.CreateClient(ctx, public); err != nil {
				t.Fatal(err)
			}
			code, status := tokenError(ctx, f, public.ID, "", form)
			switch {
			case g.publicClients && (status >= 500 || slices.Contains(notDispatched, code)):
				t.Errorf("a public client that lists the grant: %d %s, want the grant's handler to answer", status, code)
			case !g.publicClients && code != "unauthorized_client":
				t.Errorf("a public client that lists the grant: %q, want unauthorized_client", code)
			}
		})
	}
	if code, _ := tokenError(ctx, f, without.ID, secret, url.Values{"grant_type": {"urn:example:unknown"}}); code != "unsupported_grant_type" {
		t.Errorf("a grant not in the table: %q, want unsupported_grant_type", code)
	}
}

// notDispatched are the answers of a token request that did not reach its
// grant's handler, or that the handler refused for the client's grants.
var notDispatched = []string{"unsupported_grant_type", "invalid_client", "unauthorized_client"}

// tokenError runs a token request with form from client id (by Basic with
// secret, or as a public client when secret is empty) and returns the
// error's code and status; "" and 200 for a token.
func tokenError(ctx context.Context, f *fixture, id, secret string, form url.Values) (string, int) {
	form = maps.Clone(form)
	if secret == "" {
		form.Set("client_id", id)
	}
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth(id, secret)
	}
	if _, _, err := f.p.Token(ctx, r); err != nil {
		e := fosite.ErrorToRFC6749Error(err)
		return e.ErrorField, e.CodeField
	}
	return "", http.StatusOK
}
