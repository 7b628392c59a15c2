package bearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/oauth/bearer"
)

// fakeServer is an authorization server the test controls: metadata and a
// JWKS with keys the test holds, so it can forge any token.
type fakeServer struct {
	*httptest.Server
	mux        *http.ServeMux // more routes may be added before use
	keys       atomic.Pointer[jose.JSONWebKeySet]
	jwksHits   atomic.Int64
	signingKey *ecdsa.PrivateKey
	kid        string
}

func newFakeServer(t testing.TB) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": fs.URL, "jwks_uri": fs.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		fs.jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(fs.keys.Load())
	})
	fs.Server, fs.mux = httptest.NewServer(mux), mux
	t.Cleanup(fs.Close)
	fs.rotate(t)
	return fs
}

// rotate publishes a new key (keeping the old ones) and signs with it.
func (fs *fakeServer) rotate(t testing.TB) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fs.signingKey, fs.kid = k, "kid-"+time.Now().Format("150405.000000000")
	set := &jose.JSONWebKeySet{}
	if old := fs.keys.Load(); old != nil {
		set.Keys = append(set.Keys, old.Keys...)
	}
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: fs.kid, Algorithm: "ES256", Use: "sig"})
	fs.keys.Store(set)
}

// sign makes a token with the given typ and claims (nil typ: no typ).
func (fs *fakeServer) sign(t testing.TB, typ any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", fs.kid)
	if typ != nil {
		opts = opts.WithType(jose.ContentType(typ.(string)))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: fs.signingKey}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (fs *fakeServer) claims(aud any, exp time.Time) map[string]any {
	return map[string]any{
		"iss": fs.URL, "sub": "user-1", "aud": aud, "client_id": "app", "scope": "read",
		"jti": "j1", "iat": time.Now().Unix(), "exp": exp.Unix(),
	}
}

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	v, err := bearer.New(bearer.Options{Issuer: fs.URL, Audience: "https://api.example", Leeway: -1})
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(time.Hour)
	good := fs.sign(t, "at+jwt", fs.claims([]string{"https://api.example"}, hour))
	c, err := v.Verify(t.Context(), good)
	if err != nil {
		t.Fatalf("good token: %v", err)
	}
	if c.Subject != "user-1" || c.ClientID != "app" || !c.HasScope("read") || c.Introspected || c.ExpiresAt.Unix() != hour.Unix() {
		t.Errorf("claims = %+v", c)
	}
	nbf := fs.claims("https://api.example", hour)
	nbf["nbf"] = time.Now().Add(time.Minute).Unix()
	// A DPoP-bound token (RFC 9449 §6.1) is no bearer token.
	bound := fs.claims("https://api.example", hour)
	bound["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"typ JWT", fs.sign(t, "JWT", fs.claims([]string{"https://api.example"}, hour))},
		{"no typ", fs.sign(t, nil, fs.claims([]string{"https://api.example"}, hour))},
		{"wrong audience", fs.sign(t, "at+jwt", fs.claims([]string{"https://other.example"}, hour))},
		{"no audience", fs.sign(t, "at+jwt", fs.claims(nil, hour))},
		{"expired", fs.sign(t, "at+jwt", fs.claims("https://api.example", time.Now().Add(-time.Second)))},
		{"not yet valid", fs.sign(t, "at+jwt", nbf)},
		{"bound to a DPoP key", fs.sign(t, "at+jwt", bound)},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + strings.Split(good, ".")[1] + "."},
		{"tampered", strings.Split(good, ".")[0] + "." + strings.Split(fs.sign(t, "at+jwt", fs.claims("https://api.example", hour.Add(time.Hour))), ".")[1] + "." + strings.Split(good, ".")[2]},
		{"garbage", "a.b.c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), tc.token); !errors.Is(err, bearer.ErrInvalidToken) {
				t.Errorf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
	// A string aud is as good as an array (RFC 7519 §4.1.3).
	if _, err := v.Verify(t.Context(), fs.sign(t, "application/at+jwt", fs.claims("https://api.example", hour))); err != nil {
		t.Errorf("string aud, application/at+jwt: %v", err)
	}
}

// TestJWKSRefetch: an unknown kid makes the verifier refetch the key set,
// so a rotation fails no request; made-up kids are rate-limited.
func TestJWKSRefetch(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	v, err := bearer.New(bearer.Options{Issuer: fs.URL, Audience: "aud", JWKSRefreshInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Now().Add(time.Hour)
	if _, err := v.Verify(t.Context(), fs.sign(t, "at+jwt", fs.claims("aud", hour))); err != nil {
		t.Fatal(err)
	}
	fs.rotate(t)
	if _, err := v.Verify(t.Context(), fs.sign(t, "at+jwt", fs.claims("aud", hour))); err != nil {
		t.Fatalf("token of a new key: %v", err)
	}
	before := fs.jwksHits.Load()
	ctx, cancel := context.WithTimeout(t.Context(), 350*time.Millisecond)
	defer cancel()
	forged := fs.sign(t, "at+jwt", fs.claims("aud", hour))
	forged = strings.Replace(forged, strings.Split(forged, ".")[0], base64Header(`{"alg":"ES256","kid":"made-up","typ":"at+jwt"}`), 1)
	for ctx.Err() == nil {
		_, _ = v.Verify(ctx, forged)
	}
	if n := fs.jwksHits.Load() - before; n > 5 {
		t.Errorf("%d key set fetches in 350ms of made-up kids, want at most ~4", n)
	}
}

func base64Header(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestMiddlewareChallenges(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	v, err := bearer.New(bearer.Options{Issuer: fs.URL, Audience: "aud", Realm: "api"})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Middleware(bearer.RequireScope("write")(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})))
	good := fs.sign(t, "at+jwt", fs.claims("aud", time.Now().Add(time.Hour)))
	for _, tc := range []struct {
		name, authorization string
		status              int
		challenge           string
	}{
		{"none", "", 401, `Bearer realm="api"`},
		{"basic", "Basic eDp5", 401, `Bearer realm="api"`},
		{"invalid", "Bearer a.b.c", 401, `Bearer realm="api", error="invalid_token", error_description="The access token is invalid, expired or revoked."`},
		{"no scope", "bearer " + good, 403, `Bearer error="insufficient_scope", error_description="The access token lacks a required scope.", scope="write"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("%d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
}

func TestNewNeedsAWayToVerify(t *testing.T) {
	t.Parallel()
	for _, o := range []bearer.Options{{}, {Issuer: "https://as.example"}} {
		if _, err := bearer.New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestIntrospectedBoundToken: an introspection answer with a cnf member
// (a DPoP-bound token, RFC 9449 §6.2) is refused to Verify, which takes
// bearer tokens (§7.2), whatever its token_type says, and so is one bound
// to a certificate (RFC 8705), which this package cannot check; the same
// answer without cnf passes.
func TestIntrospectedBoundToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cnf    any
		wantOK bool
	}{
		{"bearer", nil, true},
		{"bound to a DPoP key", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, false},
		{"bound to a certificate", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				in := map[string]any{"active": true, "token_type": "Bearer", "client_id": "app", "scope": "read",
					"exp": time.Now().Add(time.Hour).Unix()}
				if tc.cnf != nil {
					in["cnf"] = tc.cnf
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(in)
			}))
			t.Cleanup(srv.Close)
			v, err := bearer.New(bearer.Options{Issuer: srv.URL, ClientID: "rs", ClientSecret: "s", IntrospectionURL: srv.URL + "/introspect"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(t.Context(), "opaque-token")
			if tc.wantOK && err != nil {
				t.Errorf("Verify = %v, want the claims", err)
			}
			if !tc.wantOK && !errors.Is(err, bearer.ErrInvalidToken) {
				t.Errorf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}
