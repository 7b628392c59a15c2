package handlers_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/storage"
)

// FuzzAdminJSON posts arbitrary bodies to the admin API's JSON endpoints.
// Whatever arrives, the answer is a success or a 4xx naming the problem:
// never a 5xx, never a panic.
func FuzzAdminJSON(f *testing.F) {
	s := newTestServer(f)
	for _, seed := range []string{
		`{"grant_types":["client_credentials"],"scope":"read"}`,
		`{"grant_types":"password"}`,
		`{"grant_types":["password"],"token_endpoint_auth_method":"none","client_secret":"x"}`,
		`{"client_id":"a\u0000b","grant_types":["password"]}`,
		`{"client_secret":"é","grant_types":["client_credentials"]}`,
		`{"username":"u","password":""}`,
		`{"disabled":"yes"}`,
		`[1,2,3]`, `{"a":1} {"b":2}`, `{`, ``, `null`,
		// Strict decoding: case, duplicates, unknown fields, encodings.
		`{"grant_types":["client_credentials"],"can_introspect":false,"Can_Introspect":true}`,
		`{"grant_types":["client_credentials"],"grant_types":["password"]}`,
		`{"grant_types":["client_credentials"],"dpop_bound_access_tokens":true}`,
		`{"grant_types":["client_credentials"],"audience":[{"a":1,"a":2}]}`,
		"{\"client_name\":\"caf\xe9\",\"grant_types\":[\"client_credentials\"]}",
		`{"client_name":"\ud83d\ude00","grant_types":["client_credentials"]}`,
		`{"client_name":"\ud800\u0041","grant_types":["client_credentials"]}`,
		`{"client_name":"\\udc00","grant_types":["client_credentials"]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, ep := range []struct{ method, path string }{
			{http.MethodPost, "/admin/clients"},
			{http.MethodPost, "/admin/users"},
			{http.MethodPatch, "/admin/users/nobody"},
			{http.MethodPut, "/admin/users/nobody/password"},
		} {
			r := s.adminDo(t, ep.method, ep.path, body)
			if r.status >= 500 || r.status < 200 {
				t.Fatalf("%s %s %q: %s", ep.method, ep.path, body, r)
			}
			// Invalid UTF-8 is refused, never stored as U+FFFD.
			if r.status < 300 && !utf8.ValidString(body) {
				t.Fatalf("%s %s %q: %s, want a 400 for invalid UTF-8", ep.method, ep.path, body, r)
			}
			if r.status >= 400 {
				if obj := r.object(t); obj["error"] == "" || obj["error_description"] == nil {
					t.Fatalf("%s %s %q: error without error/error_description: %s", ep.method, ep.path, body, r)
				}
			}
		}
	})
}

// FuzzPathVar feeds arbitrary strings through the admin routes' id
// handling. Any id, percent-encoded as one path segment, comes back as
// itself; any raw segment is either unescaped or refused as not found.
func FuzzPathVar(f *testing.F) {
	for _, seed := range []string{
		"app",                          // plain
		"a/b",                          // the reason routes match the escaped path
		"https://app.example/cb?x=1#y", // URLs are common client ids
		"100%25", "%zz", "%", "a%2",    // escapes, valid or not
		"..", "a+b", "é", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A malformed escape names nothing; any id survives escaping.
		if _, err := handlers.PathVar(withID(s), "id"); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("pathVar(%q): %v, want storage.ErrNotFound", s, err)
		}
		if got, err := handlers.PathVar(withID(url.PathEscape(s)), "id"); err != nil || got != s {
			t.Fatalf("pathVar(PathEscape(%q)) = %q, %v", s, got, err)
		}
	})
}

func withID(raw string) *http.Request {
	return mux.SetURLVars(httptest.NewRequest(http.MethodGet, "/", nil), map[string]string{"id": raw})
}
