package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
)

func (s *testServer) get(t testing.TB, path string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.do(t, req)
}

// TestMetadata: RFC 8414 metadata names every endpoint, and a client that
// follows it reaches them; health, readiness and metrics answer.
func TestMetadata(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	res := s.get(t, "/.well-known/oauth-authorization-server")
	if res.status != 200 {
		t.Fatalf("metadata: %s", res)
	}
	m := res.object(t)
	for k, want := range map[string]string{
		"issuer":                 s.URL,
		"token_endpoint":         s.URL + "/oauth2/token",
		"revocation_endpoint":    s.URL + "/oauth2/revoke",
		"introspection_endpoint": s.URL + "/oauth2/introspect",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %s", k, m[k], want)
		}
	}
	rt, ok := m["response_types_supported"].([]any)
	if !ok || len(rt) != 0 {
		t.Errorf("response_types_supported = %#v, want []", m["response_types_supported"])
	}
	// Every grant of oauth's table, and no other; among them API.md's.
	var grants []string
	for _, g := range asSlice(m["grant_types_supported"]) {
		grants = append(grants, str(g))
	}
	if !slices.Equal(grants, oauth.GrantTypes()) {
		t.Errorf("grant_types_supported = %v, want oauth.GrantTypes() %v", grants, oauth.GrantTypes())
	}
	for _, g := range []string{"password", "refresh_token", "client_credentials"} {
		if !slices.Contains(grants, g) {
			t.Errorf("grant_types_supported = %v, lacks %s", grants, g)
		}
	}
	if _, ok := m["authorization_endpoint"]; ok {
		t.Errorf("metadata names an authorization endpoint")
	}

	// Follow the metadata: the token endpoint works.
	c := s.createClient(t, map[string]any{"grant_types": []string{"client_credentials"}})
	u, err := url.Parse(str(m["token_endpoint"]))
	if err != nil {
		t.Fatal(err)
	}
	s.tokenOK(t, c, url.Values{"grant_type": {"client_credentials"}})
	if u.Path != "/oauth2/token" {
		t.Errorf("token endpoint path %q", u.Path)
	}

	t.Run("health and metrics", func(t *testing.T) { healthAndMetrics(t, s) })
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// healthAndMetrics: /healthz and /readyz answer 200, /metrics counts token
// requests by route, and unknown paths answer a JSON 404.
func healthAndMetrics(t *testing.T, s *testServer) {
	for _, p := range []string{"/healthz", "/readyz"} {
		if res := s.get(t, p); res.status != 200 {
			t.Errorf("%s: %s", p, res)
		}
	}
	c := s.createClient(t, map[string]any{"grant_types": []string{"client_credentials"}})
	s.tokenOK(t, c, url.Values{"grant_type": {"client_credentials"}})
	res := s.get(t, "/metrics")
	if res.status != 200 {
		t.Fatalf("metrics: %s", res)
	}
	re := regexp.MustCompile(`(?m)^latch_http_requests_total\{[^}]*route="token"[^}]*status="200"[^}]*\} [1-9]`)
	if !re.Match(res.body) {
		t.Errorf("metrics lack latch_http_requests_total for the token route:\n%s", res.body)
	}
	if res := s.get(t, "/no/such/path"); res.status != 404 {
		t.Errorf("unknown path: %s", res)
	} else if m := res.object(t); str(m["error"]) == "" {
		t.Errorf("unknown path: %s", res.body)
	}
}

// TestDatabaseDown: with the store closed, /readyz answers 503 and the token
// endpoint 503 temporarily_unavailable with Retry-After, never a 500 or a
// credential error.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.createClient(t, map[string]any{"grant_types": []string{"client_credentials"}})
	if err := s.store.Close(); err != nil {
		t.Fatal(err)
	}
	if res := s.get(t, "/readyz"); res.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the store closed: %s, want 503", res)
	}
	if res := s.get(t, "/healthz"); res.status != 200 {
		t.Errorf("/healthz with the store closed: %s, want 200", res)
	}
	for _, tc := range []struct {
		name string
		path string
		form url.Values
	}{
		{"token", "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}},
		{"introspect", "/oauth2/introspect", url.Values{"token": {"latch_at_x.y"}}},
	} {
		res := s.post(t, tc.path, c, tc.form)
		wantOAuthError(t, tc.name+" with the store closed", res, http.StatusServiceUnavailable, "temporarily_unavailable")
		if res.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.name)
		}
	}
	res := s.adminDo(t, http.MethodGet, "/admin/clients", nil)
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("admin with the store closed: %s, want 503", res)
	}
}

// TestIssuerWithPath: an issuer with a path (Latch behind a proxy at
// https://example.com/auth) is served where RFC 8414 §3.1 and its own
// metadata say, whether the proxy passes the path on or strips it.
func TestIssuerWithPath(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string]string{
		"https://auth.example":          "https://auth.example/.well-known/oauth-authorization-server",
		"https://example.com/auth":      "https://example.com/.well-known/oauth-authorization-server/auth",
		"https://example.com/a/b":       "https://example.com/.well-known/oauth-authorization-server/a/b",
		"http://127.0.0.1:8080/tenant1": "http://127.0.0.1:8080/.well-known/oauth-authorization-server/tenant1",
	} {
		if got := handlers.MetadataURL(issuer); got != want {
			t.Errorf("MetadataURL(%s) = %s, want %s", issuer, got, want)
		}
	}

	// Paths that begin like the root's own routes must not shadow them.
	for _, prefix := range []string{"/auth", "/oauth2", "/admin", "/.well-known", "/a%20b"} {
		t.Run(url.PathEscape(prefix), func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, withIssuerPath(prefix))
			issuer := s.URL + prefix
			for _, path := range []string{
				"/.well-known/oauth-authorization-server" + prefix, // RFC 8414 §3.1
				"/.well-known/oauth-authorization-server",          // through a proxy that strips the path
				prefix + "/.well-known/oauth-authorization-server", // where some clients look
			} {
				res := s.get(t, path)
				if res.status != http.StatusOK {
					t.Errorf("GET %s: %s", path, res)
					continue
				}
				m := res.object(t)
				if m["issuer"] != issuer || m["token_endpoint"] != issuer+"/oauth2/token" {
					t.Errorf("GET %s: issuer %v, token_endpoint %v; want %s and %s/oauth2/token", path, m["issuer"], m["token_endpoint"], issuer, issuer)
				}
			}
			// createClient calls the admin API at the root.
			app := s.createClient(t, map[string]any{"grant_types": []string{"client_credentials"}})
			for _, base := range []string{prefix, ""} {
				res := s.post(t, base+"/oauth2/token", app, url.Values{"grant_type": {"client_credentials"}})
				if res.status != http.StatusOK {
					t.Fatalf("POST %s/oauth2/token: %s", base, res)
				}
				access := str(res.object(t)["access_token"])
				res = s.post(t, base+"/oauth2/introspect", s.introspector, url.Values{"token": {access}})
				if res.status != http.StatusOK || res.object(t)["active"] != true {
					t.Errorf("POST %s/oauth2/introspect: %s, want an active token", base, res)
				}
				if res := s.post(t, base+"/oauth2/revoke", app, url.Values{"token": {access}}); res.status != http.StatusOK {
					t.Errorf("POST %s/oauth2/revoke: %s", base, res)
				}
				s.wantInactive(t, "revoked at "+base+"/oauth2/revoke", access)
			}
			for _, path := range []string{prefix + "x/healthz", "/.well-known/oauth-authorization-server/other", "/other/oauth2/token"} {
				if res := s.get(t, path); res.status != http.StatusNotFound {
					t.Errorf("GET %s = %s, want 404", path, res)
				}
			}
		})
	}
}

// TestMetadataJWT: with JWT access tokens the metadata names jwks_uri and
// status_list_aggregation_endpoint (draft-ietf-oauth-status-list), under
// the issuer's path when it has one, and both answer there; with opaque
// tokens it names neither.
func TestMetadataJWT(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", "/auth"} {
		t.Run("issuer path "+path, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, withJWT(""), withIssuerPath(path))
			issuer := s.URL + path
			m := s.get(t, path+"/.well-known/oauth-authorization-server").object(t)
			for k, want := range map[string]string{
				"jwks_uri":                         issuer + "/.well-known/jwks.json",
				"status_list_aggregation_endpoint": issuer + "/oauth2/status",
			} {
				if m[k] != want {
					t.Errorf("%s = %v, want %s", k, m[k], want)
				}
			}
			res := s.get(t, path+"/oauth2/status")
			if _, ok := res.object(t)["status_lists"].([]any); res.status != http.StatusOK || !ok {
				t.Errorf("aggregation: %s", res)
			}
			// A token's status URI is under the issuer too, and answers.
			s.createUser(t, "alice", "pw-alice")
			app := s.newPasswordClient(t, "app", "client_secret_basic")
			tok := s.login(t, app, "alice", "pw-alice", "")
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(s.get(t, path+"/.well-known/jwks.json").body, &set); err != nil {
				t.Fatal(err)
			}
			_, uri, _ := statusClaims(t, &set, tok.Access)
			if !strings.HasPrefix(uri, issuer+"/oauth2/status/") {
				t.Fatalf("status uri %q is not under the issuer %s", uri, issuer)
			}
			if res := s.get(t, strings.TrimPrefix(uri, s.URL)); res.status != http.StatusOK {
				t.Errorf("GET %s: %s", uri, res)
			}
		})
	}
	opaque := newTestServer(t).get(t, "/.well-known/oauth-authorization-server").object(t)
	for _, k := range []string{"jwks_uri", "status_list_aggregation_endpoint"} {
		if _, ok := opaque[k]; ok {
			t.Errorf("opaque tokens: metadata names %s", k)
		}
	}
}
