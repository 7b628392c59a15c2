package handlers_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestNothingUsableStoredOrLogged runs every flow and then reads every
// column of every table and the whole log: none may hold a token, a token's
// HMAC signature, a client secret, a password, the HMAC secret or the admin
// token (API.md, STYLE.md "Logging").
func TestNothingUsableStoredOrLogged(t *testing.T) {
	t.Parallel()
	t.Run("opaque", func(t *testing.T) { t.Parallel(); nothingUsableStoredOrLogged(t, false) })
	t.Run("jwt", func(t *testing.T) { t.Parallel(); nothingUsableStoredOrLogged(t, true) })
}

func nothingUsableStoredOrLogged(t *testing.T, jwt bool) {
	opts := []serverOption{withGrace(0)}
	if jwt {
		opts = append(opts, withJWT(""))
	}
	s := newTestServer(t, opts...)
	secrets := map[string]string{
		"admin token":     testAdminToken,
		"hmac secret hex": hex.EncodeToString(s.secret),
		"hmac secret b64": base64.StdEncoding.EncodeToString(s.secret),
		"hmac secret raw": string(s.secret),
		"introspector":    s.introspector.Secret,
	}
	addToken := func(name, tok string) {
		if tok == "" {
			t.Fatalf("%s: empty token", name)
		}
		secrets[name] = tok
		// An opaque token is key.signature, a JWT header.payload.signature:
		// the signature is what makes either usable.
		i := strings.LastIndex(tok, ".")
		if i < 0 || len(tok)-i-1 < 20 {
			t.Fatalf("%s: %q ends in no signature", name, tok)
		}
		secrets[name+" signature"] = tok[i+1:]
	}

	generated := s.newPasswordClient(t, "generated", "client_secret_basic")
	secrets["generated client secret"] = generated.Secret
	chosenSecret := "Operator-Chosen-Secret-7Qz!"
	chosen := s.createClient(t, map[string]any{
		"client_id": "chosen", "client_secret": chosenSecret, "token_endpoint_auth_method": "client_secret_post",
		"grant_types": []string{"client_credentials"}, "scope": "read write",
	})
	secrets["chosen client secret"] = chosenSecret
	pw1, pw2 := "Correct-Horse-Battery-91!", "Second-Password-Staple-42!"
	wrongPw := "Wrong-Guess-Password-55!"
	secrets["password"], secrets["new password"], secrets["wrong password"] = pw1, pw2, wrongPw
	uid := s.createUser(t, "alice", pw1)

	// Password grant, refresh, introspection, revocation.
	tok := s.login(t, generated, "alice", pw1, "")
	if isJWT := strings.Count(tok.Access, ".") == 2; isJWT != jwt {
		t.Fatalf("access token %q: a JWT is %v, want %v", tok.Access, isJWT, jwt)
	}
	addToken("access 1", tok.Access)
	addToken("refresh 1", tok.Refresh)
	res := s.refresh(t, generated, tok.Refresh, "read")
	if res.status != 200 {
		t.Fatalf("refresh: %s", res)
	}
	m := res.object(t)
	addToken("access 2", str(m["access_token"]))
	addToken("refresh 2", str(m["refresh_token"]))
	s.wantActive(t, "access 2", str(m["access_token"]))
	if res := s.post(t, "/oauth2/revoke", generated, url.Values{"token": {str(m["refresh_token"])}}); res.status != 200 {
		t.Fatalf("revoke: %s", res)
	}

	// A second login, reuse, a failed login, a password change.
	tok3 := s.login(t, generated, "alice", pw1, "")
	addToken("access 3", tok3.Access)
	addToken("refresh 3", tok3.Refresh)
	res = s.refresh(t, generated, tok3.Refresh, "")
	m = res.object(t)
	addToken("access 4", str(m["access_token"]))
	addToken("refresh 4", str(m["refresh_token"]))
	s.refresh(t, generated, tok3.Refresh, "") // reuse
	s.post(t, "/oauth2/token", generated, pwForm("alice", wrongPw))
	if res := s.adminDo(t, http.MethodPut, "/admin/users/"+uid+"/password", map[string]string{"password": pw2}); res.status != 204 {
		t.Fatalf("set password: %s", res)
	}
	tok5 := s.login(t, generated, "alice", pw2, "")
	addToken("access 5", tok5.Access)
	addToken("refresh 5", tok5.Refresh)

	// client_credentials, both clients.
	cc := s.tokenOK(t, chosen, url.Values{"grant_type": {"client_credentials"}})
	addToken("client_credentials access", cc.Access)
	cc2 := s.tokenOK(t, s.introspector, url.Values{"grant_type": {"client_credentials"}})
	addToken("introspector access", cc2.Access)
	s.wantActive(t, "client_credentials", cc.Access)
	if res := s.post(t, "/oauth2/revoke", chosen, url.Values{"token": {cc.Access}}); res.status != 200 {
		t.Fatalf("revoke cc: %s", res)
	}
	// Refused client authentications: what is logged about them must not
	// quote the secrets they carried, right or wrong, readable or not.
	wrongSecret := "Wrong-Client-Secret-Kx3!"
	secrets["wrong client secret"] = wrongSecret
	s.post(t, "/oauth2/token", client{ID: generated.ID, Secret: wrongSecret, AuthMethod: "client_secret_basic"}, pwForm("alice", pw2))
	s.post(t, "/oauth2/token", client{ID: generated.ID, Secret: generated.Secret, AuthMethod: "client_secret_post"}, pwForm("alice", pw2))
	s.postAuth(t, "/oauth2/token", []string{basicAuth(generated.ID, generated.Secret)}, url.Values{"grant_type": {"client_credentials"}, "client_secret": {generated.Secret}})
	s.postAuth(t, "/oauth2/introspect", []string{rawBasic(s.introspector.ID + ":" + wrongSecret + "%")}, url.Values{"token": {cc.Access}})
	// Guessing into a lockout: the guesses must not be kept either.
	for i := range 7 {
		guess := fmt.Sprintf("Lockout-Guess-%d-Zq8!", i)
		secrets[fmt.Sprintf("lockout guess %d", i)] = guess
		s.post(t, "/oauth2/token", generated, pwForm("mallory", guess))
	}
	if !strings.Contains(s.logs.String(), `"event":"lockout"`) {
		t.Fatal("seven wrong guesses locked nobody out")
	}
	// Admin reads, which must not echo anything either.
	s.adminDo(t, http.MethodGet, "/admin/clients", nil)
	s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil)

	rows := s.dump(t)
	if len(rows) < 20 {
		t.Fatalf("dump has only %d values; is it reading the right database?", len(rows))
	}
	if !slices.ContainsFunc(rows, func(r string) bool { return r == "users.username=alice" }) {
		t.Fatalf("dump lacks users.username=alice; is it reading the right database?")
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"audit"`) {
		t.Fatalf("no audit lines captured; is the log wired?")
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Errorf("%s: empty", name)
			continue
		}
		for _, row := range rows {
			if strings.Contains(row, secret) {
				t.Errorf("database holds the %s: %s", name, row)
			}
		}
		if strings.Contains(logs, secret) {
			t.Errorf("log holds the %s", name)
		}
	}
}
