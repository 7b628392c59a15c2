package handlers_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestRouting: a path asked with a method it does not serve answers 405
// with an Allow header listing the methods it does serve (RFC 9110
// §15.5.6); a path nothing serves answers 404 without Allow. Both in the
// edge's {"error", "error_description"} shape. Under /admin/ that holds for
// callers with the bearer (TestAdminAuth has the others), and the console's
// paths stay the console's.
func TestRouting(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	bearer := http.Header{"Authorization": {"Bearer " + s.admin}}

	for _, tc := range []struct {
		method string
		path   string
		header http.Header
		status int
		allow  string // "" means no Allow header
	}{
		{http.MethodGet, "/oauth2/token", nil, 405, "POST"},
		{http.MethodPut, "/oauth2/token", nil, 405, "POST"},
		{http.MethodOptions, "/oauth2/token", nil, 405, "POST"},
		{http.MethodHead, "/oauth2/token", nil, 405, "POST"},
		{http.MethodGet, "/oauth2/revoke", nil, 405, "POST"},
		{http.MethodGet, "/oauth2/introspect", nil, 405, "POST"},
		{http.MethodPost, "/.well-known/oauth-authorization-server", nil, 405, "GET, HEAD"},
		{http.MethodPost, "/.well-known/jwks.json", nil, 405, "GET, HEAD"},
		{http.MethodDelete, "/healthz", nil, 405, "GET, HEAD"},
		{http.MethodPost, "/readyz", nil, 405, "GET, HEAD"},
		{http.MethodHead, "/metrics", nil, 405, "GET"},
		{http.MethodGet, "/nope", nil, 404, ""},
		{http.MethodPost, "/nope", nil, 404, ""},
		{http.MethodPost, "/oauth2/token/more", nil, 404, ""},
		{http.MethodGet, "/admin", nil, 404, ""},
		{http.MethodGet, "/administrator", nil, 404, ""},

		{http.MethodPut, "/admin/clients", bearer, 405, "GET, HEAD, POST"},
		{http.MethodPatch, "/admin/clients/app", bearer, 405, "DELETE, GET, HEAD"},
		{http.MethodPost, "/admin/users/x", bearer, 405, "DELETE, GET, HEAD, PATCH"},
		{http.MethodGet, "/admin/users/x/password", bearer, 405, "PUT"},
		{http.MethodGet, "/admin/users/x/lockout", bearer, 405, "DELETE"},
		{http.MethodPost, "/admin/users/x/sessions", bearer, 405, "DELETE, GET, HEAD"},
		{http.MethodGet, "/admin/sessions/x", bearer, 405, "DELETE"},
		{http.MethodHead, "/admin/sessions/x", bearer, 405, "DELETE"},
		{http.MethodDelete, "/admin/sessions/x/events", bearer, 405, "GET, HEAD"},
		{http.MethodGet, "/admin/nothing", bearer, 404, ""},
		{http.MethodGet, "/admin/", bearer, 404, ""},
		{http.MethodGet, "/admin/clients/app/more", bearer, 404, ""},

		// The console answers without the bearer, and ignores it.
		{http.MethodPost, "/admin/ui/", nil, 405, "GET, HEAD"},
		{http.MethodPost, "/admin/ui", nil, 405, "GET, HEAD"},
		{http.MethodPost, "/admin/ui/static/console.js", bearer, 405, "GET, HEAD"},
		{http.MethodGet, "/admin/ui/nope", nil, 404, ""},
		{http.MethodGet, "/admin/ui/nope", bearer, 404, ""},
	} {
		name := tc.method + " " + tc.path
		if tc.header != nil {
			name += " with the bearer"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := s.send(t, tc.method, tc.path, client{}, tc.header, "", false)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", res.status, tc.status, res.body)
			}
			var want []string
			if tc.allow != "" {
				want = []string{tc.allow}
			}
			if got := res.header.Values("Allow"); !slices.Equal(got, want) {
				t.Errorf("Allow = %q, want %q", got, want)
			}
			if tc.method == http.MethodHead {
				return
			}
			wantCode := map[int]string{404: "not_found", 405: "invalid_request"}[tc.status]
			if m := res.object(t); m["error"] != wantCode || str(m["error_description"]) == "" || len(m) != 2 {
				t.Errorf("body %s, want error %q and an error_description", res.body, wantCode)
			}
		})
	}
}
