package oauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ory/fosite"
)

// FuzzTokenEndpoint throws arbitrary form bodies and Authorization headers
// (Basic auth parsing, form parsing, scope strings, token strings) at the
// whole token endpoint on a real store. Whatever comes in, the answer is an
// RFC 6749 error or a token — never a 5xx, never a panic.
func FuzzTokenEndpoint(f *testing.F) {
	fx := newFixture(f, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+fx.secret))
	f.Add("grant_type=password&username=alice&password=wrong", basic)
	f.Add("grant_type=refresh_token&refresh_token=latch_rt_x.y", basic)
	f.Add("grant_type=client_credentials&scope=read%20%20write", basic)
	f.Add("grant_type=password&scope=read&scope=write", basic)
	f.Add("grant_type=password&username=alice&password=x", "Basic "+base64.StdEncoding.EncodeToString([]byte("a%ZZ:b")))
	// A secret whose form-url-encoding does not decode, a second method
	// beside Basic, and Basic with no credentials at all.
	f.Add("grant_type=client_credentials", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b%c+d:s:e%c+r t")))
	f.Add("grant_type=client_credentials&client_id=app&client_secret="+fx.secret, basic)
	f.Add("grant_type=client_credentials&client_id=app", "Basic")
	f.Add("client_id=app&client_secret=x&grant_type=password", "")
	f.Add("%%%", "Basic !!!")
	f.Add("grant_type=refresh_token&refresh_token=latch_rt_"+strings.Repeat("A", 43)+"."+strings.Repeat("B", 43), basic)
	f.Fuzz(func(t *testing.T, body, authorization string) {
		if strings.Contains(body, "password=correct") {
			t.Skip("a real login costs an argon2id hash; not what this fuzzes")
		}
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		_, _, err := fx.p.Token(r.Context(), r)
		if err == nil {
			return
		}
		rfc := fosite.ErrorToRFC6749Error(err)
		if rfc.CodeField >= 500 || rfc.ErrorField == "" {
			t.Fatalf("body %q auth %q: %d %q (%v)", body, authorization, rfc.CodeField, rfc.ErrorField, err)
		}
	})
}

// FuzzScopeToken checks the RFC 6749 §3.3 scope-token rule against its
// definition, byte by byte.
func FuzzScopeToken(f *testing.F) {
	for _, s := range []string{"read", "a:b/c", `x"y`, "a\\b", "é", "", " ", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= 128
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)) {
				want = false
			}
		}
		if got := checkScopeToken(s) == nil; got != want {
			t.Fatalf("checkScopeToken(%q) ok=%v, want %v", s, got, want)
		}
	})
}
