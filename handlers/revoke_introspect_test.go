package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRevocation covers RFC 7009 as API.md sharpens it: revoking either
// token of a login ends the whole login; unknown and garbage tokens answer
// 200; another client's token is refused and stays active.
func TestRevocation(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	other := s.newPasswordClient(t, "other", "client_secret_post")
	spa := s.newPasswordClient(t, "spa", "none")

	revoke := func(t *testing.T, c client, token string) response {
		t.Helper()
		form := url.Values{}
		if token != "" {
			form.Set("token", token)
		}
		return s.post(t, "/oauth2/revoke", c, form)
	}
	want200 := func(t *testing.T, what string, res response) {
		t.Helper()
		if res.status != http.StatusOK {
			t.Errorf("%s: %s, want 200", what, res)
		}
	}

	t.Run("refresh token ends the login", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		want200(t, "revoke", revoke(t, app, tok.Refresh))
		s.wantLoginDead(t, "after revoking the refresh token", app, tok)
		want200(t, "revoke again", revoke(t, app, tok.Refresh))
		want200(t, "revoke its access token", revoke(t, app, tok.Access))
	})

	t.Run("access token ends the login", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		want200(t, "revoke", revoke(t, app, tok.Access))
		s.wantLoginDead(t, "after revoking the access token", app, tok)
	})

	t.Run("rotated login", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		res := s.refresh(t, app, tok.Refresh, "")
		if res.status != 200 {
			t.Fatalf("refresh: %s", res)
		}
		m := res.object(t)
		want200(t, "revoke the first access token", revoke(t, app, tok.Access))
		s.wantLoginDead(t, "newest tokens after revoking an old one", app, tokens{Access: str(m["access_token"]), Refresh: str(m["refresh_token"])})
	})

	t.Run("unknown and garbage tokens", func(t *testing.T) {
		for _, tok := range []string{"garbage", "latch_at_nope.nope", "latch_rt_AAAA.BBBB", strings.Repeat("x", 2000)} {
			want200(t, "revoke "+tok[:min(len(tok), 20)], revoke(t, app, tok))
		}
	})

	t.Run("another client's token", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		for _, tt := range []string{tok.Access, tok.Refresh} {
			wantOAuthError(t, "another client", revoke(t, other, tt), http.StatusBadRequest, "unauthorized_client")
		}
		res := revoke(t, client{ID: app.ID, Secret: "wrong", AuthMethod: "client_secret_basic"}, tok.Access)
		wantOAuthError(t, "wrong secret", res, http.StatusUnauthorized, "invalid_client")
		s.wantActive(t, "access token after a foreign revocation", tok.Access)
		if res := s.refresh(t, app, tok.Refresh, ""); res.status != 200 {
			t.Errorf("refresh after a foreign revocation: %s", res)
		}
	})

	t.Run("missing token", func(t *testing.T) {
		wantOAuthError(t, "missing token", revoke(t, app, ""), http.StatusBadRequest, "invalid_request")
	})

	t.Run("public client", func(t *testing.T) {
		tok := s.login(t, spa, "alice", "pw-alice", "")
		want200(t, "public revoke", revoke(t, spa, tok.Refresh))
		s.wantLoginDead(t, "public client's login", spa, tok)
	})
}

// TestIntrospection: only confidential clients with can_introspect may ask
// (failed authentication is 401 with WWW-Authenticate, all alike); active
// answers carry RFC 7662's fields and inactive ones are exactly
// {"active": false}.
func TestIntrospection(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	postIntro := s.createClient(t, map[string]any{
		"client_id": "rs-post", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_post", "can_introspect": true,
	})
	plain := s.createClient(t, map[string]any{"client_id": "plain", "grant_types": []string{"client_credentials"}})
	public := s.newPasswordClient(t, "spa", "none")
	tok := s.tokenOK(t, plain, url.Values{"grant_type": {"client_credentials"}})

	ask := func(t *testing.T, c client) response {
		return s.post(t, "/oauth2/introspect", c, url.Values{"token": {tok.Access}})
	}
	// Every refused authentication answers the same bytes, a public
	// client's included: nothing tells a caller without a secret what the
	// client it named is.
	var refused []response
	for _, tc := range []struct {
		name   string
		c      client
		status int
		code   string
	}{
		{"public client", public, http.StatusUnauthorized, "invalid_client"},
		{"public client claiming can_introspect's id", client{ID: s.introspector.ID, AuthMethod: "none"}, http.StatusUnauthorized, "invalid_client"},
		{"confidential without can_introspect", plain, http.StatusForbidden, ""},
		{"wrong secret by Basic", client{ID: s.introspector.ID, Secret: "wrong", AuthMethod: "client_secret_basic"}, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret by post", client{ID: postIntro.ID, Secret: "wrong", AuthMethod: "client_secret_post"}, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", client{ID: "nobody", Secret: "x", AuthMethod: "client_secret_basic"}, http.StatusUnauthorized, "invalid_client"},
		{"no authentication", client{}, http.StatusUnauthorized, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ask(t, tc.c)
			if tc.code == "" {
				if res.status != tc.status {
					t.Errorf("status %d, want %d (%s)", res.status, tc.status, res.body)
				}
				if m := res.object(t); m["active"] != nil || str(m["error"]) == "" {
					t.Errorf("403 answer should be an error, got %s", res.body)
				}
				return
			}
			wantOAuthError(t, tc.name, res, tc.status, tc.code)
			if strings.Contains(string(res.body), `"active"`) {
				t.Errorf("refused caller learned about the token: %s", res.body)
			}
			if res.status == http.StatusUnauthorized {
				refused = append(refused, res)
			}
		})
	}
	for _, res := range refused {
		if !bytes.Equal(res.body, refused[0].body) {
			t.Errorf("refused authentications answer differently:\n%s\n%s", refused[0], res)
		}
	}

	for _, c := range []client{s.introspector, postIntro} {
		t.Run("caller "+c.AuthMethod, func(t *testing.T) {
			res := ask(t, c)
			if res.status != 200 {
				t.Fatalf("introspect: %s", res)
			}
			checkNoStore(t, res)
			if m := res.object(t); m["active"] != true {
				t.Errorf("answer %v", m)
			}
		})
	}

	t.Run("missing token", func(t *testing.T) {
		res := s.post(t, "/oauth2/introspect", s.introspector, nil)
		wantOAuthError(t, "missing token", res, http.StatusBadRequest, "invalid_request")
	})

	t.Run("answers", func(t *testing.T) { introspectionAnswers(t, s) })
}

// introspectionAnswers checks the fields of active answers and that
// every inactive answer is exactly {"active": false}.
func introspectionAnswers(t *testing.T, s *testServer) {
	uid := s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	svc := s.createClient(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "jobs"})

	before := time.Now().Unix()
	tok := s.login(t, app, "alice", "pw-alice", "read")
	in := s.wantActive(t, "user access token", tok.Access)
	for k, want := range map[string]any{
		"active": true, "scope": "read", "client_id": "app", "iss": s.URL, "sub": uid, "username": "alice",
	} {
		if in[k] != want {
			t.Errorf("%s = %v, want %v (answer %v)", k, in[k], want, in)
		}
	}
	if tt := str(in["token_type"]); tt != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", tt)
	}
	iat, _ := in["iat"].(float64)
	exp, _ := in["exp"].(float64)
	if int64(iat) < before-1 || int64(iat) > time.Now().Unix()+1 {
		t.Errorf("iat = %v", in["iat"])
	}
	if exp-iat < 890 || exp-iat > 900 {
		t.Errorf("exp - iat = %v, want 900", exp-iat)
	}
	if str(in["jti"]) == "" {
		t.Errorf("no jti: %v", in)
	}
	if strings.Contains(str(in["jti"]), strings.Split(tok.Access, ".")[1]) {
		t.Errorf("jti leaks the token's signature")
	}

	rin := s.wantActive(t, "user refresh token", tok.Refresh)
	if rin["sub"] != uid || rin["client_id"] != "app" || rin["jti"] == in["jti"] {
		t.Errorf("refresh token answer %v", rin)
	}

	cc := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}})
	cin := s.wantActive(t, "client_credentials token", cc.Access)
	for _, k := range []string{"active", "scope", "client_id", "token_type", "exp", "iat", "iss", "jti"} {
		if _, ok := cin[k]; !ok {
			t.Errorf("client_credentials answer lacks %q: %v", k, cin)
		}
	}
	for _, k := range []string{"sub", "username"} {
		if _, ok := cin[k]; ok {
			t.Errorf("client_credentials answer has %q: %v", k, cin)
		}
	}

	// Inactive, for every reason.
	res := s.refresh(t, app, tok.Refresh, "")
	if res.status != 200 {
		t.Fatalf("refresh: %s", res)
	}
	rotated := res.object(t)
	s.wantInactive(t, "spent refresh token", tok.Refresh)
	s.wantActive(t, "access token of the rotated login", str(rotated["access_token"]))

	revoked := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}})
	if res := s.post(t, "/oauth2/revoke", svc, url.Values{"token": {revoked.Access}}); res.status != 200 {
		t.Fatalf("revoke: %s", res)
	}
	for _, tc := range []struct{ name, token string }{
		{"garbage", "garbage"},
		{"empty prefix", "latch_at_"},
		{"unknown", "latch_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"tampered", tok.Access[:len(tok.Access)-2] + flip(tok.Access[len(tok.Access)-2:])},
		{"wrong prefix", "latch_rt_" + strings.TrimPrefix(cc.Access, "latch_at_")},
		{"revoked", revoked.Access},
		{"rotated", tok.Refresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post(t, "/oauth2/introspect", s.introspector, url.Values{"token": {tc.token}})
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			m := res.object(t)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			if !slices.Equal(keys, []string{"active"}) || m["active"] != false {
				t.Errorf("answer %s, want exactly {\"active\":false}", res.body)
			}
		})
	}
}

func flip(s string) string {
	if s == "AA" {
		return "BB"
	}
	return "AA"
}

// TestTwoNodesAndRetiredSecret: two nodes on one database; the second runs
// with a new secret and the first one's as LATCH_SECRET_OLD. Tokens issued
// by the first keep working on the second, and what one node ends is ended
// on the other from the moment the call returns (API.md).
func TestTwoNodesAndRetiredSecret(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := make([]byte, 32), make([]byte, 32)
	for i := range oldSecret {
		oldSecret[i], newSecret[i] = byte(i), byte(100+i)
	}
	a := newTestServer(t, withGrace(0), withSecret(oldSecret))
	app := a.newPasswordClient(t, "app", "client_secret_basic")
	a.createUser(t, "alice", "pw-alice")
	tok := a.login(t, app, "alice", "pw-alice", "")

	b := newTestServer(t, withGrace(0), withStoreOf(a), withSecret(newSecret, oldSecret))
	b.introspector = a.introspector
	b.wantActive(t, "old-secret access token on the new node", tok.Access)
	res := b.refresh(t, app, tok.Refresh, "")
	if res.status != 200 {
		t.Fatalf("old-secret refresh token on the new node: %s", res)
	}
	m := res.object(t)
	next := tokens{Access: str(m["access_token"]), Refresh: str(m["refresh_token"])}

	// Reuse on node A ends the login on node B.
	a.wantRefreshDead(t, "reuse on the other node", app, tok.Refresh)
	b.wantLoginDead(t, "login ended by the other node", app, next)

	// A node without the old secret does not accept its tokens.
	tok2 := b.login(t, app, "alice", "pw-alice", "")
	c := newTestServer(t, withStoreOf(a), withSecret(make([]byte, 32)))
	c.introspector = a.introspector
	c.wantInactive(t, "token under an unknown secret", tok2.Access)
	wantOAuthError(t, "refresh under an unknown secret", c.refresh(t, app, tok2.Refresh, ""), 400, "invalid_grant")
	b.wantActive(t, "token on its own node", tok2.Access)
}
