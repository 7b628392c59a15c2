package handlers_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/oauth"
)

// The tests in this file read Token Status Lists (draft-ietf-oauth-status-
// list) as a resource server would: the token's status claim names a URI,
// the URI answers a JWT signed by a key of the JWKS, and its lst is a
// zlib-compressed, base64url bit array. Only go-jose and the standard
// library are used to read them, not Latch's code.

// statusRef is the status claim of an access token, with sid.
type statusRef struct {
	SID    string `json:"sid"`
	Status *struct {
		StatusList struct {
			Idx *int64 `json:"idx"`
			URI string `json:"uri"`
		} `json:"status_list"`
	} `json:"status"`
}

// statusClaims reads the sid and status claims of a verified access token.
func statusClaims(t testing.TB, set *jose.JSONWebKeySet, token string) (sid, uri string, idx int64) {
	t.Helper()
	verifyJWT(t, set, token)
	jws, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	var c statusRef
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	if c.Status == nil || c.Status.StatusList.Idx == nil || c.Status.StatusList.URI == "" {
		t.Fatalf("access token lacks status.status_list.{idx, uri}: %s", jws.UnsafePayloadWithoutVerification())
	}
	return c.SID, c.Status.StatusList.URI, *c.Status.StatusList.Idx
}

// statusList is a fetched, verified Status List Token.
type statusList struct {
	res  response
	bits []byte
	ttl  int64
	iat  int64
	exp  int64
}

func (l statusList) bit(idx int64) int {
	if idx/8 >= int64(len(l.bits)) {
		return -1
	}
	return int(l.bits[idx/8]>>(idx%8)) & 1
}

// fetchStatusList GETs uri from s and checks the Status List Token as the
// draft's §8.3 asks a relying party to: typ, a signature by a JWKS key,
// sub equal to the URI, iat, exp and ttl; then it inflates lst.
func (s *testServer) fetchStatusList(t testing.TB, set *jose.JSONWebKeySet, uri string, header ...string) statusList {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res := s.do(t, req)
	l := statusList{res: res}
	if res.status != http.StatusOK {
		return l
	}
	if ct := res.header.Get("Content-Type"); ct != "application/statuslist+jwt" {
		t.Errorf("Content-Type = %q", ct)
	}
	if res.header.Get("ETag") == "" {
		t.Error("no ETag")
	}
	jws, err := jose.ParseSigned(string(res.body))
	if err != nil || len(jws.Signatures) != 1 {
		t.Fatalf("status list is not a JWS: %v: %s", err, res.body)
	}
	h := jws.Signatures[0].Protected
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "statuslist+jwt" {
		t.Errorf("typ = %v, want statuslist+jwt", typ)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 || keys[0].Algorithm != h.Algorithm {
		t.Fatalf("kid %q alg %s: not a key of the JWKS", h.KeyID, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("status list signature: %v", err)
	}
	var c struct {
		Sub        string `json:"sub"`
		Iat        int64  `json:"iat"`
		Exp        int64  `json:"exp"`
		TTL        int64  `json:"ttl"`
		StatusList struct {
			Bits int    `json:"bits"`
			Lst  string `json:"lst"`
		} `json:"status_list"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c.Sub != uri || c.Iat == 0 || c.Exp <= c.Iat || c.TTL <= 0 || c.StatusList.Bits != 1 {
		t.Errorf("status list claims = %s", payload)
	}
	if cc := res.header.Get("Cache-Control"); cc != "max-age="+strconv.FormatInt(c.TTL, 10) {
		t.Errorf("Cache-Control = %q, want max-age=%d", cc, c.TTL)
	}
	if strings.ContainsAny(c.StatusList.Lst, "=+/") {
		t.Errorf("lst is not base64url without padding")
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.StatusList.Lst)
	if err != nil {
		t.Fatalf("lst: %v", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("lst is not zlib: %v", err)
	}
	if l.bits, err = io.ReadAll(zr); err != nil {
		t.Fatalf("lst: %v", err)
	}
	l.ttl, l.iat, l.exp = c.TTL, c.Iat, c.Exp
	return l
}

// statusBit is the bit of an access token in the list it names, fetched
// from node s.
func (s *testServer) statusBit(t testing.TB, set *jose.JSONWebKeySet, token string) int {
	t.Helper()
	_, uri, idx := statusClaims(t, set, token)
	l := s.fetchStatusList(t, set, s.URL+strings.TrimPrefix(uri, s.issuerOf(t, uri)))
	if l.res.status != http.StatusOK {
		t.Fatalf("GET %s: %s", uri, l.res)
	}
	return l.bit(idx)
}

// issuerOf is the scheme and host of uri, so a second node can be asked
// for a URI the first one's issuer names.
func (s *testServer) issuerOf(t testing.TB, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Scheme + "://" + u.Host
}

// TestStatusListClaims: every JWT access token (password, refresh,
// client_credentials) carries sid, its login's id, and a status list
// entry under the issuer's /oauth2/status/; indexes are distinct; the list
// it names answers with the token's bit 0; the metadata names the
// aggregation endpoint, which lists the list.
func TestStatusListClaims(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT(""))
	uid := s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	svc := s.createClient(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}})
	tok := s.login(t, app, "alice", "pw-alice", "")
	set := s.fetchJWKS(t) // the first token request made the key
	res := s.refresh(t, app, tok.Refresh, "")
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	refreshed := str(res.object(t)["access_token"])
	cc := s.tokenOK(t, svc, url.Values{"grant_type": {"client_credentials"}})

	sessions := s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil).object(t)["items"].([]any)
	if len(sessions) != 1 {
		t.Fatalf("sessions = %v", sessions)
	}
	sessionID := str(sessions[0].(map[string]any)["id"])

	seen := map[string]bool{}
	for _, tc := range []struct{ name, token, sid string }{
		{"password", tok.Access, sessionID},
		{"refresh", refreshed, sessionID},
		{"client_credentials", cc.Access, ""},
	} {
		sid, uri, idx := statusClaims(t, set, tc.token)
		if tc.sid != "" && sid != tc.sid || sid == "" {
			t.Errorf("%s: sid = %q, want the session id %q", tc.name, sid, tc.sid)
		}
		if !strings.HasPrefix(uri, s.URL+"/oauth2/status/") {
			t.Errorf("%s: uri = %q", tc.name, uri)
		}
		key := uri + "#" + strconv.FormatInt(idx, 10)
		if seen[key] {
			t.Errorf("%s: entry %s given twice", tc.name, key)
		}
		seen[key] = true
		if b := s.statusBit(t, set, tc.token); b != 0 {
			t.Errorf("%s: bit = %d before any revocation", tc.name, b)
		}
	}

	meta := s.get(t, "/.well-known/oauth-authorization-server").object(t)
	if got := str(meta["status_list_aggregation_endpoint"]); got != s.URL+"/oauth2/status" {
		t.Fatalf("status_list_aggregation_endpoint = %q", got)
	}
	agg := s.get(t, "/oauth2/status")
	if agg.status != http.StatusOK || agg.header.Get("Cache-Control") != "max-age=10" {
		t.Fatalf("aggregation: %s %v", agg, agg.header)
	}
	var lists struct {
		StatusLists []string `json:"status_lists"`
	}
	if err := json.Unmarshal(agg.body, &lists); err != nil {
		t.Fatal(err)
	}
	_, uri, _ := statusClaims(t, set, tok.Access)
	if len(lists.StatusLists) != 1 || lists.StatusLists[0] != uri {
		t.Errorf("status_lists = %v, want [%s]", lists.StatusLists, uri)
	}
}

// TestStatusListRevocations: every kind of revocation sets the bit of
// each live access token of the logins it ends before its call returns,
// and of no other token; a second node with a store of its own on the
// same database serves the bit too (on PostgreSQL with
// LATCH_TEST_DATABASE_URL, else on the same SQLite file).
func TestStatusListRevocations(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT(""), withGrace(0))
	other := newTestServer(t, withJWT(""), withDatabaseOf(s), withSecret(s.secret))
	app := s.newPasswordClient(t, "app", "client_secret_basic")

	// bystander is another user's login, which no case ends.
	s.createUser(t, "bob", "pw-bob")
	bystander := s.login(t, app, "bob", "pw-bob", "")
	set := s.fetchJWKS(t)

	n := 0
	newUser := func(t *testing.T) (string, string) {
		n++
		name := "user" + strconv.Itoa(n)
		return s.createUser(t, name, "pw-"+name), name
	}
	for _, tc := range []struct {
		name string
		// revoke ends the login of tokens (all of the user uid, logged in
		// through c) and returns the tokens that must be revoked.
		revoke func(t *testing.T, uid, name string, c client) []string
	}{
		{"rfc7009 access token", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			if res := s.post(t, "/oauth2/revoke", c, url.Values{"token": {tok.Access}}); res.status != http.StatusOK {
				t.Fatalf("revoke: %s", res)
			}
			return []string{tok.Access}
		}},
		{"rfc7009 refresh token, both access tokens of the login", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			res := s.refresh(t, c, tok.Refresh, "")
			if res.status != http.StatusOK {
				t.Fatalf("refresh: %s", res)
			}
			m := res.object(t)
			if res := s.post(t, "/oauth2/revoke", c, url.Values{"token": {str(m["refresh_token"])}}); res.status != http.StatusOK {
				t.Fatalf("revoke: %s", res)
			}
			return []string{tok.Access, str(m["access_token"])}
		}},
		{"reuse detection", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			res := s.refresh(t, c, tok.Refresh, "")
			if res.status != http.StatusOK {
				t.Fatalf("refresh: %s", res)
			}
			wantOAuthError(t, "reuse", s.refresh(t, c, tok.Refresh, ""), http.StatusBadRequest, "invalid_grant")
			return []string{tok.Access, str(res.object(t)["access_token"])}
		}},
		{"admin session revoke", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			sid, _, _ := statusClaims(t, set, tok.Access)
			if res := s.adminDo(t, http.MethodDelete, "/admin/sessions/"+sid, nil); res.status != http.StatusNoContent {
				t.Fatalf("revoke session: %s", res)
			}
			return []string{tok.Access}
		}},
		{"logout everywhere", func(t *testing.T, uid, name string, c client) []string {
			a := s.login(t, c, name, "pw-"+name, "")
			b := s.login(t, c, name, "pw-"+name, "")
			if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+uid+"/sessions", nil); res.status != http.StatusNoContent {
				t.Fatalf("logout everywhere: %s", res)
			}
			return []string{a.Access, b.Access}
		}},
		{"password change", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			if res := s.adminDo(t, http.MethodPut, "/admin/users/"+uid+"/password", map[string]any{"password": "new-pw"}); res.status != http.StatusNoContent {
				t.Fatalf("password: %s", res)
			}
			return []string{tok.Access}
		}},
		{"disable", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			if res := s.adminDo(t, http.MethodPatch, "/admin/users/"+uid, map[string]any{"disabled": true}); res.status != http.StatusOK {
				t.Fatalf("disable: %s", res)
			}
			return []string{tok.Access}
		}},
		{"delete user", func(t *testing.T, uid, name string, c client) []string {
			tok := s.login(t, c, name, "pw-"+name, "")
			if res := s.adminDo(t, http.MethodDelete, "/admin/users/"+uid, nil); res.status != http.StatusNoContent {
				t.Fatalf("delete user: %s", res)
			}
			return []string{tok.Access}
		}},
		{"client delete", func(t *testing.T, uid, name string, c client) []string {
			doomed := s.newPasswordClient(t, "doomed-"+name, "client_secret_basic")
			tok := s.login(t, doomed, name, "pw-"+name, "")
			cc := s.createClient(t, map[string]any{"client_id": "doomed-svc-" + name, "grant_types": []string{"client_credentials"}})
			svcTok := s.tokenOK(t, cc, url.Values{"grant_type": {"client_credentials"}})
			for _, id := range []string{doomed.ID, cc.ID} {
				if res := s.adminDo(t, http.MethodDelete, "/admin/clients/"+id, nil); res.status != http.StatusNoContent {
					t.Fatalf("delete client: %s", res)
				}
			}
			return []string{tok.Access, svcTok.Access}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, name := newUser(t)
			revoked := tc.revoke(t, uid, name, app)
			for i, tok := range revoked {
				if b := s.statusBit(t, set, tok); b != 1 {
					t.Errorf("token %d: bit = %d on the revoking node, want 1", i, b)
				}
				if b := other.statusBit(t, set, tok); b != 1 {
					t.Errorf("token %d: bit = %d on the other node, want 1", i, b)
				}
			}
			if b := s.statusBit(t, set, bystander.Access); b != 0 {
				t.Errorf("bystander's bit = %d", b)
			}
		})
	}
}

// TestStatusListCaching: answers carry an ETag that If-None-Match turns
// into a 304 while the list is unchanged, and a revocation changes the
// answer (and its ETag) at once, on this node and on another one that had
// the list cached.
func TestStatusListCaching(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT(""))
	other := newTestServer(t, withJWT(""), withDatabaseOf(s), withSecret(s.secret))
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok := s.login(t, app, "alice", "pw-alice", "")
	set := s.fetchJWKS(t)
	_, uri, idx := statusClaims(t, set, tok.Access)
	path := strings.TrimPrefix(uri, s.URL)

	first := s.fetchStatusList(t, set, uri)
	etag := first.res.header.Get("ETag")
	if first.bit(idx) != 0 || etag == "" {
		t.Fatalf("first: bit %d, ETag %q", first.bit(idx), etag)
	}
	if l := s.fetchStatusList(t, set, uri, "If-None-Match", etag); l.res.status != http.StatusNotModified || len(l.res.body) != 0 {
		t.Errorf("If-None-Match with the current ETag: %s, want 304 without a body", l.res)
	} else if l.res.header.Get("ETag") != etag || l.res.header.Get("Cache-Control") != "max-age=10" {
		t.Errorf("304 headers: %v", l.res.header)
	}
	if l := s.fetchStatusList(t, set, uri, "If-None-Match", `"other", W/`+etag); l.res.status != http.StatusNotModified {
		t.Errorf("If-None-Match with a list of tags holding the weak form: %s, want 304", l.res)
	}
	if l := s.fetchStatusList(t, set, uri, "If-None-Match", `"other"`); l.res.status != http.StatusOK {
		t.Errorf("If-None-Match with another ETag: %s, want 200", l.res)
	}
	// The other node caches the list too.
	if b := other.fetchStatusList(t, set, other.URL+path).bit(idx); b != 0 {
		t.Fatalf("other node: bit %d", b)
	}

	if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {tok.Refresh}}); res.status != http.StatusOK {
		t.Fatalf("revoke: %s", res)
	}
	l := s.fetchStatusList(t, set, uri, "If-None-Match", etag)
	if l.res.status != http.StatusOK || l.bit(idx) != 1 || l.res.header.Get("ETag") == etag {
		t.Errorf("after revocation, with the old ETag: %d, bit %d, ETag %q", l.res.status, l.bit(idx), l.res.header.Get("ETag"))
	}
	if b := other.fetchStatusList(t, set, other.URL+path).bit(idx); b != 1 {
		t.Errorf("other node after revocation: bit %d, want 1", b)
	}
}

// TestStatusListNotFound: an unknown list, and every list and the
// aggregation with opaque access tokens, answer a JSON 404; opaque tokens
// carry no status and the metadata names no aggregation endpoint.
func TestStatusListNotFound(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withJWT(""))
	for _, p := range []string{"/oauth2/status/nosuchlist", "/oauth2/status/%00", "/oauth2/status/" + strings.Repeat("x", 300)} {
		wantOAuthError(t, p, s.get(t, p), http.StatusNotFound, "not_found")
	}

	opaque := newTestServer(t)
	opaque.createUser(t, "alice", "pw-alice")
	app := opaque.newPasswordClient(t, "app", "client_secret_basic")
	tok := opaque.login(t, app, "alice", "pw-alice", "")
	if !strings.HasPrefix(tok.Access, oauth.AccessTokenPrefix) {
		t.Fatalf("access token %q is not opaque", tok.Access)
	}
	for _, p := range []string{"/oauth2/status", "/oauth2/status/anything"} {
		wantOAuthError(t, p, opaque.get(t, p), http.StatusNotFound, "not_found")
	}
	if _, ok := opaque.get(t, "/.well-known/oauth-authorization-server").object(t)["status_list_aggregation_endpoint"]; ok {
		t.Error("metadata names status_list_aggregation_endpoint with opaque tokens")
	}
	in := opaque.wantActive(t, "opaque", tok.Access)
	if _, ok := in["status"]; ok {
		t.Errorf("introspection of an opaque token has a status: %v", in)
	}
}

// TestStatusListJanitor: once every token of a list has expired, the
// janitor drops the list; it then answers 404 and leaves the aggregation.
func TestStatusListJanitor(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newTestServer(t, withJWT(""), withClock(clk), withLifetimes(5*time.Minute, time.Hour, 2*time.Hour))
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok := s.login(t, app, "alice", "pw-alice", "")
	set := s.fetchJWKS(t)
	_, uri, _ := statusClaims(t, set, tok.Access)

	// Within the token's life and the range's margins, the list stays.
	clk.Advance(5 * time.Minute)
	if _, err := s.provider.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l := s.fetchStatusList(t, set, uri); l.res.status != http.StatusOK {
		t.Fatalf("list gone while it may cover a live token: %s", l.res)
	}
	clk.Advance(time.Hour)
	n, err := s.provider.Purge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n.StatusLists != 1 {
		t.Errorf("purged %d status lists, want 1", n.StatusLists)
	}
	wantOAuthError(t, "dropped list", s.get(t, strings.TrimPrefix(uri, s.URL)), http.StatusNotFound, "not_found")
	if agg := s.get(t, "/oauth2/status"); !strings.Contains(string(agg.body), `"status_lists":[]`) {
		t.Errorf("aggregation after the drop: %s", agg)
	}
	// A new token starts a new list.
	tok = s.login(t, app, "alice", "pw-alice", "")
	if _, uri2, _ := statusClaims(t, set, tok.Access); uri2 == uri {
		t.Errorf("new token in the dropped list %s", uri)
	}
}
