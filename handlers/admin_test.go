package handlers_test

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/storage"
)

func keysOf(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// wantAdminError asserts an admin API error: status and
// {"error", "error_description"}, the description naming field when given.
func wantAdminError(t testing.TB, what string, res response, status int, field string) {
	t.Helper()
	if res.status != status {
		t.Errorf("%s: status %d, want %d (%s)", what, res.status, status, res.body)
		return
	}
	m := res.object(t)
	if str(m["error"]) == "" || str(m["error_description"]) == "" {
		t.Errorf("%s: body %s lacks error or error_description", what, res.body)
	}
	if field != "" && !strings.Contains(str(m["error_description"]), field) {
		t.Errorf("%s: error_description %q does not name %q", what, m["error_description"], field)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: 401 WWW-Authenticate = %q, want Bearer ...", what, res.header.Get("WWW-Authenticate"))
	}
}

// TestAdminAuth: every call of the admin API wants its bearer token. It is
// checked before routing, so that a wrong method or an unknown path under
// /admin/ answers 401 like a known one. The 401's challenge names the realm,
// and error="invalid_token" only when a bearer token was presented (RFC
// 6750 §3.1). Without a token configured the admin API is absent: 404,
// whatever is asked.
func TestAdminAuth(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	calls := []struct{ method, path string }{
		{http.MethodGet, "/admin/clients"},
		{http.MethodPost, "/admin/clients"},
		{http.MethodDelete, "/admin/sessions/x"},
		{http.MethodPut, "/admin/clients"},
		{http.MethodPatch, "/admin/clients/app"},
		{http.MethodGet, "/admin/users/x/password"},
		{http.MethodDelete, "/admin/users/x/lockout"},
		{http.MethodGet, "/admin/nothing"},
		{http.MethodGet, "/admin/"},
	}
	const (
		noToken  = `Bearer realm="latch-admin"`
		badToken = `Bearer realm="latch-admin", error="invalid_token"`
	)
	for _, tc := range []struct {
		name      string
		header    []string // one Authorization header each
		challenge string   // RFC 6750 §3.1: an error code only when a bearer token was presented
	}{
		{"no Authorization", nil, noToken},
		{"wrong token", []string{"Bearer wrong"}, badToken},
		{"Basic scheme", []string{"Basic " + testAdminToken}, noToken},
		{"token without scheme", []string{testAdminToken}, noToken},
		{"truncated token", []string{"Bearer " + testAdminToken[:len(testAdminToken)-1]}, badToken},
		{"wrong token, lower-case scheme", []string{"bearer wrong"}, badToken},
		{"empty token", []string{"Bearer "}, noToken},
		{"two Authorization headers", []string{"Bearer " + testAdminToken, "Bearer wrong"}, noToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range calls {
				req, _ := http.NewRequestWithContext(t.Context(), c.method, s.URL+c.path, nil)
				req.Header["Authorization"] = tc.header
				res := s.do(t, req)
				wantAdminError(t, c.method+" "+c.path, res, http.StatusUnauthorized, "")
				if got := res.header.Values("WWW-Authenticate"); !slices.Equal(got, []string{tc.challenge}) {
					t.Errorf("%s %s: WWW-Authenticate = %q, want [%q]", c.method, c.path, got, tc.challenge)
				}
			}
		})
	}
	// RFC 9110 §11.1: the scheme is case-insensitive.
	for _, auth := range []string{"Bearer " + testAdminToken, "bearer " + testAdminToken, "BEARER  " + testAdminToken} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/admin/clients", nil)
		req.Header.Set("Authorization", auth)
		if res := s.do(t, req); res.status != http.StatusOK {
			t.Errorf("Authorization %q: %s, want 200", strings.Replace(auth, testAdminToken, "<token>", 1), res)
		}
	}

	off := newTestServer(t, withAdminToken(""))
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		for _, c := range calls {
			req, _ := http.NewRequestWithContext(t.Context(), c.method, off.URL+c.path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			if res := off.do(t, req); res.status != http.StatusNotFound {
				t.Errorf("admin API off, %s %s, Authorization %q: %s, want 404", c.method, c.path, auth, res)
			}
		}
	}
}

// TestAdminClients covers POST, GET and DELETE of /admin/clients.
func TestAdminClients(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))

	res := s.adminDo(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "web", "client_name": "Web app", "grant_types": []string{"password", "refresh_token"},
		"scope": "read write", "token_endpoint_auth_method": "client_secret_post", "audience": []string{"https://api.example"},
	})
	if res.status != http.StatusCreated {
		t.Fatalf("create: %s", res)
	}
	m := res.object(t)
	secret := str(m["client_secret"])
	if len(secret) < 32 {
		t.Errorf("generated client_secret %q is too short", secret)
	}
	if v, ok := m["client_secret_expires_at"]; !ok || v != float64(0) {
		t.Errorf("client_secret_expires_at = %v, want 0", v)
	}
	if at, _ := m["client_id_issued_at"].(float64); int64(at) < time.Now().Add(-time.Minute).Unix() || int64(at) > time.Now().Unix()+1 {
		t.Errorf("client_id_issued_at = %v", m["client_id_issued_at"])
	}
	if m["client_id"] != "web" || m["client_name"] != "Web app" || m["scope"] != "read write" ||
		m["token_endpoint_auth_method"] != "client_secret_post" || m["can_introspect"] != false {
		t.Errorf("create answer %v", m)
	}

	// A public client gets no secret, and the 201 still says
	// client_secret_expires_at 0 (API.md lists it in every 201).
	res = s.adminDo(t, http.MethodPost, "/admin/clients", map[string]any{
		"grant_types": []string{"password"}, "token_endpoint_auth_method": "none",
	})
	if m := res.object(t); res.status != http.StatusCreated || m["client_secret"] != nil || m["client_secret_expires_at"] != float64(0) {
		t.Errorf("create public client: %s, want 201 without client_secret and with client_secret_expires_at 0", res)
	}

	// Defaults: generated id, client_secret_basic.
	def := s.createClient(t, map[string]any{"grant_types": []string{"client_credentials"}})
	if def.AuthMethod != "client_secret_basic" || def.Secret == "" || def.ID == "" {
		t.Errorf("defaults: %+v", def)
	}

	t.Run("invalid", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"public client_credentials", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, "client_credentials"},
			{"unknown grant type", map[string]any{"grant_types": []string{"authorization_code"}}, "grant_types"},
			{"no grant types", map[string]any{"scope": "read"}, "grant_types"},
			{"unknown auth method", map[string]any{"grant_types": []string{"password"}, "token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"},
			{"non-ASCII secret", map[string]any{"grant_types": []string{"password"}, "client_secret": "sécret"}, "client_secret"},
			{"newline in secret", map[string]any{"grant_types": []string{"password"}, "client_secret": "abc\ndef"}, "client_secret"},
			{"public client with secret", map[string]any{"grant_types": []string{"password"}, "token_endpoint_auth_method": "none", "client_secret": "x"}, "client_secret"},
			{"public client that introspects", map[string]any{"grant_types": []string{"password"}, "token_endpoint_auth_method": "none", "can_introspect": true}, "can_introspect"},
			{"non-VSCHAR client_id", map[string]any{"grant_types": []string{"password"}, "client_id": "a\tb"}, "client_id"},
			{"bad scope", map[string]any{"grant_types": []string{"password"}, "scope": `a"b`}, "scope"},
			{"grant_types wrong type", map[string]any{"grant_types": "password"}, "grant_types"},
			{"can_introspect wrong type", map[string]any{"grant_types": []string{"password"}, "can_introspect": "yes"}, "can_introspect"},
			{"malformed JSON", `{"grant_types": ["password"`, ""},
			{"not an object", `["password"]`, ""},
			{"empty body", "", ""},
			{"trailing data", `{"grant_types":["password"]} {}`, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.adminDo(t, http.MethodPost, "/admin/clients", tc.body)
				wantAdminError(t, tc.name, res, http.StatusBadRequest, tc.field)
			})
		}
	})

	t.Run("duplicate id", func(t *testing.T) {
		res := s.adminDo(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": "web", "grant_types": []string{"password"}})
		wantAdminError(t, "duplicate", res, http.StatusConflict, "")
	})

	t.Run("list and get without secrets", func(t *testing.T) {
		res := s.adminDo(t, http.MethodGet, "/admin/clients", nil)
		if res.status != 200 {
			t.Fatalf("list: %s", res)
		}
		items := asSlice(res.object(t)["items"])
		var ids []string
		for _, it := range items {
			c, _ := it.(map[string]any)
			ids = append(ids, str(c["client_id"]))
			if _, ok := c["client_secret"]; ok {
				t.Errorf("list shows a client_secret: %v", c)
			}
		}
		if !slices.Contains(ids, "web") || !slices.Contains(ids, def.ID) || !slices.Contains(ids, "introspector") {
			t.Errorf("list ids %v", ids)
		}
		if strings.Contains(string(res.body), secret) || strings.Contains(string(res.body), def.Secret) {
			t.Errorf("list leaks a secret")
		}
		one := s.adminDo(t, http.MethodGet, "/admin/clients/web", nil)
		if one.status != 200 {
			t.Fatalf("get: %s", one)
		}
		c := one.object(t)
		if c["client_id"] != "web" || c["scope"] != "read write" || strings.Contains(string(one.body), secret) {
			t.Errorf("get: %s", one.body)
		}
		if _, ok := c["client_secret"]; ok {
			t.Errorf("get shows client_secret")
		}
		wantAdminError(t, "get unknown", s.adminDo(t, http.MethodGet, "/admin/clients/nope", nil), 404, "")
	})

	t.Run("delete ends every token", func(t *testing.T) {
		s.createUser(t, "alice", "pw-alice")
		c := s.newPasswordClient(t, "doomed", "client_secret_basic")
		tok := s.login(t, c, "alice", "pw-alice", "")
		if res := s.adminDo(t, http.MethodDelete, "/admin/clients/doomed", nil); res.status != http.StatusNoContent {
			t.Fatalf("delete: %s", res)
		}
		s.wantInactive(t, "access token of a deleted client", tok.Access)
		s.wantInactive(t, "refresh token of a deleted client", tok.Refresh)
		if res := s.refresh(t, c, tok.Refresh, ""); res.status == 200 {
			t.Errorf("refresh with a deleted client: 200")
		}
		if res := s.adminDo(t, http.MethodGet, "/admin/clients/doomed", nil); res.status != 404 {
			t.Errorf("get deleted client: %s", res)
		}
		// A client registered again under the same id does not inherit the
		// old logins: their refresh answers invalid_grant.
		again := s.newPasswordClient(t, "doomed", "client_secret_basic")
		s.wantRefreshDead(t, "old refresh token under a re-created client", again, tok.Refresh)
		s.wantInactive(t, "old access token under a re-created client", tok.Access)
		wantAdminError(t, "delete unknown", s.adminDo(t, http.MethodDelete, "/admin/clients/nope", nil), 404, "")
	})

	// A client_id is any VSCHAR (RFC 6749 §2.2, Appendix A.1), and URLs are
	// common ones: whatever POST accepts, GET and DELETE reach with the id
	// percent-encoded as one path segment.
	t.Run("ids that need escaping", func(t *testing.T) {
		for _, tc := range []struct{ id, segment string }{
			{"a/b", "a%2Fb"},
			{"https://app.example/cb?x=1#top", "https:%2F%2Fapp.example%2Fcb%3Fx=1%23top"},
			{"a%2Fb", "a%252Fb"},
			{"100% sure", "100%25%20sure"},
			{"a+b", "a+b"},
			{"..", "%2E%2E"},
			{"plain", escapeAll("plain")},
		} {
			c := s.createClient(t, map[string]any{"client_id": tc.id, "grant_types": []string{"client_credentials"}})
			if c.ID != tc.id {
				t.Fatalf("created client_id %q, want %q", c.ID, tc.id)
			}
			path := "/admin/clients/" + tc.segment
			res := s.adminDo(t, http.MethodGet, path, nil)
			if res.status != 200 || res.object(t)["client_id"] != tc.id {
				t.Errorf("GET %s: %s, want client %q", path, res, tc.id)
			}
			if res := s.adminDo(t, http.MethodDelete, path, nil); res.status != http.StatusNoContent {
				t.Errorf("DELETE %s: %s, want 204", path, res)
			}
			wantAdminError(t, "GET "+path+" after DELETE", s.adminDo(t, http.MethodGet, path, nil), 404, "No such resource")
		}
	})
}

// TestPathVar: path variables reach the handlers unescaped, and a
// malformed escape is [storage.ErrNotFound], which the admin API answers
// 404. net/http answers 400 to such a request line before routing, so this
// case is tested on the helper.
func TestPathVar(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw  string
		want string // "" for a malformed escape
	}{
		{"app", "app"},
		{"a%2Fb", "a/b"},
		{"a+b", "a+b"},
		{"100%25", "100%"},
		{"%2E%2E", ".."},
		{"a%zz", ""},
		{"a%2", ""},
		{"%", ""},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			r := mux.SetURLVars(httptest.NewRequest(http.MethodGet, "/", nil), map[string]string{"id": tc.raw})
			got, err := handlers.PathVar(r, "id")
			switch {
			case tc.want == "" && !errors.Is(err, storage.ErrNotFound):
				t.Errorf("pathVar(%q) = %q, %v; want storage.ErrNotFound", tc.raw, got, err)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Errorf("pathVar(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}

// escapeAll percent-encodes every byte of s: the same path segment as s
// (RFC 3986 §6.2.2.2), spelt as no client would.
func escapeAll(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// TestAdminUsers covers the user endpoints and what they do to logins.
// TestAdminStrictJSON: the admin API reads its bodies strictly (issue 14).
// encoding/json matches keys in any case and lets the last duplicate win,
// drops unknown fields, and replaces invalid UTF-8; each of those is a 400
// that names the field, and nothing is stored.
func TestAdminStrictJSON(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, tc := range []struct {
		name, method, path, body string
		field                    string // named in error_description
	}{
		{"key in another case", http.MethodPost, "/admin/clients",
			`{"client_id":"strict","grant_types":["client_credentials"],"can_introspect":false,"Can_Introspect":true}`, "Can_Introspect"},
		{"duplicate key", http.MethodPost, "/admin/clients",
			`{"client_id":"strict","grant_types":["client_credentials"],"can_introspect":false,"can_introspect":true}`, "can_introspect: the field appears more than once"},
		{"unknown field", http.MethodPost, "/admin/clients",
			`{"client_id":"strict","grant_types":["client_credentials"],"software_id":"x"}`, `"software_id": unknown field`},
		{"invalid UTF-8", http.MethodPost, "/admin/clients",
			"{\"client_id\":\"strict\",\"client_name\":\"caf\xe9\",\"grant_types\":[\"client_credentials\"]}", "UTF-8"},
		{"lone surrogate", http.MethodPost, "/admin/clients",
			`{"client_id":"strict","client_name":"a\ud800b","grant_types":["client_credentials"]}`, "surrogate"},
		{"low surrogate first", http.MethodPost, "/admin/clients",
			`{"client_id":"strict","client_name":"\udc00\ud800","grant_types":["client_credentials"]}`, "surrogate"},
		{"null", http.MethodPost, "/admin/clients", `null`, "JSON object"},
		{"duplicate username", http.MethodPost, "/admin/users", `{"username":"strict","password":"pw","username":"other"}`, "username"},
		{"duplicate in PATCH", http.MethodPatch, "/admin/users/nobody", `{"disabled":true,"Disabled":false}`, "Disabled"},
		{"unknown field in PUT", http.MethodPut, "/admin/users/nobody/password", `{"password":"pw","passwd":"pw"}`, "passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAdminError(t, tc.name, s.adminDo(t, tc.method, tc.path, tc.body), http.StatusBadRequest, tc.field)
		})
	}
	wantAdminError(t, "the refused client", s.adminDo(t, http.MethodGet, "/admin/clients/strict", nil), http.StatusNotFound, "")
	if res := s.adminDo(t, http.MethodGet, "/admin/users?username=strict", nil); len(asSlice(res.object(t)["items"])) != 0 {
		t.Errorf("the refused user was stored: %s", res)
	}

	// A surrogate pair is one character, and the exact names still work.
	res := s.adminDo(t, http.MethodPost, "/admin/clients",
		`{"client_id":"strict","client_name":"\ud83d\ude00","grant_types":["client_credentials"],"can_introspect":true}`)
	if m := res.object(t); res.status != http.StatusCreated || m["client_name"] != "\U0001F600" || m["can_introspect"] != true {
		t.Errorf("create with a surrogate pair: %s", res)
	}
}

// TestAdminHead: every GET of the admin API answers HEAD as it answers GET,
// status and headers, without a body (RFC 9110 §9.3.2); and without the
// bearer, HEAD is refused like GET.
func TestAdminHead(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createClient(t, map[string]any{"client_id": "app", "grant_types": []string{"client_credentials"}})
	id := s.createUser(t, "alice", "pw-alice")
	for _, path := range []string{
		"/admin/clients",
		"/admin/clients/app",
		"/admin/clients/nope",
		"/admin/users?username=alice",
		"/admin/users/" + id,
		"/admin/users/" + id + "/sessions",
		"/admin/sessions/nope/events",
		"/admin/events?limit=5",
	} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			get := s.adminDo(t, http.MethodGet, path, nil)
			head := s.adminDo(t, http.MethodHead, path, nil)
			if head.status != get.status || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
				t.Errorf("HEAD: %d %q, want GET's %d %q", head.status, head.header.Get("Content-Type"), get.status, get.header.Get("Content-Type"))
			}
			if len(head.body) != 0 {
				t.Errorf("HEAD answered a body: %q", head.body)
			}
		})
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, s.URL+"/admin/clients", nil)
	if res := s.do(t, req); res.status != http.StatusUnauthorized {
		t.Errorf("HEAD without the bearer: %d, want 401", res.status)
	}
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")

	res := s.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": "alice", "password": "pw-alice"})
	if res.status != http.StatusCreated {
		t.Fatalf("create user: %s", res)
	}
	u := res.object(t)
	if got := keysOf(u); !slices.Equal(got, []string{"created_at", "id", "username"}) {
		t.Errorf("create user answer keys %v, want id, username, created_at", got)
	}
	id := str(u["id"])
	if _, err := time.Parse(time.RFC3339, str(u["created_at"])); err != nil {
		t.Errorf("created_at %q: %v", u["created_at"], err)
	}
	if strings.Contains(string(res.body), "pw-alice") {
		t.Errorf("create user echoes the password")
	}

	wantAdminError(t, "duplicate username", s.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": "alice", "password": "x"}), 409, "")
	wantAdminError(t, "empty password", s.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": "zed", "password": ""}), 400, "password")
	wantAdminError(t, "empty username", s.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": "", "password": "x"}), 400, "username")

	t.Run("find", func(t *testing.T) {
		res := s.adminDo(t, http.MethodGet, "/admin/users?username=alice", nil)
		items := asSlice(res.object(t)["items"])
		if res.status != 200 || len(items) != 1 {
			t.Fatalf("find alice: %s", res)
		}
		if it, _ := items[0].(map[string]any); it["id"] != id || it["username"] != "alice" {
			t.Errorf("find alice: %v", it)
		}
		res = s.adminDo(t, http.MethodGet, "/admin/users?username=nobody", nil)
		if items := asSlice(res.object(t)["items"]); res.status != 200 || items == nil || len(items) != 0 {
			t.Errorf("find nobody: %s, want {\"items\": []}", res)
		}
		one := s.adminDo(t, http.MethodGet, "/admin/users/"+id, nil)
		m := one.object(t)
		if one.status != 200 || m["id"] != id || m["username"] != "alice" || m["disabled"] != false {
			t.Errorf("get user: %s", one)
		}
		if res := s.adminDo(t, http.MethodGet, "/admin/users/"+escapeAll(id), nil); res.status != 200 || string(res.body) != string(one.body) {
			t.Errorf("get user by its id percent-encoded: %s, want %s", res, one)
		}
		if _, ok := m["created_at"]; !ok {
			t.Errorf("get user lacks created_at")
		}
		if strings.Contains(strings.ToLower(string(one.body)), "hash") || strings.Contains(string(one.body), "argon2") {
			t.Errorf("get user shows the password hash: %s", one.body)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, "/admin/users/nope", nil},
			{http.MethodPatch, "/admin/users/nope", map[string]any{"disabled": true}},
			{http.MethodPut, "/admin/users/nope/password", map[string]any{"password": "x"}},
			{http.MethodDelete, "/admin/users/nope/lockout", nil},
			{http.MethodDelete, "/admin/users/nope", nil},
			{http.MethodGet, "/admin/users/nope/sessions", nil},
			{http.MethodDelete, "/admin/users/nope/sessions", nil},
			{http.MethodDelete, "/admin/sessions/nope", nil},
			{http.MethodGet, "/admin/sessions/nope/events", nil},
		} {
			wantAdminError(t, tc.method+" "+tc.path, s.adminDo(t, tc.method, tc.path, tc.body), http.StatusNotFound, "")
			// An id with an escaped "/" is one segment too: the route
			// takes it and the store answers for it.
			path := strings.Replace(tc.path, "nope", "no%2Fpe", 1)
			wantAdminError(t, tc.method+" "+path, s.adminDo(t, tc.method, path, tc.body), http.StatusNotFound, "No such resource")
		}
	})

	// The steps below run in order: each uses the login the one before left.
	var tok tokens
	t.Run("password change", func(t *testing.T) {
		old := s.login(t, app, "alice", "pw-alice", "")
		if res := s.adminDo(t, http.MethodPut, "/admin/users/"+id+"/password", map[string]string{"password": "pw-alice-2"}); res.status != http.StatusNoContent {
			t.Fatalf("set password: %s", res)
		}
		s.wantLoginDead(t, "after a password change", app, old)
		wantOAuthError(t, "old password", s.post(t, "/oauth2/token", app, pwForm("alice", "pw-alice")), 400, "invalid_grant")
		tok = s.login(t, app, "alice", "pw-alice-2", "")
		wantAdminError(t, "empty password", s.adminDo(t, http.MethodPut, "/admin/users/"+id+"/password", map[string]string{"password": ""}), 400, "password")
	})

	t.Run("disable and enable", func(t *testing.T) {
		res := s.adminDo(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"disabled": true})
		if res.status != 200 || res.object(t)["disabled"] != true {
			t.Fatalf("disable: %s", res)
		}
		s.wantLoginDead(t, "disabled user", app, tok)
		wantOAuthError(t, "disabled login", s.post(t, "/oauth2/token", app, pwForm("alice", "pw-alice-2")), 400, "invalid_grant")
		if m := s.adminDo(t, http.MethodGet, "/admin/users/"+id, nil).object(t); m["disabled"] != true {
			t.Errorf("get disabled user: %v", m)
		}
		res = s.adminDo(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"disabled": false})
		if res.status != 200 || res.object(t)["disabled"] != false {
			t.Fatalf("enable: %s", res)
		}
		tok = s.login(t, app, "alice", "pw-alice-2", "")
		wantAdminError(t, "PATCH without disabled", s.adminDo(t, http.MethodPatch, "/admin/users/"+id, map[string]any{}), 400, "disabled")
		wantAdminError(t, "PATCH disabled of the wrong type", s.adminDo(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"disabled": "yes"}), 400, "disabled")
	})

	t.Run("delete", func(t *testing.T) {
		if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+id, nil); res.status != http.StatusNoContent {
			t.Fatalf("delete user: %s", res)
		}
		s.wantLoginDead(t, "deleted user", app, tok)
		wantOAuthError(t, "deleted user login", s.post(t, "/oauth2/token", app, pwForm("alice", "pw-alice-2")), 400, "invalid_grant")
		if res := s.adminDo(t, http.MethodGet, "/admin/users/"+id, nil); res.status != 404 {
			t.Errorf("get deleted user: %s", res)
		}
		if res := s.adminDo(t, http.MethodGet, "/admin/users?username=alice", nil); len(asSlice(res.object(t)["items"])) != 0 {
			t.Errorf("find deleted user: %s", res)
		}
	})
}

// TestAdminLiftsALockout: a user locked out by failed logins gets back in
// at once when an operator deletes the lockout or sets a new password.
func TestAdminLiftsALockout(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withLoginLimits(2, 0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	id := s.createUser(t, "alice", "pw-alice")
	lockOut := func(password string) {
		t.Helper()
		for range 2 {
			wantOAuthError(t, "wrong password", s.post(t, "/oauth2/token", app, pwForm("alice", "wrong")), 400, "invalid_grant")
		}
		wantOAuthError(t, "the right password, locked out", s.post(t, "/oauth2/token", app, pwForm("alice", password)), 400, "invalid_grant")
	}

	lockOut("pw-alice")
	if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+id+"/lockout", nil); res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("unlock: %s, want 204 and no body", res)
	}
	s.login(t, app, "alice", "pw-alice", "")
	if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+id+"/lockout", nil); res.status != http.StatusNoContent {
		t.Errorf("unlock a user who is not locked out: %s, want 204", res)
	}

	lockOut("pw-alice")
	if res := s.adminDo(t, http.MethodPut, "/admin/users/"+id+"/password", map[string]string{"password": "pw-alice-2"}); res.status != http.StatusNoContent {
		t.Fatalf("set password: %s", res)
	}
	s.login(t, app, "alice", "pw-alice-2", "")
}

func pwForm(username, password string) map[string][]string {
	return map[string][]string{"grant_type": {"password"}, "username": {username}, "password": {password}}
}

// TestAdminSessions covers listing and ending logins, and their audit trail.
func TestAdminSessions(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	other := s.newPasswordClient(t, "other", "client_secret_post")
	id := s.createUser(t, "alice", "pw-alice")

	listSessions := func(t *testing.T) []map[string]any {
		t.Helper()
		res := s.adminDo(t, http.MethodGet, "/admin/users/"+id+"/sessions", nil)
		if res.status != 200 {
			t.Fatalf("sessions: %s", res)
		}
		var out []map[string]any
		for _, it := range asSlice(res.object(t)["items"]) {
			m, _ := it.(map[string]any)
			out = append(out, m)
		}
		return out
	}
	if got := listSessions(t); len(got) != 0 {
		t.Errorf("sessions before any login: %v", got)
	}

	a := s.login(t, app, "alice", "pw-alice", "read")
	b := s.login(t, other, "alice", "pw-alice", "")
	sessions := listSessions(t)
	if len(sessions) != 2 {
		t.Fatalf("sessions: %v, want 2", sessions)
	}
	byClient := map[string]map[string]any{}
	for _, ss := range sessions {
		if got := keysOf(ss); !slices.Equal(got, []string{"client_id", "created_at", "expires_at", "id", "last_used_at", "scope"}) {
			t.Errorf("session keys %v", got)
		}
		byClient[str(ss["client_id"])] = ss
		created, err1 := time.Parse(time.RFC3339, str(ss["created_at"]))
		expires, err2 := time.Parse(time.RFC3339, str(ss["expires_at"]))
		if err1 != nil || err2 != nil || expires.Sub(created) != 2160*time.Hour {
			t.Errorf("session times %v %v: expires-created = %v", ss["created_at"], ss["expires_at"], expires.Sub(created))
		}
	}
	if byClient["app"]["scope"] != "read" || byClient["other"]["scope"] != "read write" {
		t.Errorf("session scopes: %v", sessions)
	}
	sessA := str(byClient["app"]["id"])

	// last_used_at moves with a refresh.
	time.Sleep(5 * time.Millisecond)
	res := s.refresh(t, app, a.Refresh, "")
	if res.status != 200 {
		t.Fatalf("refresh: %s", res)
	}
	a2 := tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}
	for _, ss := range listSessions(t) {
		if ss["id"] == sessA && !parseTime(t, ss["last_used_at"]).After(parseTime(t, byClient["app"]["last_used_at"])) {
			t.Errorf("last_used_at did not move: %v -> %v", byClient["app"]["last_used_at"], ss["last_used_at"])
		}
	}

	// End one login: the other stays.
	if res := s.adminDo(t, http.MethodDelete, "/admin/sessions/"+sessA, nil); res.status != http.StatusNoContent {
		t.Fatalf("delete session: %s", res)
	}
	s.wantLoginDead(t, "ended session", app, a2)
	s.wantActive(t, "other login", b.Access)
	if got := listSessions(t); len(got) != 1 || got[0]["client_id"] != "other" {
		t.Errorf("sessions after ending one: %v", got)
	}
	res = s.refresh(t, other, b.Refresh, "")
	if res.status != 200 {
		t.Fatalf("other login's refresh: %s", res)
	}
	b2 := tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}

	// End all.
	c := s.login(t, app, "alice", "pw-alice", "")
	if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+id+"/sessions", nil); res.status != http.StatusNoContent {
		t.Fatalf("delete all sessions: %s", res)
	}
	s.wantLoginDead(t, "logout everywhere (other)", other, b2)
	s.wantLoginDead(t, "logout everywhere (app)", app, c)
	if got := listSessions(t); len(got) != 0 {
		t.Errorf("sessions after logout everywhere: %v", got)
	}
}

// TestAdminSessionEvents: the audit trail of one login reads issued,
// refreshed, reuse_detected, family_revoked, in order, without tokens.
func TestAdminSessionEvents(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	uid := s.createUser(t, "alice", "pw-alice")
	tok := s.login(t, app, "alice", "pw-alice", "")
	res := s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil)
	items := asSlice(res.object(t)["items"])
	if len(items) != 1 {
		t.Fatalf("sessions: %s", res)
	}
	sid := str(items[0].(map[string]any)["id"])

	res = s.refresh(t, app, tok.Refresh, "")
	if res.status != 200 {
		t.Fatalf("refresh: %s", res)
	}
	next := res.object(t)
	wantOAuthError(t, "reuse", s.refresh(t, app, tok.Refresh, ""), 400, "invalid_grant")

	res = s.adminDo(t, http.MethodGet, "/admin/sessions/"+sid+"/events", nil)
	if res.status != 200 {
		t.Fatalf("events: %s", res)
	}
	if esc := s.adminDo(t, http.MethodGet, "/admin/sessions/"+escapeAll(sid)+"/events", nil); esc.status != 200 || string(esc.body) != string(res.body) {
		t.Errorf("events by the session id percent-encoded: %s, want %s", esc, res)
	}
	var types []string
	for _, it := range asSlice(res.object(t)["items"]) {
		e, _ := it.(map[string]any)
		types = append(types, str(e["type"]))
		if str(e["created_at"]) == "" {
			t.Errorf("event without created_at: %v", e)
		}
	}
	want := []string{"issued", "refreshed", "reuse_detected", "family_revoked"}
	if !slices.Equal(types, want) {
		t.Errorf("event types %v, want %v", types, want)
	}
	for _, secret := range []string{tok.Access, tok.Refresh, str(next["access_token"]), str(next["refresh_token"]), app.Secret, "pw-alice"} {
		if strings.Contains(string(res.body), secret) {
			t.Errorf("events contain a secret: %s", res.body)
		}
		for _, part := range strings.Split(secret, ".")[1:] {
			if strings.Contains(string(res.body), part) {
				t.Errorf("events contain a token signature")
			}
		}
	}
}

func parseTime(t testing.TB, v any) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, str(v))
	if err != nil {
		t.Errorf("time %v: %v", v, err)
	}
	return tm
}
