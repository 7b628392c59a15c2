package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTokenRequestErrors covers the malformed and refused requests of the
// token endpoint: each answers its RFC 6749 §5.2 code and status, in JSON,
// with the cache headers of a token response. A wrong password and an
// unknown user answer the same bytes, and a client without the
// refresh_token grant gets no refresh token.
func TestTokenRequestErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	postApp := s.newPasswordClient(t, "app-post", "client_secret_post")
	ccOnly := s.createClient(t, map[string]any{"client_id": "cc-only", "grant_types": []string{"client_credentials"}})
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-alice"}}

	raw := func(t *testing.T, method, contentType, body string, c client) response {
		req, err := http.NewRequestWithContext(t.Context(), method, s.URL+"/oauth2/token", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if c.ID != "" {
			req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		}
		return s.do(t, req)
	}

	for _, tc := range []struct {
		name   string
		send   func(t *testing.T) response
		status int
		code   string
	}{
		{"missing grant_type", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", app, url.Values{"username": {"alice"}, "password": {"pw-alice"}})
		}, 400, "invalid_request"},
		{"unknown grant_type", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"authorization_code"}, "code": {"x"}})
		}, 400, "unsupported_grant_type"},
		{"JSON body", func(t *testing.T) response {
			return raw(t, http.MethodPost, "application/json", `{"grant_type":"password","username":"alice","password":"pw-alice"}`, app)
		}, 400, "invalid_request"},
		{"no content type", func(t *testing.T) response {
			return raw(t, http.MethodPost, "", pw.Encode(), app)
		}, 400, "invalid_request"},
		{"repeated grant_type", func(t *testing.T) response {
			return raw(t, http.MethodPost, "application/x-www-form-urlencoded", "grant_type=password&grant_type=password&username=alice&password=pw-alice", app)
		}, 400, "invalid_request"},
		{"repeated scope", func(t *testing.T) response {
			return raw(t, http.MethodPost, "application/x-www-form-urlencoded", "grant_type=password&username=alice&password=pw-alice&scope=read&scope=write", app)
		}, 400, "invalid_request"},
		{"unknown client by Basic", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{ID: "nobody", Secret: "x", AuthMethod: "client_secret_basic"}, pw)
		}, 401, "invalid_client"},
		{"wrong secret by Basic", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{ID: app.ID, Secret: "wrong", AuthMethod: "client_secret_basic"}, pw)
		}, 401, "invalid_client"},
		{"unknown client by post", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{ID: "nobody", Secret: "x", AuthMethod: "client_secret_post"}, pw)
		}, 401, "invalid_client"},
		{"wrong secret by post", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{ID: postApp.ID, Secret: "wrong", AuthMethod: "client_secret_post"}, pw)
		}, 401, "invalid_client"},
		{"no client authentication", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{}, pw)
		}, 401, "invalid_client"},
		{"Basic client using post", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", client{ID: app.ID, Secret: app.Secret, AuthMethod: "client_secret_post"}, pw)
		}, 401, "invalid_client"},
		{"client without the password grant", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", ccOnly, pw)
		}, 400, "unauthorized_client"},
		{"client without the refresh_token grant refreshing", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", ccOnly, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"latch_rt_x.y"}})
		}, 400, "unauthorized_client"},
		{"client without client_credentials", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"client_credentials"}})
		}, 400, "unauthorized_client"},
		{"scope not allowed", func(t *testing.T) response {
			f := url.Values{"scope": {"read admin"}}
			for k, v := range pw {
				f[k] = v
			}
			return s.post(t, "/oauth2/token", app, f)
		}, 400, "invalid_scope"},
		{"client_credentials scope not allowed", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", ccOnly, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
		}, 400, "invalid_scope"},
		{"missing password", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"password"}, "username": {"alice"}})
		}, 400, "invalid_request"},
		{"missing refresh_token", func(t *testing.T) response {
			return s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"refresh_token"}})
		}, 400, "invalid_request"},
		{"garbage refresh token", func(t *testing.T) response {
			return s.refresh(t, app, "garbage", "")
		}, 400, "invalid_grant"},
		{"forged refresh token", func(t *testing.T) response {
			return s.refresh(t, app, "latch_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "")
		}, 400, "invalid_grant"},
		{"access token as refresh token", func(t *testing.T) response {
			tok := s.post(t, "/oauth2/token", s.introspector, url.Values{"grant_type": {"client_credentials"}}).object(t)
			return s.refresh(t, app, "latch_rt_"+strings.TrimPrefix(str(tok["access_token"]), "latch_at_"), "")
		}, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.send(t)
			wantOAuthError(t, tc.name, res, tc.status, tc.code)
			checkNoStore(t, res)
		})
	}

	t.Run("GET", func(t *testing.T) {
		res := raw(t, http.MethodGet, "", "", app)
		if res.status < 400 || res.status >= 500 {
			t.Errorf("GET /oauth2/token: status %d, want 4xx", res.status)
		}
	})

	t.Run("wrong password and unknown user alike", func(t *testing.T) {
		wrong := s.post(t, "/oauth2/token", app, pwForm("alice", "nope"))
		unknown := s.post(t, "/oauth2/token", app, pwForm("nobody", "nope"))
		wantOAuthError(t, "wrong password", wrong, 400, "invalid_grant")
		wantOAuthError(t, "unknown user", unknown, 400, "invalid_grant")
		if wrong.status != unknown.status || !bytes.Equal(wrong.body, unknown.body) {
			t.Errorf("wrong password and unknown user differ:\n%s\n%s", wrong, unknown)
		}
		checkNoStore(t, wrong)
	})

	t.Run("no refresh token without the refresh_token grant", func(t *testing.T) {
		noRefresh := s.createClient(t, map[string]any{"client_id": "no-refresh", "grant_types": []string{"password"}, "scope": "read"})
		tok := s.login(t, noRefresh, "alice", "pw-alice", "")
		if _, ok := tok.Raw["refresh_token"]; ok {
			t.Errorf("client without refresh_token grant got a refresh token: %v", tok.Raw)
		}
		if !strings.HasPrefix(tok.Access, "latch_at_") {
			t.Errorf("access token %q", tok.Access)
		}
	})
}

// TestClientAuthentication runs the same requests against the token,
// revocation and introspection endpoints, which share one client
// authentication. A request uses one method with one client identity (RFC
// 6749 §2.3): a second method, a conflicting client_id or a second
// Authorization header is invalid_request (§5.2). Basic credentials that are
// malformed in any way, undecodable form-url-encoding included, are a
// failed authentication like a wrong secret. Every failed authentication
// answers the same bytes, so that nobody without a secret learns whether a
// client exists or how it authenticates.
func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	basic := s.introspector // client_secret_basic, client_credentials, can_introspect
	post := s.createClient(t, map[string]any{
		"client_id": "rs-post", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_post", "can_introspect": true,
	})
	public := s.newPasswordClient(t, "spa", "none")
	// A form with each endpoint's own parameters, which all three would
	// answer 200 to after a successful client authentication.
	endpoints := []struct {
		path string
		form url.Values
	}{
		{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth2/revoke", url.Values{"token": {"garbage"}}},
		{"/oauth2/introspect", url.Values{"token": {"garbage"}}},
	}
	jwtBearer := "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	cases := []struct {
		name   string
		auth   []string   // Authorization header values
		form   url.Values // client parameters, added to the endpoint's
		status int
		code   string // "" for 200
	}{
		{"Basic", []string{basicAuth(basic.ID, basic.Secret)}, nil, 200, ""},
		// Many clients send their id in the form as well.
		{"Basic and the same client_id", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_id": {basic.ID}}, 200, ""},
		{"post", nil, url.Values{"client_id": {post.ID}, "client_secret": {post.Secret}}, 200, ""},

		// RFC 6749 §2.3: one method per request.
		{"Basic and client_secret", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_id": {basic.ID}, "client_secret": {basic.Secret}}, 400, "invalid_request"},
		{"Basic and client_secret without client_id", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_secret": {basic.Secret}}, 400, "invalid_request"},
		{"Basic and an empty client_secret", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_secret": {""}}, 400, "invalid_request"},
		{"Basic of one client and post of another", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_id": {post.ID}, "client_secret": {post.Secret}}, 400, "invalid_request"},
		{"Basic and a client assertion", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_assertion_type": {jwtBearer}, "client_assertion": {"x.y.z"}}, 400, "invalid_request"},
		{"malformed Basic and post", []string{"Basic !!!"}, url.Values{"client_id": {post.ID}, "client_secret": {post.Secret}}, 400, "invalid_request"},
		// One client identity per request.
		{"Basic and another client_id", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_id": {post.ID}}, 400, "invalid_request"},
		{"Basic and an empty client_id", []string{basicAuth(basic.ID, basic.Secret)}, url.Values{"client_id": {""}}, 400, "invalid_request"},
		{"two Authorization headers", []string{basicAuth(basic.ID, basic.Secret), basicAuth(post.ID, post.Secret)}, nil, 400, "invalid_request"},
		{"the same Authorization header twice", []string{basicAuth(basic.ID, basic.Secret), basicAuth(basic.ID, basic.Secret)}, nil, 400, "invalid_request"},

		// Failed authentication: 401 with WWW-Authenticate, all alike.
		{"Basic not Base64", []string{"Basic !!!"}, nil, 401, "invalid_client"},
		{"Basic without a colon", []string{rawBasic(basic.ID)}, nil, 401, "invalid_client"},
		{"Basic without credentials", []string{"Basic"}, nil, 401, "invalid_client"},
		{"Basic id not form-url-encoded", []string{rawBasic("a%zz:" + basic.Secret)}, nil, 401, "invalid_client"},
		{"Basic secret not form-url-encoded", []string{rawBasic(basic.ID + ":b%c+d:s:e%c+r t")}, nil, 401, "invalid_client"},
		{"malformed Basic beside a client_id", []string{"Basic !!!"}, url.Values{"client_id": {public.ID}}, 401, "invalid_client"},
		{"unknown client by Basic", []string{basicAuth("nobody", "x")}, nil, 401, "invalid_client"},
		{"wrong secret by Basic", []string{basicAuth(basic.ID, "wrong")}, nil, 401, "invalid_client"},
		{"unknown client by post", nil, url.Values{"client_id": {"nobody"}, "client_secret": {"x"}}, 401, "invalid_client"},
		{"wrong secret by post", nil, url.Values{"client_id": {post.ID}, "client_secret": {"wrong"}}, 401, "invalid_client"},
		{"Basic client by post with a wrong secret", nil, url.Values{"client_id": {basic.ID}, "client_secret": {"wrong"}}, 401, "invalid_client"},
		{"Basic client by post", nil, url.Values{"client_id": {basic.ID}, "client_secret": {basic.Secret}}, 401, "invalid_client"},
		{"post client by Basic", []string{basicAuth(post.ID, post.Secret)}, nil, 401, "invalid_client"},
		{"confidential client without a secret", nil, url.Values{"client_id": {basic.ID}}, 401, "invalid_client"},
		{"no client authentication", nil, nil, 401, "invalid_client"},
	}

	for _, ep := range endpoints {
		t.Run(strings.TrimPrefix(ep.path, "/oauth2/"), func(t *testing.T) {
			t.Parallel()
			var refused []response
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					form := url.Values{}
					for _, f := range []url.Values{ep.form, tc.form} {
						for k, v := range f {
							form[k] = v
						}
					}
					res := s.postAuth(t, ep.path, tc.auth, form)
					if tc.code == "" {
						if res.status != http.StatusOK {
							t.Fatalf("got %s, want 200", res)
						}
						return
					}
					wantOAuthError(t, tc.name, res, tc.status, tc.code)
					if res.status == http.StatusUnauthorized {
						if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
							t.Errorf("WWW-Authenticate = %q, want Basic", got)
						}
						refused = append(refused, res)
					}
				})
			}
			for _, res := range refused {
				if !bytes.Equal(res.body, refused[0].body) {
					t.Errorf("failed authentications answer differently:\n%s\n%s", refused[0], res)
				}
			}
		})
	}

	// What the client is not told, the operator is.
	t.Run("the log says why", func(t *testing.T) {
		res := s.postAuth(t, "/oauth2/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {basic.ID}, "client_secret": {basic.Secret}})
		wantOAuthError(t, "Basic client by post", res, 401, "invalid_client")
		found := slices.ContainsFunc(strings.Split(s.logs.String(), "\n"), func(line string) bool {
			return strings.Contains(line, `"invalid_client"`) && strings.Contains(line, basic.ID) && strings.Contains(line, "'client_secret_basic'")
		})
		if !found {
			t.Errorf("no invalid_client log line names the client and the method it should have used")
		}
	})
}

// TestRefreshScopes: a refresh may narrow the new access token's scope while
// the login keeps its full scope; a wider scope is invalid_scope and does
// not spend the token; another client's token is invalid_grant and harms
// nothing.
func TestRefreshScopes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	s.createUser(t, "dave", "pw-dave")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	other := s.newPasswordClient(t, "other", "client_secret_basic")
	tok := s.login(t, app, "dave", "pw-dave", "")
	if tok.Scope != "read write" {
		t.Fatalf("scope = %q", tok.Scope)
	}

	// Wider than the login: refused, and the token is not spent.
	res := s.refresh(t, app, tok.Refresh, "read write admin")
	wantOAuthError(t, "wider scope", res, 400, "invalid_scope")
	checkNoStore(t, res)

	// Another client's refresh token: refused, and nothing is harmed.
	wantOAuthError(t, "another client's token", s.refresh(t, other, tok.Refresh, ""), 400, "invalid_grant")
	s.wantActive(t, "access token after another client's attempt", tok.Access)

	// Narrower: the new access token has only "read"; the login keeps both.
	res = s.refresh(t, app, tok.Refresh, "read")
	if res.status != 200 {
		t.Fatalf("narrower refresh: %s (the wider or foreign attempt spent the token?)", res)
	}
	checkNoStore(t, res)
	m := res.object(t)
	if m["scope"] != "read" {
		t.Errorf("narrower refresh: scope = %v, want read", m["scope"])
	}
	in := s.wantActive(t, "narrow access token", str(m["access_token"]))
	if in["scope"] != "read" {
		t.Errorf("narrow access token introspects scope %v", in["scope"])
	}
	rt := str(m["refresh_token"])
	if rt == "" || rt == tok.Refresh {
		t.Fatalf("narrower refresh did not rotate: %v", m)
	}
	if in := s.wantActive(t, "new refresh token", rt); in["scope"] != "read write" {
		t.Errorf("new refresh token scope %v, want the login's read write", in["scope"])
	}

	// The full scope is still there.
	res = s.refresh(t, app, rt, "read write")
	if res.status != 200 {
		t.Fatalf("full-scope refresh after a narrow one: %s", res)
	}
	if m := res.object(t); m["scope"] != "read write" {
		t.Errorf("scope = %v, want read write", m["scope"])
	}
}

// TestLoginLifetimes: a login ends at SessionMaxAge however often it is
// refreshed, access tokens never outlive it, an idle refresh token expires
// after RefreshTokenTTL, and a retry within LATCH_REFRESH_GRACE gets the
// same response.
func TestLoginLifetimes(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newTestServer(t, withGrace(10*time.Second), withClock(clk), withLifetimes(15*time.Minute, 20*time.Minute, time.Hour))
	s.createUser(t, "frank", "pw-frank")
	app := s.newPasswordClient(t, "app", "client_secret_post")

	t.Run("max age", func(t *testing.T) {
		tok := s.login(t, app, "frank", "pw-frank", "")
		rt := tok.Refresh
		for range 3 { // 3 × 16 min, each within the idle TTL
			clk.Advance(16 * time.Minute)
			res := s.refresh(t, app, rt, "")
			if res.status != 200 {
				t.Fatalf("refresh: %s", res)
			}
			m := res.object(t)
			rt = str(m["refresh_token"])
			if exp, _ := m["expires_in"].(float64); exp > 15*60 {
				t.Errorf("expires_in = %v", exp)
			}
			tok.Access = str(m["access_token"])
		}
		// 48 minutes in: the access token is capped at the login's end.
		in := s.wantActive(t, "access token near the end", tok.Access)
		exp, _ := in["exp"].(float64)
		iat, _ := in["iat"].(float64)
		if exp-iat > 12*60+1 {
			t.Errorf("access token outlives its login: exp-iat = %v s, want <= 720", exp-iat)
		}
		clk.Advance(13 * time.Minute) // 61 minutes
		s.wantRefreshDead(t, "refresh past the login's max age", app, rt)
		s.wantInactive(t, "refresh token past max age", rt)
	})

	t.Run("idle refresh token", func(t *testing.T) {
		tok := s.login(t, app, "frank", "pw-frank", "")
		clk.Advance(21 * time.Minute)
		s.wantInactive(t, "idle refresh token", tok.Refresh)
		s.wantInactive(t, "expired access token", tok.Access)
		s.wantRefreshDead(t, "idle refresh token", app, tok.Refresh)
	})
	// Within LATCH_REFRESH_GRACE a spent refresh token presented again by its
	// client gets the very same response; after the window it is reuse.
	t.Run("grace", func(t *testing.T) {
		tok := s.login(t, app, "frank", "pw-frank", "")

		first := s.refresh(t, app, tok.Refresh, "")
		if first.status != 200 {
			t.Fatalf("first refresh: %s", first)
		}
		clk.Advance(2 * time.Second)
		again := s.refresh(t, app, tok.Refresh, "")
		if again.status != 200 {
			t.Fatalf("retry within the grace window: %s, want 200 with the same tokens", again)
		}
		a, b := first.object(t), again.object(t)
		if a["access_token"] != b["access_token"] || a["refresh_token"] != b["refresh_token"] {
			t.Errorf("retry within grace got other tokens:\n%v\n%v", a, b)
		}
		s.wantActive(t, "rotated refresh token after the retry", str(a["refresh_token"]))

		clk.Advance(10 * time.Second)
		wantOAuthError(t, "reuse after the grace window", s.refresh(t, app, tok.Refresh, ""), 400, "invalid_grant")
		s.wantLoginDead(t, "after reuse past grace", app, tokens{Access: str(a["access_token"]), Refresh: str(a["refresh_token"])})
	})
}

// TestLoginLockout: after LATCH_LOGIN_MAX_FAILURES (default 5) failed
// password grants for one username, further attempts are refused without
// checking the password, with Retry-After, and parallel guesses cannot slip
// past the limit (API.md). oauth.Config has no setting for the limits, so
// this relies on the default of 5.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "gina", "pw-gina")
	app := s.newPasswordClient(t, "app", "client_secret_basic")

	const n = 8
	var wg sync.WaitGroup
	results := make([]response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.post(t, "/oauth2/token", app, pwForm("gina", "wrong"))
		}()
	}
	close(start)
	wg.Wait()
	checked := 0
	for _, r := range results {
		if r.status == http.StatusOK || r.status >= 500 {
			t.Errorf("parallel guess: %s", r)
		}
		// Refused in the race or after it: the lockout's full 15 minutes
		// (less what this test has taken) either way.
		ra := r.header.Get("Retry-After")
		if ra == "" {
			checked++
		} else if secs, err := strconv.Atoi(ra); err != nil || secs < 890 || secs > 900 {
			t.Errorf("parallel guess refused with Retry-After %q, want 890-900 seconds", ra)
		}
	}
	if checked > 5 {
		t.Errorf("%d of %d parallel wrong guesses were checked (no Retry-After), want at most 5", checked, n)
	}

	res := s.post(t, "/oauth2/token", app, pwForm("gina", "pw-gina"))
	if res.status == http.StatusOK {
		t.Fatalf("the right password got through after %d failures", n)
	}
	if res.header.Get("Retry-After") == "" {
		t.Errorf("locked-out answer %s has no Retry-After", res)
	}
	if m := res.object(t); str(m["error"]) == "" {
		t.Errorf("locked-out answer %s is not an OAuth2 error", res)
	}
}

// TestLoginLockoutRetryAfter: Retry-After says, in whole seconds rounded
// up, what is left of the lockout (LATCH_LOGIN_LOCKOUT, default 15m, after
// the last failure counted), and a client that waits that long gets in.
func TestLoginLockoutRetryAfter(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newTestServer(t, withClock(clk))
	s.createUser(t, "hana", "pw-hana")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	for range 5 {
		if res := s.post(t, "/oauth2/token", app, pwForm("hana", "wrong")); res.status != http.StatusBadRequest {
			t.Fatalf("failure: %s", res)
		}
	}
	clk.Advance(10*time.Minute + 999500*time.Microsecond)
	res := s.post(t, "/oauth2/token", app, pwForm("hana", "pw-hana"))
	if res.status != http.StatusBadRequest || res.header.Get("Retry-After") != "300" {
		t.Fatalf("locked out 4m59.0005s more: %s with Retry-After %q, want 400 and 300", res, res.header.Get("Retry-After"))
	}
	clk.Advance(300 * time.Second)
	if res := s.post(t, "/oauth2/token", app, pwForm("hana", "pw-hana")); res.status != http.StatusOK {
		t.Fatalf("after waiting Retry-After: %s", res)
	}
}
