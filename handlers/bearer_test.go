package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/oauth/bearer"
)

// newProtectedAPI serves GET /reports behind v's middleware (and, when
// scope is set, RequireScope); it answers the token's subject and scope.
func newProtectedAPI(t testing.TB, v *bearer.Verifier, scope string) *httptest.Server {
	t.Helper()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := bearer.FromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s %s", c.Subject, c.ClientID, c.Scope)
	})
	if scope != "" {
		h = bearer.RequireScope(scope)(h)
	}
	api := httptest.NewServer(v.Middleware(h))
	t.Cleanup(api.Close)
	return api
}

// callAPI calls the protected API with token ("" sends no Authorization).
func callAPI(ctx context.Context, api *httptest.Server, token string) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/reports", nil)
	if err != nil {
		return 0, nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := api.Client().Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body), err
}

func wantAPI(t testing.TB, what string, api *httptest.Server, token string, status int, challenge string) string {
	t.Helper()
	got, h, body, err := callAPI(t.Context(), api, token)
	if err != nil {
		t.Fatal(err)
	}
	if got != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, got, status, body)
	}
	if challenge != "" && !strings.Contains(h.Get("WWW-Authenticate"), challenge) {
		t.Errorf("%s: WWW-Authenticate = %q, want it to contain %q", what, h.Get("WWW-Authenticate"), challenge)
	}
	return body
}

func mustVerifier(t testing.TB, opts bearer.Options) *bearer.Verifier {
	t.Helper()
	v, err := bearer.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestBearerMiddleware: the oauth/bearer middleware protects a handler with
// both token formats, puts the claims in the context, and rejects missing,
// expired, revoked (when introspected), wrong-audience and refresh tokens,
// and tokens without a required scope (RFC 6750 §3). Wrong-typ tokens are
// forged in package bearer's own tests, with a key the test holds.
func TestBearerMiddleware(t *testing.T) {
	t.Parallel()
	const aud = "https://api.example"

	t.Run("jwt", func(t *testing.T) {
		t.Parallel()
		s := newTestServer(t, withJWT(aud))
		uid := s.createUser(t, "alice", "pw-alice")
		app := s.newPasswordClient(t, "app", "client_secret_basic")
		local := mustVerifier(t, bearer.Options{Issuer: s.URL, Audience: aud, Realm: "reports"})
		api := newProtectedAPI(t, local, "")

		tok := s.login(t, app, "alice", "pw-alice", "read")
		if body := wantAPI(t, "valid jwt", api, tok.Access, http.StatusOK, ""); body != uid+" app read" {
			t.Errorf("claims seen by the handler: %q", body)
		}
		wantAPI(t, "no token", api, "", http.StatusUnauthorized, `Bearer realm="reports"`)
		wantAPI(t, "garbage", api, "a.b.c", http.StatusUnauthorized, `error="invalid_token"`)
		wantAPI(t, "refresh token", api, tok.Refresh, http.StatusUnauthorized, `error="invalid_token"`)

		later := mustVerifier(t, bearer.Options{Issuer: s.URL, Audience: aud, Now: func() time.Time { return time.Now().Add(16 * time.Minute) }})
		wantAPI(t, "expired jwt", newProtectedAPI(t, later, ""), tok.Access, http.StatusUnauthorized, `error="invalid_token"`)
		elsewhere := mustVerifier(t, bearer.Options{Issuer: s.URL, Audience: "https://elsewhere.example"})
		wantAPI(t, "wrong audience", newProtectedAPI(t, elsewhere, ""), tok.Access, http.StatusUnauthorized, `error="invalid_token"`)
		wrongIssuer := mustVerifier(t, bearer.Options{Issuer: "https://impostor.example", Audience: aud, JWKSURL: s.URL + "/.well-known/jwks.json"})
		wantAPI(t, "wrong issuer", newProtectedAPI(t, wrongIssuer, ""), tok.Access, http.StatusUnauthorized, `error="invalid_token"`)
		wantAPI(t, "insufficient scope", newProtectedAPI(t, local, "write"), tok.Access, http.StatusForbidden, `error="insufficient_scope", error_description="The access token lacks a required scope.", scope="write"`)
		wantAPI(t, "sufficient scope", newProtectedAPI(t, local, "read"), tok.Access, http.StatusOK, "")

		// Revocation: introspection sees it at once; a JWT checked locally
		// stays valid until its exp (the documented trade-off).
		introspected := mustVerifier(t, bearer.Options{Issuer: s.URL, ClientID: s.introspector.ID, ClientSecret: s.introspector.Secret})
		iapi := newProtectedAPI(t, introspected, "")
		if body := wantAPI(t, "introspected jwt", iapi, tok.Access, http.StatusOK, ""); body != uid+" app read" {
			t.Errorf("claims from introspection: %q", body)
		}
		if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {tok.Access}}); res.status != http.StatusOK {
			t.Fatalf("revoke: %s", res)
		}
		wantAPI(t, "revoked and introspected jwt", iapi, tok.Access, http.StatusUnauthorized, `error="invalid_token"`)
		wantAPI(t, "revoked jwt checked locally", api, tok.Access, http.StatusOK, "")
	})

	t.Run("opaque", func(t *testing.T) {
		t.Parallel()
		s := newTestServer(t)
		uid := s.createUser(t, "alice", "pw-alice")
		app := s.newPasswordClient(t, "app", "client_secret_basic")
		v := mustVerifier(t, bearer.Options{Issuer: s.URL, Audience: aud, ClientID: s.introspector.ID, ClientSecret: s.introspector.Secret})
		api := newProtectedAPI(t, v, "")
		cachedV := mustVerifier(t, bearer.Options{Issuer: s.URL, ClientID: s.introspector.ID, ClientSecret: s.introspector.Secret, IntrospectionCacheTTL: time.Minute})
		capi := newProtectedAPI(t, cachedV, "")

		tok := s.login(t, app, "alice", "pw-alice", "read write")
		if body := wantAPI(t, "valid opaque", api, tok.Access, http.StatusOK, ""); body != uid+" app read write" {
			t.Errorf("claims seen by the handler: %q", body)
		}
		wantAPI(t, "opaque, cached", capi, tok.Access, http.StatusOK, "")
		wantAPI(t, "refresh token as bearer", api, tok.Refresh, http.StatusUnauthorized, `error="invalid_token"`)
		wantAPI(t, "unknown opaque", api, oauth.AccessTokenPrefix+"nope.nope", http.StatusUnauthorized, `error="invalid_token"`)
		wantAPI(t, "insufficient scope", newProtectedAPI(t, v, "admin"), tok.Access, http.StatusForbidden, `error="insufficient_scope"`)

		later := mustVerifier(t, bearer.Options{Issuer: s.URL, ClientID: s.introspector.ID, ClientSecret: s.introspector.Secret,
			Now: func() time.Time { return time.Now().Add(16 * time.Minute) }})
		wantAPI(t, "expired opaque", newProtectedAPI(t, later, ""), tok.Access, http.StatusUnauthorized, `error="invalid_token"`)

		if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {tok.Access}}); res.status != http.StatusOK {
			t.Fatalf("revoke: %s", res)
		}
		wantAPI(t, "revoked and introspected", api, tok.Access, http.StatusUnauthorized, `error="invalid_token"`)
		// With a cache, a revocation takes effect when the entry ends.
		wantAPI(t, "revoked, still cached", capi, tok.Access, http.StatusOK, "")

		// The server unreachable: 503, not 401.
		down := mustVerifier(t, bearer.Options{Issuer: s.URL, ClientID: "x", ClientSecret: "y", IntrospectionURL: "http://127.0.0.1:1/introspect"})
		wantAPI(t, "server down", newProtectedAPI(t, down, ""), tok.Access, http.StatusServiceUnavailable, "")
	})
}

// TestKeyRotationUnderLoad: while workers get client_credentials tokens,
// introspect them and call an API protected by the bearer middleware, the
// signing key is rotated again and again, on this node and on another one
// sharing the database — and no request fails. Afterwards a token signed
// by the first key still verifies until it expires, and the key drops out
// of the JWKS once its publication ends and the janitor has run.
func TestKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	const aud = "https://api.example"
	clk := newFakeClock()
	s := newTestServer(t, withJWT(aud), withClock(clk))
	other := newTestServer(t, withStoreOf(s), withSecret(s.secret), withJWT(aud), withClock(clk))
	svc := s.createClient(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "reports"})
	v := mustVerifier(t, bearer.Options{Issuer: s.URL, Audience: aud, Now: clk.Now, JWKSRefreshInterval: 20 * time.Millisecond})
	api := newProtectedAPI(t, v, "reports")

	first := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}}).Access
	_, firstKid := verifyJWT(t, s.fetchJWKS(t), first)
	wantAPI(t, "first token", api, first, http.StatusOK, "")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var requests, failures atomic.Int64
	var failMu sync.Mutex
	var failed []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(failed) < 10 {
			failed = append(failed, fmt.Sprintf(format, args...))
		}
	}
	httpc := s.srv.Client()
	post := func(path string, c client, form url.Values) (map[string]any, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		res, err := httpc.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %d %v", path, res.StatusCode, m)
		}
		return m, nil
	}

	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for ctx.Err() == nil {
				requests.Add(1)
				m, err := post("/oauth2/token", svc, url.Values{"grant_type": {"client_credentials"}})
				if err != nil {
					if ctx.Err() == nil {
						fail("token: %v", err)
					}
					continue
				}
				tok := str(m["access_token"])
				in, err := post("/oauth2/introspect", s.introspector, url.Values{"token": {tok}})
				if err != nil && ctx.Err() == nil {
					fail("introspect: %v", err)
				} else if err == nil && in["active"] != true {
					fail("introspect: %v", in)
				}
				status, _, body, err := callAPI(ctx, api, tok)
				if err != nil && ctx.Err() == nil {
					fail("api: %v", err)
				} else if err == nil && status != http.StatusOK {
					fail("api: %d %s", status, body)
				}
			}
		})
	}
	// Rotate six times, alternately on this node and on the other, and
	// with both algorithms.
	for i := range 6 {
		time.Sleep(150 * time.Millisecond)
		node := s
		if i%2 == 1 {
			node = other
		}
		alg := oauth.AlgES256
		if i%3 == 2 {
			alg = oauth.AlgRS256
		}
		if _, err := node.provider.RotateSigningKey(t.Context(), alg); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	time.Sleep(150 * time.Millisecond)
	cancel()
	wg.Wait()
	if failures.Load() > 0 || requests.Load() < 12 {
		t.Fatalf("%d of %d request rounds failed during rotation: %v", failures.Load(), requests.Load(), failed)
	}
	t.Logf("%d request rounds across 6 rotations, none failed", requests.Load())

	// The first key is retired but published until its tokens expire.
	clk.Advance(14 * time.Minute)
	if set := s.fetchJWKS(t); len(set.Key(firstKid)) != 1 {
		t.Fatal("the first key left the JWKS before its token expired")
	} else {
		verifyJWT(t, set, first)
	}
	if _, err := v.Verify(t.Context(), first); err != nil {
		t.Errorf("oauth/bearer on the first token after six rotations: %v", err)
	}
	wantAPI(t, "first token after six rotations", api, first, http.StatusOK, "")
	s.wantActive(t, "first token after six rotations", first)

	// Past AccessTokenTTL plus the margin, the janitor removes the retired
	// keys; the current one stays and signs.
	clk.Advance(3 * time.Minute)
	n, err := s.provider.Purge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n.Keys < 6 {
		t.Errorf("janitor removed %d keys, want the 6 retired ones", n.Keys)
	}
	set := s.fetchJWKS(t)
	if len(set.Key(firstKid)) != 0 || len(set.Keys) != 1 {
		t.Errorf("jwks after expiry has %d keys (first key present: %t), want only the current one", len(set.Keys), len(set.Key(firstKid)) > 0)
	}
	wantAPI(t, "expired first token", api, first, http.StatusUnauthorized, `error="invalid_token"`)
	fresh := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}}).Access
	verifyJWT(t, set, fresh)
	wantAPI(t, "fresh token", api, fresh, http.StatusOK, "")
}
