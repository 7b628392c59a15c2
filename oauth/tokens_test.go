package oauth

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func newTestStrategy(t testing.TB, secret []byte, old ...[]byte) *tokenStrategy {
	t.Helper()
	key, err := hmacKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	var rotated [][]byte
	for _, o := range old {
		k, err := hmacKey(o)
		if err != nil {
			t.Fatal(err)
		}
		rotated = append(rotated, k)
	}
	return newTokenStrategy(&fosite.Config{GlobalSecret: key, RotatedGlobalSecrets: rotated, TokenEntropy: 32})
}

func TestTokenParse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStrategy(t, bytes.Repeat([]byte{1}, 32))
	at, atSig, err := s.GenerateAccessToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, rtSig, err := s.GenerateRefreshToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(at, AccessTokenPrefix) || !strings.HasPrefix(rt, RefreshTokenPrefix) {
		t.Fatalf("tokens %q, %q lack their prefixes", at, rt)
	}
	key, val, _ := strings.Cut(strings.TrimPrefix(at, AccessTokenPrefix), ".")
	tests := []struct {
		name     string
		token    string
		wantOK   bool
		wantKind string
		wantKey  string
	}{
		{"access", at, true, "access", tokenKey(atSig)},
		{"refresh", rt, true, "refresh", tokenKey(rtSig)},
		{"no prefix", strings.TrimPrefix(at, AccessTokenPrefix), false, "", ""},
		{"wrong prefix", RefreshTokenPrefix + strings.TrimPrefix(at, AccessTokenPrefix), true, "refresh", tokenKey(atSig)},
		{"forged key, real signature", AccessTokenPrefix + "AAAA" + key[4:] + "." + val, false, "", ""},
		{"garbage", "latch_at_garbage", false, "", ""},
		{"empty", "", false, "", ""},
		{"huge", AccessTokenPrefix + strings.Repeat("a", 10000), false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := s.parse(ctx, tc.token)
			if ok != tc.wantOK || got.kind != tc.wantKind || got.key != tc.wantKey {
				t.Fatalf("parse = %+v, %v; want kind %q key %q ok %v", got, ok, tc.wantKind, tc.wantKey, tc.wantOK)
			}
		})
	}
}

func TestTokenKeyIsNotTheSignature(t *testing.T) {
	t.Parallel()
	if k := tokenKey("sig"); k == "sig" || strings.Contains(k, "sig") {
		t.Fatalf("tokenKey leaks the signature: %q", k)
	}
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldSecret, newSecret := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 40)
	old := newTestStrategy(t, oldSecret)
	tok, _, err := old.GenerateRefreshToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := newTestStrategy(t, newSecret).parse(ctx, tok); ok {
		t.Fatal("a token of the old secret validated without LATCH_SECRET_OLD")
	}
	if _, ok := newTestStrategy(t, newSecret, oldSecret).parse(ctx, tok); !ok {
		t.Fatal("a token of a retired secret listed in LATCH_SECRET_OLD did not validate")
	}
}

// TestRetiredSecretTokensLiveTheirLifetime: after a rotation of
// LATCH_SECRET, tokens issued under the retired secret (listed in
// LATCH_SECRET_OLD) keep working until their own expiry, and no longer; a
// refresh hands out tokens of the new secret.
func TestRetiredSecretTokensLiveTheirLifetime(t *testing.T) {
	t.Parallel()
	before := newFixture(t, nil)
	r0 := before.login(t)
	node := func(secret []byte, old ...[]byte) *fixture {
		cfg := before.cfg
		cfg.Secret, cfg.OldSecrets = secret, old
		return before.nodeWith(t, before.store, cfg)
	}
	newSecret := bytes.Repeat([]byte{9}, 32)
	after := node(newSecret, before.cfg.Secret)
	if !after.active(t, r0.AccessToken) {
		t.Fatal("an access token of the retired secret is inactive before its expiry")
	}
	before.clock.Advance(before.cfg.AccessTokenTTL + time.Second)
	if after.active(t, r0.AccessToken) {
		t.Fatal("an access token of the retired secret outlived its expiry")
	}
	r1 := after.refresh(t, r0.RefreshToken)
	if r1.status != http.StatusOK {
		t.Fatalf("refresh with a token of the retired secret: %d %q", r1.status, r1.Error)
	}
	if !node(newSecret).active(t, r1.AccessToken) {
		t.Error("the refreshed access token is not the new secret's")
	}
}

// TestHMACKeyUsesTheWholeSecret pins the fix for fosite using only the first
// 32 bytes of its secret (FOSITE.md §1.3).
func TestHMACKeyUsesTheWholeSecret(t *testing.T) {
	t.Parallel()
	a := append(bytes.Repeat([]byte{7}, 32), 1)
	b := append(bytes.Repeat([]byte{7}, 32), 2)
	tok, _, err := newTestStrategy(t, a).GenerateAccessToken(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := newTestStrategy(t, b).parse(context.Background(), tok); ok {
		t.Fatal("secrets that differ after byte 32 validate each other's tokens")
	}
}

// FuzzParseToken: any presented token string must parse without panicking;
// only strings with a Latch prefix may parse at all, and what parses is keyed
// by the hash of its own signature.
func FuzzParseToken(f *testing.F) {
	s := newTestStrategy(f, bytes.Repeat([]byte{3}, 32))
	at, _, _ := s.GenerateAccessToken(context.Background(), nil)
	f.Add(at)
	f.Add("latch_rt_.")
	f.Add("latch_at_a.b.c")
	f.Add("ory_at_x.y")
	f.Fuzz(func(t *testing.T, token string) {
		p, ok := s.parse(context.Background(), token)
		if !ok {
			return
		}
		raw, hasAT := strings.CutPrefix(token, AccessTokenPrefix)
		if !hasAT {
			var hasRT bool
			if raw, hasRT = strings.CutPrefix(token, RefreshTokenPrefix); !hasRT {
				t.Fatalf("%q parsed as %+v without a Latch prefix", token, p)
			}
		}
		key, sig, _ := strings.Cut(raw, ".")
		if p.key != tokenKey(sig) {
			t.Fatalf("%q parsed to key %q, not the hash of its signature", token, p.key)
		}
		if len(key) < 10 || len(sig) < 10 {
			return
		}
		// One token, one string.
		for name, other := range respellings(token) {
			if _, ok := s.parse(context.Background(), other); ok {
				t.Fatalf("%s: %q parsed as well as %q", name, other, token)
			}
		}
	})
}

// respellings returns other spellings of token, a prefixed key.signature,
// that Go's lenient base64 decoder reads as the same bytes, by name.
func respellings(token string) map[string]string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	prefix, raw := token[:len(AccessTokenPrefix)], token[len(AccessTokenPrefix):]
	key, sig, _ := strings.Cut(raw, ".")
	// 32 bytes are 43 characters, whose last carries 2 unused bits.
	flip := func(s string) string {
		last := s[len(s)-1]
		return s[:len(s)-1] + string(alphabet[strings.IndexByte(alphabet, last)^1])
	}
	out := map[string]string{
		"key's unused bits":           prefix + flip(key) + "." + sig,
		"signature's unused bits":     prefix + key + "." + flip(sig),
		"key padded":                  prefix + key + "=." + sig,
		"signature padded":            prefix + key + "." + sig + "=",
		"line break in the key":       prefix + key[:10] + "\n" + key[10:] + "." + sig,
		"line break in the signature": prefix + key + "." + sig[:10] + "\r\n" + sig[10:],
	}
	if std := strings.NewReplacer("-", "+", "_", "/").Replace(raw); std != raw {
		out["standard alphabet"] = prefix + std
	}
	return out
}

// TestTokenParseRefusesOtherSpellings: a token is recognised in the one
// spelling Latch issued it in; every other spelling of its bytes is not a
// token (it was, with the same storage key when only its key part
// differed).
func TestTokenParseRefusesOtherSpellings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestStrategy(t, bytes.Repeat([]byte{1}, 32))
	req := &fosite.Request{RequestedAt: time.Now().UTC(), Session: &fosite.DefaultSession{}}
	for _, kind := range []struct {
		generate func(context.Context, fosite.Requester) (string, string, error)
		validate func(context.Context, fosite.Requester, string) error
	}{{s.GenerateAccessToken, s.ValidateAccessToken}, {s.GenerateRefreshToken, s.ValidateRefreshToken}} {
		var token string
		// One with a character of base64url's own, for the alphabet swap;
		// after the prefix, which has one.
		for !strings.ContainsAny(token[min(len(token), len(AccessTokenPrefix)):], "-_") {
			var err error
			if token, _, err = kind.generate(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := kind.validate(ctx, req, token); err != nil {
			t.Fatalf("validate(%q) = %v for the token as issued", token, err)
		}
		if _, ok := s.parse(ctx, token); !ok {
			t.Fatalf("parse(%q) refused the token as issued", token)
		}
		for name, other := range respellings(token) {
			if _, ok := s.parse(ctx, other); ok {
				t.Errorf("%s: parse(%q) took it for %q", name, other, token)
			}
			if err := kind.validate(ctx, req, other); err == nil {
				t.Errorf("%s: validate(%q) = nil", name, other)
			}
		}
	}
}

// TestOtherSpellingsOfATokenAreRefused: another spelling of a refresh
// token is refused (invalid_grant), before and after its rotation; within
// the grace window that does not end the login, and the token as issued
// still gets its replay. (A retry with its key part respelled had been
// taken for the spent token, whose replay it could not open: reuse, and
// the family revoked.) Another spelling of an access token is inactive,
// and revokes nothing.
func TestOtherSpellingsOfATokenAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	login := f.login(t)
	for name, other := range respellings(login.RefreshToken) {
		t.Logf("refresh token, %s", name)
		wantGrantError(t, f.refresh(t, other))
	}
	for name, other := range respellings(login.AccessToken) {
		if f.active(t, other) {
			t.Errorf("access token, %s: active", name)
		}
		if err := f.revoke(context.Background(), other); err != nil {
			t.Errorf("access token, %s: revoke: %v", name, err)
		}
	}
	if !f.active(t, login.AccessToken) {
		t.Fatal("the access token as issued is inactive")
	}
	rotated := f.refresh(t, login.RefreshToken)
	if rotated.status != http.StatusOK {
		t.Fatalf("refresh as issued: %d %q", rotated.status, rotated.Error)
	}
	for name, other := range respellings(login.RefreshToken) {
		t.Logf("spent refresh token, %s", name)
		wantGrantError(t, f.refresh(t, other))
	}
	if again := f.refresh(t, login.RefreshToken); again.status != http.StatusOK || again.RefreshToken != rotated.RefreshToken {
		t.Fatalf("the replay in the grace window after respelled retries: %d %q", again.status, again.Error)
	}
	if !f.active(t, rotated.AccessToken) {
		t.Fatal("respelled retries ended the login")
	}
}
