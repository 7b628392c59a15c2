package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// The hot paths end to end: a real HTTP server (httptest), the whole
// middleware chain, fosite, and the store (SQLite in a temp dir, or
// PostgreSQL with LATCH_TEST_DATABASE_URL). They measure Latch's own cost
// per request, which is what the load tool's req/s is made of once the
// database and the client are taken away.

// BenchmarkTokenClientCredentials: client authentication (SHA-256 secret),
// a new family and one access token per request.
func BenchmarkTokenClientCredentials(b *testing.B) {
	s := newTestServer(b)
	c := s.createClient(b, map[string]any{"grant_types": []string{"client_credentials"}, "scope": "read"})
	form := url.Values{"grant_type": {"client_credentials"}}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.post(b, "/oauth2/token", c, form); r.status != http.StatusOK {
			b.Fatal(r)
		}
	}
}

// BenchmarkTokenRefresh: one rotation per request, each using the refresh
// token of the previous answer, as a client keeping a login alive does.
func BenchmarkTokenRefresh(b *testing.B) {
	s := newTestServer(b)
	c := s.newPasswordClient(b, "app", "client_secret_basic")
	s.createUser(b, "alice", "correct horse")
	rt := s.login(b, c, "alice", "correct horse", "").Refresh
	b.ReportAllocs()
	for b.Loop() {
		r := s.refresh(b, c, rt, "")
		if r.status != http.StatusOK {
			b.Fatal(r)
		}
		rt = str(r.object(b)["refresh_token"])
	}
}

// BenchmarkIntrospect: caller authentication plus one token lookup.
func BenchmarkIntrospect(b *testing.B) {
	s := newTestServer(b)
	c := s.createClient(b, map[string]any{"grant_types": []string{"client_credentials"}, "scope": "read"})
	at := s.tokenOK(b, c, url.Values{"grant_type": {"client_credentials"}}).Access
	form := url.Values{"token": {at}}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.post(b, "/oauth2/introspect", s.introspector, form); r.status != http.StatusOK {
			b.Fatal(r)
		}
	}
}

// BenchmarkTokenRefreshDPoP: BenchmarkTokenRefresh for a public client,
// without and with DPoP (RFC 9449), to price a proof at the token
// endpoint: one ES256 signature verification and one insert into
// dpop_jtis, in the refresh's own transaction's neighbour. Signing the
// proof is the client's cost and is left out of the timing.
func BenchmarkTokenRefreshDPoP(b *testing.B) {
	for _, withProof := range []bool{false, true} {
		name := "bearer"
		if withProof {
			name = "dpop"
		}
		b.Run(name, func(b *testing.B) {
			s := newTestServer(b)
			s.createUser(b, "alice", "correct horse")
			s.createClient(b, map[string]any{"client_id": "spa", "grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none"})
			key := newProofKey(b)
			request := func(form url.Values) response {
				form.Set("client_id", "spa")
				h := formHeader.Clone()
				if withProof {
					b.StopTimer()
					h.Set("DPoP", key.proof(b, http.MethodPost, s.URL+"/oauth2/token", "", 0))
					b.StartTimer()
				}
				return s.send(b, http.MethodPost, "/oauth2/token", client{}, h, form.Encode(), false)
			}
			r := request(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}})
			if r.status != http.StatusOK {
				b.Fatal(r)
			}
			rt := str(r.object(b)["refresh_token"])
			b.ReportAllocs()
			for b.Loop() {
				r := request(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
				if r.status != http.StatusOK {
					b.Fatal(r)
				}
				rt = str(r.object(b)["refresh_token"])
			}
		})
	}
}
