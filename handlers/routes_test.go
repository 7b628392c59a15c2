package handlers_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestRouting: a path asked with a method it does not serve answers 405
// with an Allow header listing the methods it does serve (RFC 9110
// §15.5.6); a path nothing serves answers 404 without Allow. Both in the
// edge's {"error", "error_description"} shape.
func TestRouting(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)

	for _, tc := range []struct {
		method string
		path   string
		status int
		allow  string // "" means no Allow header
	}{
		{http.MethodGet, "/oauth2/token", 405, "POST"},
		{http.MethodPut, "/oauth2/token", 405, "POST"},
		{http.MethodOptions, "/oauth2/token", 405, "POST"},
		{http.MethodHead, "/oauth2/token", 405, "POST"},
		{http.MethodGet, "/oauth2/revoke", 405, "POST"},
		{http.MethodGet, "/oauth2/introspect", 405, "POST"},
		{http.MethodPost, "/.well-known/oauth-authorization-server", 405, "GET, HEAD"},
		{http.MethodPost, "/.well-known/jwks.json", 405, "GET, HEAD"},
		{http.MethodDelete, "/healthz", 405, "GET, HEAD"},
		{http.MethodPost, "/readyz", 405, "GET, HEAD"},
		{http.MethodHead, "/metrics", 405, "GET"},
		{http.MethodPost, "/admin/ui/", 405, "GET, HEAD"},
		{http.MethodPost, "/admin/ui", 405, "GET, HEAD"},
		{http.MethodPost, "/admin/ui/static/console.js", 405, "GET, HEAD"},
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodPost, "/nope", 404, ""},
		{http.MethodPost, "/oauth2/token/more", 404, ""},
		{http.MethodGet, "/admin/ui/nope", 404, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			res := s.send(t, tc.method, tc.path, client{}, nil, "", false)
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
