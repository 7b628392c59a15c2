package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCrossOrigin: a single-page app on another origin can sign a user in
// and out and read the metadata and keys; introspection and the admin API
// stay closed to browsers on other origins.
func TestCrossOrigin(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT(""))
	spa := s.createClient(t, map[string]any{
		"grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none", "scope": "read",
	})
	s.createUser(t, "alice", "correct horse")
	const origin = "https://app.example"

	send := func(method, path, body string, header map[string]string) response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return s.do(t, req)
	}
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
		res := send(http.MethodOptions, path, "", map[string]string{
			"Access-Control-Request-Method":  http.MethodPost,
			"Access-Control-Request-Headers": "authorization, content-type, dpop",
		})
		// A browser app sends its DPoP proof (RFC 9449) in a header of
		// its own, which the preflight must allow.
		if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "DPoP") ||
			!strings.Contains(res.header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight %s: %d %v", path, res.status, res.header)
		}
	}

	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}, "client_id": {spa.ID}}
	res := send(http.MethodPost, "/oauth2/token", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("cross-origin login: %s, Access-Control-Allow-Origin %q", res, res.header.Get("Access-Control-Allow-Origin"))
	}
	refresh := str(res.object(t)["refresh_token"])
	// An error must be readable too, with its Retry-After or WWW-Authenticate.
	res = send(http.MethodPost, "/oauth2/token", "grant_type=password&client_id=nosuch", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.status != http.StatusUnauthorized || res.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("cross-origin error: %s %v", res, res.header)
	}
	res = send(http.MethodPost, "/oauth2/revoke", url.Values{"token": {refresh}, "client_id": {spa.ID}}.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("cross-origin revocation: %s %v", res, res.header)
	}

	for _, tc := range []struct{ method, path string }{
		{http.MethodOptions, "/oauth2/introspect"},
		{http.MethodPost, "/oauth2/introspect"},
		{http.MethodOptions, "/admin/clients"},
		{http.MethodGet, "/admin/clients"},
	} {
		res := send(tc.method, tc.path, "", map[string]string{"Access-Control-Request-Method": http.MethodPost})
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "" || res.status == http.StatusNoContent {
			t.Errorf("%s %s from another origin: %d, Access-Control-Allow-Origin %q; want no CORS", tc.method, tc.path, res.status, got)
		}
	}
	// Without an Origin too: the metadata and keys are cacheable, and a
	// shared cache may hand a server's answer to a browser app.
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/oauth-authorization-server"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
		if res := s.do(t, req); res.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s without Origin: Access-Control-Allow-Origin %q, want *", path, res.header.Get("Access-Control-Allow-Origin"))
		}
	}
}
