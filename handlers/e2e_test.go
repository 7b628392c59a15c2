package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// clientCtx makes golang.org/x/oauth2 talk to the test server.
func (s *testServer) clientCtx(t testing.TB) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, s.srv.Client())
}

func (s *testServer) oauth2Config(c client, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		Endpoint:     oauth2.Endpoint{TokenURL: s.URL + "/oauth2/token", AuthStyle: style},
	}
}

// wantRetrieveError asserts that err is an RFC 6749 error answer.
func wantRetrieveError(t testing.TB, what string, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("%s: err = %v, want *oauth2.RetrieveError", what, err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Errorf("%s: got %d %q (%s), want %d %q", what, re.Response.StatusCode, re.ErrorCode, re.Body, status, code)
	}
}

func checkTokens(t testing.TB, tok *oauth2.Token, wantRefresh bool) {
	t.Helper()
	if !strings.HasPrefix(tok.AccessToken, "latch_at_") {
		t.Errorf("access token %q lacks the latch_at_ prefix", tok.AccessToken)
	}
	if wantRefresh && !strings.HasPrefix(tok.RefreshToken, "latch_rt_") {
		t.Errorf("refresh token %q lacks the latch_rt_ prefix", tok.RefreshToken)
	}
	if !wantRefresh && tok.RefreshToken != "" {
		t.Errorf("unexpected refresh token")
	}
	// Case does not matter (RFC 6749 §5.1), but Latch writes RFC 6750's
	// "Bearer" here as in introspection answers.
	if tok.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", tok.TokenType)
	}
	exp, _ := tok.Extra("expires_in").(float64)
	if exp < 890 || exp > 900 {
		t.Errorf("expires_in = %v, want about 900", tok.Extra("expires_in"))
	}
}

// TestPasswordGrantWithOAuth2Client runs the password grant and a refresh
// with golang.org/x/oauth2 for both confidential authentication styles and
// for a public client.
func TestPasswordGrantWithOAuth2Client(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	s.createUser(t, "alice", "correct horse")
	for _, tc := range []struct {
		name   string
		method string
		style  oauth2.AuthStyle
	}{
		{"client_secret_basic", "client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", "client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.newPasswordClient(t, "app-"+tc.name, tc.method)
			cfg := s.oauth2Config(c, tc.style)
			ctx := s.clientCtx(t)
			tok, err := cfg.PasswordCredentialsToken(ctx, "alice", "correct horse")
			if err != nil {
				t.Fatal(err)
			}
			checkTokens(t, tok, true)
			if got := tok.Extra("scope"); got != "read write" {
				t.Errorf("scope = %v, want the client's scopes", got)
			}

			// Refresh through the token source with a token that has expired.
			old := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
			next, err := cfg.TokenSource(ctx, old).Token()
			if err != nil {
				t.Fatal(err)
			}
			checkTokens(t, next, true)
			if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken {
				t.Fatalf("refresh did not rotate: %+v", next)
			}
			s.wantActive(t, "new access token", next.AccessToken)

			// The spent refresh token again (no grace): reuse, the whole
			// family ends.
			_, err = cfg.TokenSource(ctx, old).Token()
			wantRetrieveError(t, "reused refresh token", err, http.StatusBadRequest, "invalid_grant")
			s.wantRefreshDead(t, "newest refresh token after reuse", c, next.RefreshToken)
			s.wantInactive(t, "newest access token after reuse", next.AccessToken)
			s.wantInactive(t, "first access token after reuse", tok.AccessToken)
		})
	}
	t.Run("public client", func(t *testing.T) {
		// token_endpoint_auth_method none: client_id only, for the login
		// and for the refresh.
		c := s.newPasswordClient(t, "spa", "none")
		if c.Secret != "" {
			t.Errorf("public client got a secret")
		}
		cfg := s.oauth2Config(c, oauth2.AuthStyleInParams)
		ctx := s.clientCtx(t)
		tok, err := cfg.PasswordCredentialsToken(ctx, "alice", "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		checkTokens(t, tok, true)
		next, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
		if err != nil {
			t.Fatal(err)
		}
		checkTokens(t, next, true)

		// A public client cannot pretend to be confidential with a made-up secret.
		res := s.post(t, "/oauth2/token", client{ID: c.ID, Secret: "made-up", AuthMethod: "client_secret_post"},
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}})
		if res.status == http.StatusOK {
			t.Errorf("public client with a secret: got 200")
		}
	})
}

// TestClientCredentialsWithOAuth2Client runs client_credentials through
// golang.org/x/oauth2/clientcredentials in both authentication styles.
func TestClientCredentialsWithOAuth2Client(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, tc := range []struct {
		name   string
		method string
		style  oauth2.AuthStyle
	}{
		{"client_secret_basic", "client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", "client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.createClient(t, map[string]any{
				"client_id":                  "svc-" + tc.name,
				"grant_types":                []string{"client_credentials"},
				"scope":                      "jobs:read jobs:write",
				"token_endpoint_auth_method": tc.method,
			})
			cfg := clientcredentials.Config{
				ClientID: c.ID, ClientSecret: c.Secret, TokenURL: s.URL + "/oauth2/token",
				Scopes: []string{"jobs:read"}, AuthStyle: tc.style,
			}
			tok, err := cfg.Token(s.clientCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			checkTokens(t, tok, false)
			in := s.wantActive(t, "client_credentials token", tok.AccessToken)
			if in["scope"] != "jobs:read" || in["client_id"] != c.ID {
				t.Errorf("introspection = %v", in)
			}
			for _, k := range []string{"sub", "username"} {
				if _, ok := in[k]; ok {
					t.Errorf("client_credentials token introspects with %q: %v", k, in)
				}
			}

			cfg.ClientSecret = "wrong"
			_, err = cfg.Token(s.clientCtx(t))
			wantRetrieveError(t, "wrong secret", err, http.StatusUnauthorized, "invalid_client")
		})
	}

	// client_secret_basic credentials are form-url-encoded before Base64
	// (RFC 6749 §2.3.1), so an operator-chosen secret with reserved
	// characters works through golang.org/x/oauth2.
	t.Run("form-encoded Basic credentials", func(t *testing.T) {
		secret := "a b+c%d:e/f?g&h=i~"
		c := s.createClient(t, map[string]any{
			"client_id":     "svc:weird id",
			"client_secret": secret,
			"grant_types":   []string{"client_credentials"},
		})
		if c.Secret != secret {
			t.Fatalf("client_secret = %q, want the operator's %q", c.Secret, secret)
		}
		cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: s.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cfg.Token(s.clientCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		checkTokens(t, tok, false)
	})
}
