package bearer

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestReplayCache: a proof (a key's jti) is taken once while it lives; a
// full cache refuses new proofs as unavailable rather than forget live
// ones, and makes room once they have expired.
func TestReplayCache(t *testing.T) {
	t.Parallel()
	c := newReplayCache(2)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	until := now.Add(time.Minute)
	a, sameJTI, b := &Proof{JKT: "k1", JTI: "j"}, &Proof{JKT: "k2", JTI: "j"}, &Proof{JKT: "k1", JTI: "j2"}
	if err := c.use(a, now, until); err != nil {
		t.Fatal(err)
	}
	if err := c.use(a, now.Add(time.Second), until); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("replay: %v, want ErrInvalidProof", err)
	}
	if err := c.use(sameJTI, now, until); err != nil {
		t.Fatalf("the same jti by another key: %v", err)
	}
	if err := c.use(b, now, until); !errors.Is(err, ErrReplayCacheFull) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("full cache: %v, want ErrReplayCacheFull", err)
	}
	if err := c.use(b, until, until.Add(time.Minute)); err != nil {
		t.Fatalf("after the first proofs expired: %v", err)
	}
	if len(c.seen) != 1 {
		t.Fatalf("%d proofs remembered, want 1", len(c.seen))
	}
}

// TestRequestHTU: the URL a proof must name is the request's as the client
// sent it: its own scheme and Host, or BaseURL behind a proxy, with the
// path a router may have stripped.
func TestRequestHTU(t *testing.T) {
	t.Parallel()
	plain := httptest.NewRequest(http.MethodGet, "http://api.example:8080/a/%7eb?x=1", nil)
	secure := httptest.NewRequest(http.MethodGet, "https://api.example/a", nil)
	secure.TLS = &tls.ConnectionState{}
	stripped := httptest.NewRequest(http.MethodGet, "/v1/reports", nil)
	stripped.Host = "api.example"
	var seen *http.Request
	http.StripPrefix("/v1", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r })).ServeHTTP(httptest.NewRecorder(), stripped)
	for _, tc := range []struct {
		name, base string
		r          *http.Request
		want       string
	}{
		{"plain", "", plain, "http://api.example:8080/a/~b"},
		{"tls", "", secure, "https://api.example/a"},
		{"stripped by a router", "", seen, "http://api.example/v1/reports"},
		{"behind a proxy", "https://public.example/api/", plain, "https://public.example/api/a/~b"},
	} {
		v := &Verifier{opts: Options{DPoP: DPoPOptions{BaseURL: tc.base}}}
		if got, ok := v.requestHTU(tc.r); !ok || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestConfirmedKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cnf, want string
		ok        bool
	}{
		{"", "", true},
		{"null", "", true},
		{`{"jkt":"abc"}`, "abc", true},
		{`{"jkt":""}`, "", false},
		{`{"jkt":1}`, "", false},
		{`{"x5t#S256":"abc"}`, "", false},
		{`{"jkt":"abc","x5t#S256":"def"}`, "", false},
		{`"abc"`, "", false},
	} {
		got, err := confirmedKey(json.RawMessage(tc.cnf))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("confirmedKey(%s) = %q, %v", tc.cnf, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("confirmedKey(%s): %v, want ErrInvalidToken", tc.cnf, err)
		}
	}
}

// TestDPoPChallenges: the challenges of RFC 9449 §7.1 beside RFC 6750's:
// the scheme the client used comes first with the error, the other one
// after it, and the DPoP challenge always lists the algorithms.
func TestDPoPChallenges(t *testing.T) {
	t.Parallel()
	v, err := New(Options{Issuer: "http://127.0.0.1:1", Audience: "aud", Realm: "api"})
	if err != nil {
		t.Fatal(err)
	}
	algs := `algs="` + strings.Join(ProofAlgorithms, " ") + `"`
	for _, tc := range []struct {
		name, authorization, proof string
		want                       []string
	}{
		{"none", "", "", []string{`Bearer realm="api"`, `DPoP realm="api", ` + algs}},
		{"dpop without a proof", "DPoP a.b.c", "", []string{
			`DPoP realm="api", error="invalid_dpop_proof", error_description="A DPoP proof is required with the DPoP scheme.", ` + algs,
			`Bearer realm="api"`,
		}},
		{"dpop with a bad proof", "DPoP a.b.c", "x.y.z", []string{
			`DPoP realm="api", error="invalid_dpop_proof", error_description="The DPoP header is not a compact JWS.", ` + algs,
			`Bearer realm="api"`,
		}},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.authorization != "" {
			r.Header.Set("Authorization", tc.authorization)
		}
		if tc.proof != "" {
			r.Header.Set(ProofHeader, tc.proof)
		}
		w := httptest.NewRecorder()
		v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
		got := w.Header().Values("WWW-Authenticate")
		if w.Code != http.StatusUnauthorized || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: %d %q, want 401 %q", tc.name, w.Code, got, tc.want)
		}
	}
}
