package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// dpopKey is a client's DPoP key pair in tests.
type dpopKey struct {
	alg  string
	priv crypto.Signer
	jkt  string
}

func newDPoPKey(t testing.TB, alg string) *dpopKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA", "Ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256", "PS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{alg: alg, priv: priv, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proofSpec is what a test proof says; tweak may change the header and
// claims before signing.
type proofSpec struct {
	htm, htu string
	iat      time.Time
	jti      string
	ath      string
	tweak    func(header, claims map[string]any)
}

// sign makes a compact proof by hand, so that tests can write what no
// library would (alg none, a private jwk).
func (k *dpopKey) sign(t testing.TB, s proofSpec) string {
	t.Helper()
	jwk, err := json.Marshal(jose.JSONWebKey{Key: k.priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": json.RawMessage(jwk)}
	if s.jti == "" {
		s.jti = rand.Text()
	}
	claims := map[string]any{"htm": s.htm, "htu": s.htu, "iat": s.iat.Unix(), "jti": s.jti}
	if s.ath != "" {
		claims["ath"] = s.ath
	}
	if s.tweak != nil {
		s.tweak(header, claims)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	alg, _ := header["alg"].(string)
	if alg != "none" && alg != "HS256" {
		alg = k.alg // the header may lie; the key signs as it can
	}
	switch alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, []byte("a shared secret that proves nothing"))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(pad32(r), pad32(s)...)
	case "EdDSA", "Ed25519":
		sig = ed25519.Sign(k.priv.(ed25519.PrivateKey), []byte(input))
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, digest[:], nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pad32(n *big.Int) []byte { return n.FillBytes(make([]byte, 32)) }

// tokenProof is a valid proof for the fixture's token endpoint.
func (k *dpopKey) tokenProof(t testing.TB, f *fixture) string {
	return k.sign(t, proofSpec{htm: http.MethodPost, htu: f.cfg.Issuer + "/oauth2/token", iat: f.clock.Now()})
}

func TestDPoPProofChecks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const htu = "https://id.example.com/tenant/oauth2/token"
	v, want, err := newDPoPVerifier("https://id.example.com/tenant", 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if want != htu {
		t.Fatalf("token htu %q, want %q", want, htu)
	}
	es := newDPoPKey(t, "ES256")
	other := newDPoPKey(t, "ES256")
	ok := proofSpec{htm: http.MethodPost, htu: htu, iat: now}
	with := func(tweak func(h, c map[string]any)) proofSpec { s := ok; s.tweak = tweak; return s }
	for _, tc := range []struct {
		name    string
		key     *dpopKey
		spec    proofSpec
		headers int // copies of the header; 0 means 1
		mangle  func(string) string
		wantOK  bool
	}{
		{name: "ES256", key: es, spec: ok, wantOK: true},
		{name: "EdDSA", key: newDPoPKey(t, "EdDSA"), spec: ok, wantOK: true},
		{name: "Ed25519 (RFC 9864)", key: newDPoPKey(t, "Ed25519"), spec: ok, wantOK: true},
		{name: "RS256", key: newDPoPKey(t, "RS256"), spec: ok, wantOK: true},
		{name: "PS256", key: newDPoPKey(t, "PS256"), spec: ok, wantOK: true},
		{name: "htu normalised", key: es, spec: proofSpec{htm: "POST", htu: "HTTPS://ID.Example.COM:443/tenant/oauth2/%74oken?q=1#f", iat: now}, wantOK: true},
		{name: "iat at the edge of the window", key: es, spec: proofSpec{htm: "POST", htu: htu, iat: now.Add(-60 * time.Second)}, wantOK: true},
		{name: "wrong htm", key: es, spec: proofSpec{htm: "GET", htu: htu, iat: now}},
		{name: "htm lower case", key: es, spec: proofSpec{htm: "post", htu: htu, iat: now}},
		{name: "wrong htu path", key: es, spec: proofSpec{htm: "POST", htu: "https://id.example.com/oauth2/token", iat: now}},
		{name: "wrong htu host", key: es, spec: proofSpec{htm: "POST", htu: "https://evil.example.com/tenant/oauth2/token", iat: now}},
		{name: "wrong htu scheme", key: es, spec: proofSpec{htm: "POST", htu: "http://id.example.com/tenant/oauth2/token", iat: now}},
		{name: "wrong htu port", key: es, spec: proofSpec{htm: "POST", htu: "https://id.example.com:8443/tenant/oauth2/token", iat: now}},
		{name: "stale iat", key: es, spec: proofSpec{htm: "POST", htu: htu, iat: now.Add(-61 * time.Second)}},
		{name: "future iat", key: es, spec: proofSpec{htm: "POST", htu: htu, iat: now.Add(61 * time.Second)}},
		{name: "no jti", key: es, spec: with(func(_, c map[string]any) { delete(c, "jti") })},
		{name: "no iat", key: es, spec: with(func(_, c map[string]any) { delete(c, "iat") })},
		{name: "iat not a number", key: es, spec: with(func(_, c map[string]any) { c["iat"] = "now" })},
		{name: "alg none", key: es, spec: with(func(h, _ map[string]any) { h["alg"] = "none" })},
		{name: "alg HS256", key: es, spec: with(func(h, _ map[string]any) { h["alg"] = "HS256" })},
		{name: "alg of another key type", key: es, spec: with(func(h, _ map[string]any) { h["alg"] = "RS256" })},
		{name: "private key in jwk", key: es, spec: with(func(h, _ map[string]any) {
			b, _ := json.Marshal(jose.JSONWebKey{Key: es.priv})
			h["jwk"] = json.RawMessage(b)
		})},
		{name: "symmetric jwk", key: es, spec: with(func(h, _ map[string]any) {
			h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0"}
		})},
		{name: "no jwk", key: es, spec: with(func(h, _ map[string]any) { delete(h, "jwk") })},
		{name: "jwk of another key", key: es, spec: with(func(h, _ map[string]any) {
			b, _ := json.Marshal(jose.JSONWebKey{Key: other.priv.Public()})
			h["jwk"] = json.RawMessage(b)
		})},
		{name: "bad signature", key: es, spec: ok, mangle: func(s string) string {
			i := strings.LastIndexByte(s, '.')
			return s[:i+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		}},
		{name: "wrong typ", key: es, spec: with(func(h, _ map[string]any) { h["typ"] = "JWT" })},
		{name: "no typ", key: es, spec: with(func(h, _ map[string]any) { delete(h, "typ") })},
		{name: "two headers", key: es, spec: ok, headers: 2},
		{name: "not a JWS", key: es, spec: ok, mangle: func(string) string { return "garbage" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proof := tc.key.sign(t, tc.spec)
			if tc.mangle != nil {
				proof = tc.mangle(proof)
			}
			r := httptest.NewRequest(http.MethodPost, "/tenant/oauth2/token", nil)
			for range max(tc.headers, 1) {
				r.Header.Add(DPoPHeader, proof)
			}
			got, err := v.verify(r, htu, "")
			switch {
			case tc.wantOK && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantOK && got.JKT != tc.key.jkt:
				t.Fatalf("jkt %q, want %q", got.JKT, tc.key.jkt)
			case !tc.wantOK && !errors.Is(err, ErrInvalidDPoPProof):
				t.Fatalf("err = %v, want invalid_dpop_proof", err)
			}
		})
	}
}

// newDPoPFixture adds, to the fixture, a public client "spa" (password,
// refresh_token) and a public client "strict" registered with
// dpop_bound_access_tokens.
func newDPoPFixture(t testing.TB, tweak func(*Config)) *fixture {
	t.Helper()
	f := newFixture(t, tweak)
	for _, spec := range []ClientSpec{
		{ID: "spa", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none"},
		{ID: "strict", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none", DPoPBoundAccessTokens: true},
	} {
		if _, _, err := f.p.CreateClient(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

type dpopAnswer struct {
	status       int
	Error        string `json:"error"`
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// dpopToken posts form as client (public when secret is empty) with proof
// in the DPoP header, if any.
func (f *fixture) dpopToken(t testing.TB, client, secret, proof string, form url.Values) dpopAnswer {
	t.Helper()
	ctx := t.Context()
	if secret == "" {
		form.Set("client_id", client)
	}
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth(client, secret)
	}
	if proof != "" {
		r.Header.Set(DPoPHeader, proof)
	}
	w := httptest.NewRecorder()
	_ = f.serveToken(ctx, w, r)
	var out dpopAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	out.status = w.Code
	return out
}

func alicePasswordForm() url.Values {
	return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

func wantDPoPError(t testing.TB, a dpopAnswer) {
	t.Helper()
	if a.status != http.StatusBadRequest || a.Error != "invalid_dpop_proof" {
		t.Fatalf("got %d %q, want 400 invalid_dpop_proof", a.status, a.Error)
	}
}

// TestDPoPBindsPublicLogin: a public client's login with a proof is bound
// to the proof's key for its whole life; a refresh without the key is
// refused and spends nothing.
func TestDPoPBindsPublicLogin(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	key, other := newDPoPKey(t, "ES256"), newDPoPKey(t, "ES256")
	r0 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	if r0.status != http.StatusOK || r0.TokenType != TokenTypeDPoP || r0.RefreshToken == "" {
		t.Fatalf("login with proof: %+v", r0)
	}
	in := f.introspect(t, r0.AccessToken)
	if !in.Active || in.TokenType != TokenTypeDPoP || in.Cnf == nil || in.Cnf.JKT != key.jkt {
		t.Fatalf("introspection %+v, want active DPoP with cnf.jkt %q", in, key.jkt)
	}

	wantDPoPError(t, f.dpopToken(t, "spa", "", "", refreshForm(r0.RefreshToken)))
	wantDPoPError(t, f.dpopToken(t, "spa", "", other.tokenProof(t, f), refreshForm(r0.RefreshToken)))
	if !f.introspect(t, r0.RefreshToken).Active {
		t.Fatal("a refused refresh spent the token")
	}

	r1 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), refreshForm(r0.RefreshToken))
	if r1.status != http.StatusOK || r1.TokenType != TokenTypeDPoP {
		t.Fatalf("refresh with the key: %+v", r1)
	}
	// The grace replay needs the key too, and then is the same answer.
	f.clock.Advance(time.Second)
	wantDPoPError(t, f.dpopToken(t, "spa", "", "", refreshForm(r0.RefreshToken)))
	if again := f.dpopToken(t, "spa", "", key.tokenProof(t, f), refreshForm(r0.RefreshToken)); again != r1 {
		t.Fatalf("grace replay %+v, want %+v", again, r1)
	}
	if in := f.introspect(t, r1.AccessToken); in.Cnf == nil || in.Cnf.JKT != key.jkt {
		t.Fatalf("refreshed access token: %+v", in)
	}
}

// TestDPoPConfidentialRefreshUnbound: a confidential client's access
// tokens are bound, its refresh tokens are not (RFC 9449 §5).
func TestDPoPConfidentialRefreshUnbound(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	key := newDPoPKey(t, "ES256")
	r0 := f.dpopToken(t, "app", f.secret, key.tokenProof(t, f), alicePasswordForm())
	if r0.status != http.StatusOK || r0.TokenType != TokenTypeDPoP {
		t.Fatalf("login with proof: %+v", r0)
	}
	r1 := f.dpopToken(t, "app", f.secret, "", refreshForm(r0.RefreshToken))
	if r1.status != http.StatusOK || r1.TokenType != TokenTypeDPoP {
		t.Fatalf("refresh without proof: %+v", r1)
	}
	if in := f.introspect(t, r1.AccessToken); in.Cnf == nil || in.Cnf.JKT != key.jkt {
		t.Fatalf("refreshed access token: %+v", in)
	}
	// A proof by another key would get an access token bound to a key the
	// caller does not hold: refused, and the refresh token is not spent.
	wantDPoPError(t, f.dpopToken(t, "app", f.secret, newDPoPKey(t, "ES256").tokenProof(t, f), refreshForm(r1.RefreshToken)))
	if r2 := f.dpopToken(t, "app", f.secret, key.tokenProof(t, f), refreshForm(r1.RefreshToken)); r2.status != http.StatusOK || r2.TokenType != TokenTypeDPoP {
		t.Fatalf("refresh with the login's key after another key was refused: %+v", r2)
	}
	// Without DPoP nothing changes: Bearer, no cnf.
	plain := f.dpopToken(t, "app", f.secret, "", alicePasswordForm())
	if plain.TokenType != TokenTypeBearer || f.introspect(t, plain.AccessToken).Cnf != nil {
		t.Fatalf("login without proof: %+v", plain)
	}
	// A proof on the refresh of such a login cannot bind it: refused
	// rather than answered with an unbound Bearer token, and not spent.
	wantDPoPError(t, f.dpopToken(t, "app", f.secret, key.tokenProof(t, f), refreshForm(plain.RefreshToken)))
	if r := f.dpopToken(t, "app", f.secret, "", refreshForm(plain.RefreshToken)); r.status != http.StatusOK || r.TokenType != TokenTypeBearer {
		t.Fatalf("plain refresh of the unbound login: %+v", r)
	}
}

func TestDPoPBoundClientNeedsProof(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	wantDPoPError(t, f.dpopToken(t, "strict", "", "", alicePasswordForm()))
	if r := f.dpopToken(t, "strict", "", newDPoPKey(t, "ES256").tokenProof(t, f), alicePasswordForm()); r.status != http.StatusOK || r.TokenType != TokenTypeDPoP {
		t.Fatalf("with proof: %+v", r)
	}
}

// TestDPoPProofRefusedAtTokenEndpoint: a bad proof is refused before the
// grant runs, whatever the grant.
func TestDPoPProofRefusedAtTokenEndpoint(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	key := newDPoPKey(t, "ES256")
	stale := key.sign(t, proofSpec{htm: "POST", htu: f.cfg.Issuer + "/oauth2/token", iat: f.clock.Now().Add(-2 * time.Minute)})
	wantDPoPError(t, f.dpopToken(t, "spa", "", stale, alicePasswordForm()))
	elsewhere := key.sign(t, proofSpec{htm: "POST", htu: f.cfg.Issuer + "/oauth2/revoke", iat: f.clock.Now()})
	wantDPoPError(t, f.dpopToken(t, "spa", "", elsewhere, alicePasswordForm()))
}

// TestDPoPReplayAcrossNodes: a proof is accepted once, on every node that
// shares the database.
func TestDPoPReplayAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	f := newFixtureOn(t, a, nil)
	for _, spec := range []ClientSpec{{ID: "spa", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none"}} {
		if _, _, err := f.p.CreateClient(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
	g := f.node(t, b)
	proof := newDPoPKey(t, "ES256").tokenProof(t, f)
	if r := f.dpopToken(t, "spa", "", proof, alicePasswordForm()); r.status != http.StatusOK {
		t.Fatalf("first use: %+v", r)
	}
	wantDPoPError(t, g.dpopToken(t, "spa", "", proof, alicePasswordForm()))
	wantDPoPError(t, f.dpopToken(t, "spa", "", proof, alicePasswordForm()))
	// Past the window the row is the janitor's, and the proof too old.
	f.clock.Advance(2 * time.Minute)
	n, err := f.p.Purge(t.Context())
	if err != nil || n.DPoPJTIs != 1 {
		t.Fatalf("purge: %+v, %v; want one dpop jti", n, err)
	}
}

// TestDPoPJWTCarriesCnf: JWT access tokens of a bound login carry cnf.jkt.
func TestDPoPJWTCarriesCnf(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, func(c *Config) { c.AccessTokenFormat = FormatJWT })
	key := newDPoPKey(t, "ES256")
	r := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	if r.status != http.StatusOK {
		t.Fatalf("login: %+v", r)
	}
	c, err := f.p.verifyJWT(t.Context(), r.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cnf == nil || c.Cnf.JKT != key.jkt {
		t.Fatalf("claims %+v, want cnf.jkt %q", c, key.jkt)
	}
}

// TestDPoPRefusedRefreshSpendsNothing: each refusal of RFC 9449 §4.3, made
// at the token endpoint on a bound login's refresh, answers
// invalid_dpop_proof and leaves the refresh token as it was, on every
// database the suite runs on.
func TestDPoPRefusedRefreshSpendsNothing(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	key := newDPoPKey(t, "ES256")
	r0 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	if r0.status != http.StatusOK {
		t.Fatalf("login: %+v", r0)
	}
	htu, now := f.cfg.Issuer+"/oauth2/token", f.clock.Now()
	used := key.tokenProof(t, f)
	if r := f.dpopToken(t, "spa", "", used, alicePasswordForm()); r.status != http.StatusOK {
		t.Fatalf("second login: %+v", r)
	}
	for _, tc := range []struct{ name, proof string }{
		{"wrong htm", key.sign(t, proofSpec{htm: http.MethodGet, htu: htu, iat: now})},
		{"wrong htu", key.sign(t, proofSpec{htm: http.MethodPost, htu: "http://127.0.0.1:8081/oauth2/token", iat: now})},
		{"stale iat", key.sign(t, proofSpec{htm: http.MethodPost, htu: htu, iat: now.Add(-61 * time.Second)})},
		{"alg none", key.sign(t, proofSpec{htm: http.MethodPost, htu: htu, iat: now, tweak: func(h, _ map[string]any) { h["alg"] = "none" }})},
		{"alg HS256", key.sign(t, proofSpec{htm: http.MethodPost, htu: htu, iat: now, tweak: func(h, _ map[string]any) { h["alg"] = "HS256" }})},
		{"replayed jti", used},
		{"another key", newDPoPKey(t, "ES256").tokenProof(t, f)},
		{"no proof", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDPoPError(t, f.dpopToken(t, "spa", "", tc.proof, refreshForm(r0.RefreshToken)))
		})
	}
	if !f.introspect(t, r0.RefreshToken).Active {
		t.Fatal("a refused refresh spent the token")
	}
	if r := f.dpopToken(t, "spa", "", key.tokenProof(t, f), refreshForm(r0.RefreshToken)); r.status != http.StatusOK {
		t.Fatalf("refresh after the refusals: %+v", r)
	}
}

// TestDPoPGraceReplayNeedsKey: within the grace period a lost answer is
// replayed only to a proof by the login's key.
func TestDPoPGraceReplayNeedsKey(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	key := newDPoPKey(t, "EdDSA")
	r0 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	r1 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), refreshForm(r0.RefreshToken))
	if r1.status != http.StatusOK {
		t.Fatalf("refresh: %+v", r1)
	}
	f.clock.Advance(time.Second)
	wantDPoPError(t, f.dpopToken(t, "spa", "", newDPoPKey(t, "EdDSA").tokenProof(t, f), refreshForm(r0.RefreshToken)))
	if again := f.dpopToken(t, "spa", "", key.tokenProof(t, f), refreshForm(r0.RefreshToken)); again != r1 {
		t.Fatalf("grace replay %+v, want %+v", again, r1)
	}
	if !f.introspect(t, r1.RefreshToken).Active {
		t.Fatal("the refused replay ended the login")
	}
}

// failRotateOnce fails the first rotation, as a database that drops the
// connection mid-refresh would.
type failRotateOnce struct {
	storage.Store
	failed atomic.Bool
}

func (s *failRotateOnce) Rotate(ctx context.Context, r storage.Rotation) error {
	if s.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("test: rotate: %w", storage.ErrUnavailable)
	}
	return s.Store.Rotate(ctx, r)
}

// TestDPoPRefreshProofInItsTransaction: a refresh records its proof in the
// rotation's transaction, so a refresh that fails leaves the proof unused
// and its retry with the same proof goes through (recorded in a
// transaction of its own, the proof would count as used).
func TestDPoPRefreshProofInItsTransaction(t *testing.T) {
	t.Parallel()
	store := &failRotateOnce{Store: sqlstoretest.New(t)}
	store.failed.Store(true) // the login's rotations are not the test's
	f := newFixtureOn(t, store, nil)
	if _, _, err := f.p.CreateClient(t.Context(), ClientSpec{ID: "spa", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none"}); err != nil {
		t.Fatal(err)
	}
	key := newDPoPKey(t, "ES256")
	r0 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	if r0.status != http.StatusOK {
		t.Fatalf("login: %+v", r0)
	}
	store.failed.Store(false)
	proof := key.tokenProof(t, f)
	if r := f.dpopToken(t, "spa", "", proof, refreshForm(r0.RefreshToken)); r.status == http.StatusOK {
		t.Fatalf("refresh whose rotation failed: %+v, want an error", r)
	}
	r1 := f.dpopToken(t, "spa", "", proof, refreshForm(r0.RefreshToken))
	if r1.status != http.StatusOK || r1.TokenType != TokenTypeDPoP {
		t.Fatalf("the retry with the same proof: %+v, want the rotation", r1)
	}
	// Once the refresh went through, its proof is spent, on this login and
	// any other.
	wantDPoPError(t, f.dpopToken(t, "spa", "", proof, refreshForm(r1.RefreshToken)))
	if !f.introspect(t, r1.RefreshToken).Active {
		t.Fatal("a replayed proof spent the refresh token")
	}
}

// TestDPoPRefreshReplayAcrossNodes: a proof that refreshed a login on one
// node is refused on another, and spends nothing there.
func TestDPoPRefreshReplayAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	f := newFixtureOn(t, a, nil)
	if _, _, err := f.p.CreateClient(t.Context(), ClientSpec{ID: "spa", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none"}); err != nil {
		t.Fatal(err)
	}
	g := f.node(t, b)
	key := newDPoPKey(t, "ES256")
	r0 := f.dpopToken(t, "spa", "", key.tokenProof(t, f), alicePasswordForm())
	if r0.status != http.StatusOK {
		t.Fatalf("login: %+v", r0)
	}
	proof := key.tokenProof(t, f)
	r1 := f.dpopToken(t, "spa", "", proof, refreshForm(r0.RefreshToken))
	if r1.status != http.StatusOK {
		t.Fatalf("refresh on node a: %+v", r1)
	}
	wantDPoPError(t, g.dpopToken(t, "spa", "", proof, refreshForm(r1.RefreshToken)))
	if r := g.dpopToken(t, "spa", "", key.tokenProof(t, g), refreshForm(r1.RefreshToken)); r.status != http.StatusOK {
		t.Fatalf("refresh on node b with a fresh proof after the refused replay: %+v", r)
	}
}
