package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// unholdable is text that PostgreSQL's text type cannot hold: a NUL byte, a
// byte that is not UTF-8, and a UTF-8 sequence cut short.
var unholdable = []string{"a\x00b", "\xff", "caf\xc3"}

// TestTextTheDatabaseCannotHold sends identifiers that no row can hold. They
// name nothing, so they are answered like any unknown name, on SQLite and
// PostgreSQL alike: never as a database failure.
func TestTextTheDatabaseCannotHold(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	s.createUser(t, "alice", "correct horse")
	for _, bad := range unholdable {
		t.Run(url.QueryEscape(bad), func(t *testing.T) {
			res := s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"password"}, "username": {bad}, "password": {"x"}})
			wantOAuthError(t, "password grant for username "+url.QueryEscape(bad), res, http.StatusBadRequest, "invalid_grant")

			nobody := client{ID: bad, Secret: "x", AuthMethod: "client_secret_basic"}
			for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
				res := s.post(t, path, nobody, url.Values{"grant_type": {"client_credentials"}, "token": {"x"}})
				wantOAuthError(t, path+" as client "+url.QueryEscape(bad), res, http.StatusUnauthorized, "invalid_client")
			}
			nobody.AuthMethod = "client_secret_post"
			res = s.post(t, "/oauth2/token", nobody, url.Values{"grant_type": {"client_credentials"}})
			wantOAuthError(t, "client_secret_post as "+url.QueryEscape(bad), res, http.StatusUnauthorized, "invalid_client")

			esc := url.PathEscape(bad)
			for _, tc := range []struct{ method, path string }{
				{http.MethodGet, "/admin/clients/" + esc},
				{http.MethodDelete, "/admin/clients/" + esc},
				{http.MethodGet, "/admin/users/" + esc},
				{http.MethodPatch, "/admin/users/" + esc},
				{http.MethodDelete, "/admin/users/" + esc},
				{http.MethodPut, "/admin/users/" + esc + "/password"},
				{http.MethodGet, "/admin/users/" + esc + "/sessions"},
				{http.MethodDelete, "/admin/users/" + esc + "/sessions"},
				{http.MethodDelete, "/admin/sessions/" + esc},
				{http.MethodGet, "/admin/sessions/" + esc + "/events"},
			} {
				var body any
				switch tc.method {
				case http.MethodPatch:
					body = map[string]any{"disabled": true}
				case http.MethodPut:
					body = map[string]any{"password": "another horse"}
				}
				if res := s.adminDo(t, tc.method, tc.path, body); res.status != http.StatusNotFound {
					t.Errorf("%s %s = %s, want 404", tc.method, tc.path, res)
				}
			}
			res = s.adminDo(t, http.MethodGet, "/admin/users?username="+url.QueryEscape(bad), nil)
			if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != `{"items":[]}` {
				t.Errorf("GET /admin/users?username=%s = %s, want 200 {\"items\":[]}", url.QueryEscape(bad), res)
			}
		})
	}
	// Storing such text is bad input, refused alike on both databases.
	for _, body := range []map[string]any{
		{"client_name": "a\x00b", "grant_types": []string{"client_credentials"}},
		{"audience": []string{"a\x00b"}, "grant_types": []string{"client_credentials"}},
		{"username": "a\x00b", "password": "correct horse"},
	} {
		path := "/admin/clients"
		if _, ok := body["username"]; ok {
			path = "/admin/users"
		}
		if res := s.adminDo(t, http.MethodPost, path, body); res.status != http.StatusBadRequest {
			t.Errorf("POST %s %q = %s, want 400", path, body, res)
		}
	}
	// The login still works: nothing above locked it out or broke it.
	s.login(t, app, "alice", "correct horse", "")
}

// TestUserAgentsAreStoredAsText: a login's audit events keep the caller's
// User-Agent, which HTTP lets carry bytes that are not UTF-8 and which is cut
// at 256 bytes. Neither may break the request, nor store text that is not
// UTF-8.
func TestUserAgentsAreStoredAsText(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	s.createUser(t, "alice", "correct horse")
	tok := s.login(t, app, "alice", "correct horse", "")
	for _, ua := range []string{
		"latin1 caf\xe9",
		"x" + strings.Repeat("é", 200), // 401 bytes: a cut at 256 falls inside an é
	} {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Refresh}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", ua)
		req.SetBasicAuth(app.ID, app.Secret)
		res := s.do(t, req)
		if res.status != http.StatusOK {
			t.Fatalf("refresh with User-Agent %q: %s", ua, res)
		}
		tok.Refresh = str(res.object(t)["refresh_token"])
	}
	s.wantActive(t, "access token", tok.Access)
	for _, v := range s.dump(t) {
		if strings.HasPrefix(v, "audit_events.") && !utf8.ValidString(v) {
			t.Errorf("stored text is not UTF-8: %q", v)
		}
	}
}
