package handlers_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/oauth/bearer"
)

// proofKey is a DPoP client's key in handler tests: proofs are made with
// go-jose, as a Go client would.
type proofKey struct {
	priv *ecdsa.PrivateKey
	jkt  string
}

func newProofKey(t testing.TB) *proofKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &proofKey{priv: priv, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof is a DPoP proof for method and target; accessToken, if any, gives
// the ath. iat is now plus skew.
func (k *proofKey) proof(t testing.TB, method, target, accessToken string, skew time.Duration) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": target, "iat": time.Now().Add(skew).Unix()}
	if accessToken != "" {
		claims["ath"] = bearer.AccessTokenHash(accessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dpopTokens runs a token request as the public client id with a proof by
// key and returns the answer.
func (s *testServer) dpopTokenRequest(t testing.TB, id string, key *proofKey, form url.Values) response {
	t.Helper()
	form.Set("client_id", id)
	h := formHeader.Clone()
	h.Set("DPoP", key.proof(t, http.MethodPost, s.URL+"/oauth2/token", "", 0))
	return s.send(t, http.MethodPost, "/oauth2/token", client{}, h, form.Encode(), false)
}

// callDPoP calls the API at target with authorization and, if not empty,
// proof; it returns the status, the WWW-Authenticate field lines and the
// body.
func callDPoP(t testing.TB, api *httptest.Server, target, authorization, proof string) (int, []string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	res, err := api.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Values("WWW-Authenticate"), string(body)
}

// TestDPoPResourceServer: oauth/bearer accepts a DPoP-bound token from Latch
// presented with the DPoP scheme and a proof for the request, checked
// locally (JWT) and by introspection, and refuses every other way of
// presenting it (RFC 9449 §7), with a DPoP challenge.
func TestDPoPResourceServer(t *testing.T) {
	t.Parallel()
	const aud = "https://api.example"
	s := newTestServer(t, withJWT(aud))
	uid := s.createUser(t, "alice", "pw-alice")
	s.createClient(t, map[string]any{
		"client_id": "spa", "grant_types": []string{"password", "refresh_token"}, "scope": "read",
		"token_endpoint_auth_method": "none",
	})
	key := newProofKey(t)
	res := s.dpopTokenRequest(t, "spa", key, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-alice"}})
	if res.status != http.StatusOK || str(res.object(t)["token_type"]) != "DPoP" {
		t.Fatalf("login with DPoP: %s", res)
	}
	access := str(res.object(t)["access_token"])
	plainApp := s.newPasswordClient(t, "app", "client_secret_basic")
	plain := s.login(t, plainApp, "alice", "pw-alice", "read")

	for _, mode := range []struct {
		name string
		opts bearer.Options
	}{
		{"jwt", bearer.Options{Issuer: s.URL, Audience: aud}},
		{"introspected", bearer.Options{Issuer: s.URL, ClientID: s.introspector.ID, ClientSecret: s.introspector.Secret}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			api := newProtectedAPI(t, mustVerifier(t, mode.opts), "")
			target := api.URL + "/reports"
			ok := key.proof(t, http.MethodGet, target, access, 0)
			status, _, body := callDPoP(t, api, target, "DPoP "+access, ok)
			if status != http.StatusOK || body != uid+" spa read" {
				t.Fatalf("DPoP with a proof: %d %s", status, body)
			}
			for _, tc := range []struct {
				name, authorization, proof, wantError string
				wantScheme                            string
			}{
				{"bound token as Bearer", "Bearer " + access, "", "invalid_token", "Bearer"},
				{"bound token as Bearer with a proof", "Bearer " + access, key.proof(t, http.MethodGet, target, access, 0), "invalid_token", "Bearer"},
				{"no proof", "DPoP " + access, "", "invalid_dpop_proof", "DPoP"},
				{"replayed proof", "DPoP " + access, ok, "invalid_dpop_proof", "DPoP"},
				{"wrong htm", "DPoP " + access, key.proof(t, http.MethodPost, target, access, 0), "invalid_dpop_proof", "DPoP"},
				{"wrong htu", "DPoP " + access, key.proof(t, http.MethodGet, api.URL+"/other", access, 0), "invalid_dpop_proof", "DPoP"},
				{"stale iat", "DPoP " + access, key.proof(t, http.MethodGet, target, access, -2*time.Minute), "invalid_dpop_proof", "DPoP"},
				{"no ath", "DPoP " + access, key.proof(t, http.MethodGet, target, "", 0), "invalid_dpop_proof", "DPoP"},
				{"ath of another token", "DPoP " + access, key.proof(t, http.MethodGet, target, plain.Access, 0), "invalid_dpop_proof", "DPoP"},
				{"proof by another key", "DPoP " + access, newProofKey(t).proof(t, http.MethodGet, target, access, 0), "invalid_token", "DPoP"},
				{"unbound token as DPoP", "DPoP " + plain.Access, key.proof(t, http.MethodGet, target, plain.Access, 0), "invalid_token", "DPoP"},
				{"garbage token as DPoP", "DPoP a.b.c", key.proof(t, http.MethodGet, target, "a.b.c", 0), "invalid_token", "DPoP"},
			} {
				status, challenges, _ := callDPoP(t, api, target, tc.authorization, tc.proof)
				if status != http.StatusUnauthorized || len(challenges) != 2 {
					t.Errorf("%s: %d %q, want 401 with a Bearer and a DPoP challenge", tc.name, status, challenges)
					continue
				}
				first := challenges[0]
				if !strings.HasPrefix(first, tc.wantScheme+" ") || !strings.Contains(first, `error="`+tc.wantError+`"`) {
					t.Errorf("%s: first challenge %q, want %s error=%q", tc.name, first, tc.wantScheme, tc.wantError)
				}
				dpop := challenges[0]
				if tc.wantScheme != "DPoP" {
					dpop = challenges[1]
				}
				if !strings.HasPrefix(dpop, "DPoP ") || !strings.Contains(dpop, `algs="ES256 `) || strings.Contains(dpop, "HS256") {
					t.Errorf("%s: DPoP challenge %q lacks algs", tc.name, dpop)
				}
			}
			// The unbound token still works as a bearer token.
			if status, _, _ := callDPoP(t, api, target, "Bearer "+plain.Access, ""); status != http.StatusOK {
				t.Errorf("unbound token as Bearer: %d", status)
			}
		})
	}
}

// TestDPoPNonceHeader: with LATCH_DPOP_NONCE=on every token answer carries
// a DPoP-Nonce (RFC 9449 §8), which a browser app may read (CORS), and a
// proof without it is refused with use_dpop_nonce; off, there is none.
func TestDPoPNonceHeader(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		var opts []serverOption
		if on {
			opts = append(opts, withDPoPNonce())
		}
		s := newTestServer(t, opts...)
		s.createUser(t, "alice", "pw-alice")
		s.createClient(t, map[string]any{"client_id": "spa", "grant_types": []string{"password"}, "token_endpoint_auth_method": "none"})
		res := s.dpopTokenRequest(t, "spa", newProofKey(t), url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-alice"}})
		nonce := res.header.Get("DPoP-Nonce")
		switch {
		case !on && (res.status != http.StatusOK || nonce != ""):
			t.Errorf("nonces off: %s, DPoP-Nonce %q", res, nonce)
		case on && (res.status != http.StatusBadRequest || str(res.object(t)["error"]) != "use_dpop_nonce" || nonce == ""):
			t.Errorf("nonces on, proof without one: %s, DPoP-Nonce %q", res, nonce)
		case on && !strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce"):
			t.Errorf("Access-Control-Expose-Headers = %q", res.header.Get("Access-Control-Expose-Headers"))
		}
	}
}
