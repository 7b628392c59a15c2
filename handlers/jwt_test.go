package handlers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/oauth"
)

// The tests in this file check Latch's JWT access tokens (RFC 9068) as a
// resource server would: with go-jose's verification alone, not Latch's,
// against keys found the way a resource server finds them: metadata →
// jwks_uri → JWKS.

// fetchJWKS follows the metadata to jwks_uri and returns the published set.
func (s *testServer) fetchJWKS(t testing.TB) *jose.JSONWebKeySet {
	t.Helper()
	meta := s.get(t, "/.well-known/oauth-authorization-server")
	if meta.status != http.StatusOK {
		t.Fatalf("metadata: %s", meta)
	}
	uri := str(meta.object(t)["jwks_uri"])
	if uri != s.URL+"/.well-known/jwks.json" {
		t.Fatalf("jwks_uri = %q", uri)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := s.do(t, req)
	if res.status != http.StatusOK {
		t.Fatalf("jwks: %s", res)
	}
	if cc := res.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("jwks Cache-Control = %q, want a short max-age", cc)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.body, &set); err != nil {
		t.Fatalf("jwks is not a JWK set: %v: %s", err, res.body)
	}
	// RFC 7517 members the resource server relies on.
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(res.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range raw.Keys {
		if k["use"] != "sig" || k["kid"] == "" || k["alg"] == "" {
			t.Errorf("jwk lacks use/kid/alg: %v", k)
		}
		if _, ok := k["d"]; ok {
			t.Fatalf("jwks publishes a private key: %v", k)
		}
	}
	return &set
}

// jwtClaims are the claims of a Latch access token as a test reads them.
type jwtClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	JTI      string   `json:"jti"`
	Iat      int64    `json:"iat"`
	Exp      int64    `json:"exp"`
	Username string   `json:"username"`
}

// verifyJWT validates an access token as RFC 9068 §4 asks a resource server
// to: one signature by a key of the set named by kid, with that key's alg,
// typ at+jwt, and the claims. It returns the claims and the kid.
func verifyJWT(t testing.TB, set *jose.JSONWebKeySet, token string) (jwtClaims, string) {
	t.Helper()
	if strings.Count(token, ".") != 2 || strings.HasPrefix(token, "latch_") {
		t.Fatalf("access token %q is not a compact JWS", token)
	}
	jws, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatalf("go-jose cannot parse the token: %v", err)
	}
	if len(jws.Signatures) != 1 {
		t.Fatalf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q names %d keys of the published set", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != h.Algorithm {
		t.Errorf("header alg %s, key alg %s", h.Algorithm, keys[0].Algorithm)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("go-jose: signature does not verify: %v", err)
	}
	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("claims: %v", err)
	}
	return c, h.KeyID
}

// tokenKeyOfJTI is the storage key of a JWT's row (oauth.tokenKey of the
// jti), to ask the denylist about it.
func tokenKeyOfJTI(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestJWTAccessTokens: the issued JWTs pass an independent RFC 9068
// validation against the keys found through jwks_uri, with every claim,
// exp capped at the login's end, and refresh tokens still opaque.
func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newTestServer(t, withJWT(""), withClock(clk), withLifetimes(15*time.Minute, 720*time.Hour, 20*time.Minute))
	uid := s.createUser(t, "alice", "pw-alice")
	app := s.createClient(t, map[string]any{
		"client_id": "app", "grant_types": []string{"password", "refresh_token"}, "scope": "read write",
		"audience": []string{"https://api.example", "https://other.example"},
	})
	svc := s.createClient(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "reports"})
	start := clk.Now()

	tok := s.login(t, app, "alice", "pw-alice", "read write")
	set := s.fetchJWKS(t)
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != oauth.AlgES256 {
		t.Fatalf("jwks = %+v, want one ES256 key", set.Keys)
	}
	c, _ := verifyJWT(t, set, tok.Access)
	want := jwtClaims{
		Iss: s.URL, Sub: uid, Aud: []string{"https://api.example", "https://other.example"}, ClientID: "app",
		Scope: "read write", JTI: c.JTI, Iat: start.Unix(), Exp: start.Add(15 * time.Minute).Unix(), Username: "alice",
	}
	if !jsonEqual(c, want) {
		t.Errorf("claims = %+v\nwant     %+v", c, want)
	}
	if len(c.JTI) < 22 { // 128 bits in base64url
		t.Errorf("jti %q is too short", c.JTI)
	}
	if !strings.HasPrefix(tok.Refresh, oauth.RefreshTokenPrefix) {
		t.Errorf("refresh token %q is not opaque", tok.Refresh)
	}
	if ei, _ := tok.Raw["expires_in"].(float64); int(ei) != 900 {
		t.Errorf("expires_in = %v", tok.Raw["expires_in"])
	}
	in := s.wantActive(t, "jwt", tok.Access)
	if in["jti"] != c.JTI || in["sub"] != uid || in["client_id"] != "app" || in["token_type"] != "Bearer" || in["iss"] != s.URL {
		t.Errorf("introspection = %v", in)
	}

	// client_credentials: sub is the client, aud the default audience.
	cc := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}})
	c2, _ := verifyJWT(t, set, cc.Access)
	if c2.Sub != "svc" || c2.ClientID != "svc" || !slices.Equal(c2.Aud, []string{s.URL}) || c2.Scope != "reports" || c2.Username != "" {
		t.Errorf("client_credentials claims = %+v", c2)
	}
	if c2.JTI == c.JTI {
		t.Error("two tokens share a jti")
	}

	// Ten minutes on, a refresh: the new access token's exp is the login's
	// end (20 minutes after the password grant), not now+15m.
	clk.Advance(10 * time.Minute)
	res := s.refresh(t, app, tok.Refresh, "read")
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	c3, _ := verifyJWT(t, set, str(res.object(t)["access_token"]))
	if c3.Exp != start.Add(20*time.Minute).Unix() || c3.Iat != clk.Now().Unix() || c3.Scope != "read" {
		t.Errorf("refreshed claims = %+v; want exp at the login's end %d", c3, start.Add(20*time.Minute).Unix())
	}

	// RS256 on request.
	if _, err := s.provider.RotateSigningKey(t.Context(), oauth.AlgRS256); err != nil {
		t.Fatal(err)
	}
	cc = s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}})
	set = s.fetchJWKS(t)
	if len(set.Keys) != 2 {
		t.Fatalf("jwks after rotation has %d keys, want the new and the retired one", len(set.Keys))
	}
	_, kid := verifyJWT(t, set, cc.Access)
	if k := set.Key(kid); k[0].Algorithm != oauth.AlgRS256 {
		t.Errorf("new token signed with %s", k[0].Algorithm)
	}
	verifyJWT(t, set, tok.Access) // the ES256 token still verifies

	// Nothing usable is stored: no token, no signature, no jti.
	rows := s.dump(t)
	for _, secret := range []string{tok.Access, cc.Access, c.JTI, c2.JTI, strings.Split(tok.Access, ".")[2]} {
		for _, row := range rows {
			if strings.Contains(row, secret) {
				t.Errorf("database holds %q: %s", secret, row)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestJWKSOffWithOpaqueTokens: no keys are published while tokens are
// opaque.
func TestJWKSOffWithOpaqueTokens(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	wantOAuthError(t, "jwks", s.get(t, "/.well-known/jwks.json"), http.StatusNotFound, "not_found")
	if _, ok := s.get(t, "/.well-known/oauth-authorization-server").object(t)["jwks_uri"]; ok {
		t.Error("metadata names a jwks_uri")
	}
}

// TestJWTDenylist: revoking a JWT, or ending its login through the admin
// API or a password change, puts its jti on the denylist and introspection
// answers {"active": false} — on SQLite and, with LATCH_TEST_DATABASE_URL,
// on PostgreSQL. A forged or garbage JWT is inactive and revokes nothing.
func TestJWTDenylist(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT("https://api.example"))
	uid := s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	set := func() *jose.JSONWebKeySet { return s.fetchJWKS(t) }
	denied := func(t *testing.T, token string) bool {
		t.Helper()
		c, _ := verifyJWT(t, set(), token)
		ok, err := s.store.IsDenied(t.Context(), tokenKeyOfJTI(c.JTI))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	t.Run("revocation", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		s.wantActive(t, "before", tok.Access)
		if denied(t, tok.Access) {
			t.Fatal("denied before revocation")
		}
		if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {tok.Access}}); res.status != http.StatusOK {
			t.Fatalf("revoke: %s", res)
		}
		s.wantLoginDead(t, "revoked jwt", app, tok)
		if !denied(t, tok.Access) {
			t.Error("revoked jwt is not on the denylist")
		}
	})

	t.Run("admin ends the login", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		res := s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil)
		var sessions struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if err := json.Unmarshal(res.body, &sessions); err != nil || len(sessions.Items) != 1 {
			t.Fatalf("sessions: %s", res)
		}
		if res := s.adminDo(t, http.MethodDelete, "/admin/sessions/"+sessions.Items[0].ID, nil); res.status != http.StatusNoContent {
			t.Fatalf("revoke session: %s", res)
		}
		s.wantLoginDead(t, "jwt of an ended login", app, tok)
		if !denied(t, tok.Access) {
			t.Error("jwt of an ended login is not on the denylist")
		}
	})

	t.Run("password change", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		if res := s.adminDo(t, http.MethodPut, "/admin/users/"+uid+"/password", map[string]string{"password": "pw-alice"}); res.status != http.StatusNoContent {
			t.Fatalf("set password: %s", res)
		}
		s.wantLoginDead(t, "jwt after a password change", app, tok)
		if !denied(t, tok.Access) {
			t.Error("jwt after a password change is not on the denylist")
		}
	})

	t.Run("forged and garbage", func(t *testing.T) {
		tok := s.login(t, app, "alice", "pw-alice", "")
		parts := strings.Split(tok.Access, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forgedClaims := strings.Replace(string(claims), `"read write"`, `"admin"`, 1)
		forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forgedClaims)) + "." + parts[2]
		for name, bad := range map[string]string{
			"forged claims": forged,
			"no signature":  parts[0] + "." + parts[1] + ".",
			"garbage":       "a.b.c",
			"alg none":      base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
		} {
			s.wantInactive(t, name, bad)
			if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {bad}}); res.status != http.StatusOK {
				t.Errorf("revoke %s: %s", name, res)
			}
		}
		s.wantActive(t, "the real token after forged revocations", tok.Access)
		// Another client may not revoke it.
		other := s.newPasswordClient(t, "other", "client_secret_post")
		wantOAuthError(t, "another client", s.post(t, "/oauth2/revoke", other, url.Values{"token": {tok.Access}}), http.StatusBadRequest, "unauthorized_client")
		s.wantActive(t, "after another client's revocation", tok.Access)
	})

	// The janitor keeps the denylist only until the tokens expire.
	t.Run("purge", func(t *testing.T) {
		n, err := s.provider.Purge(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n.Denied != 0 {
			t.Errorf("purged %d unexpired denylist entries", n.Denied)
		}
	})
}
