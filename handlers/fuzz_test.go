package handlers_test

import (
	"net/http"
	"testing"
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
			if r.status >= 400 {
				if obj := r.object(t); obj["error"] == "" || obj["error_description"] == nil {
					t.Fatalf("%s %s %q: error without error/error_description: %s", ep.method, ep.path, body, r)
				}
			}
		}
	})
}
