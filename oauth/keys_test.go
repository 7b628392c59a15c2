package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
)

func jwtFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixture(t, func(c *Config) { c.AccessTokenFormat = FormatJWT })
}

// TestSealedSigningKey: a private key opens with the secret it was sealed
// under, also when that secret has become an old one, and with nothing
// else; it cannot be moved to another kid.
func TestSealedSigningKey(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(oldSecret)
	_, _ = rand.Read(newSecret)
	for _, alg := range []string{AlgES256, AlgRS256} {
		k, err := newSigningKey(alg, oldSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(k.PrivateSealed, k.PublicKey[len(k.PublicKey)-16:]) {
			t.Errorf("%s: the sealed key holds the public key in the clear", alg)
		}
		if _, err := openPrivateKey([][]byte{newSecret, oldSecret}, k.ID, k.PrivateSealed); err != nil {
			t.Errorf("%s: with the old secret listed: %v", alg, err)
		}
		if _, err := openPrivateKey([][]byte{newSecret}, k.ID, k.PrivateSealed); err == nil {
			t.Errorf("%s: opened without its secret", alg)
		}
		if _, err := openPrivateKey([][]byte{oldSecret}, "other-kid", k.PrivateSealed); err == nil {
			t.Errorf("%s: opened under another kid", alg)
		}
	}
	if _, err := newSigningKey("HS256", oldSecret, time.Now()); ErrorCode(err) != EInvalid {
		t.Errorf("HS256: err = %v, want code EInvalid", err)
	}
}

// TestSigningKeysAcrossNodes: two nodes on one database. A token signed
// with a key the verifying node has not seen yet verifies (it rereads the
// keys on an unknown kid); after a rotation on one node, tokens signed by
// the other node with the retired key stay valid.
func TestSigningKeysAcrossNodes(t *testing.T) {
	t.Parallel()
	a := jwtFixture(t)
	b := a.node(t, a.store)
	first := a.login(t)
	if !b.active(t, first.AccessToken) {
		t.Fatal("node b does not accept node a's first token")
	}
	if _, err := b.p.RotateSigningKey(t.Context(), AlgRS256); err != nil {
		t.Fatal(err)
	}
	fromB := b.login(t)
	if !a.active(t, fromB.AccessToken) {
		t.Fatal("node a does not accept a token signed by node b's new key")
	}
	// Node a still signs with its cached (now retired) key for a few
	// seconds; those tokens are valid everywhere.
	fromA := a.login(t)
	for _, n := range []*fixture{a, b} {
		for _, tok := range []string{first.AccessToken, fromA.AccessToken, fromB.AccessToken} {
			if !n.active(t, tok) {
				t.Errorf("a token is inactive on a node after rotation")
			}
		}
	}
}

// TestEnsureSigningKeyConcurrently: nodes starting at once each make sure
// of a key; whatever they create, all of them end up signing with the same
// newest current key.
func TestEnsureSigningKeyConcurrently(t *testing.T) {
	t.Parallel()
	a := jwtFixture(t)
	nodes := []*fixture{a, a.node(t, a.store), a.node(t, a.store), a.node(t, a.store)}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.p.EnsureSigningKey(context.Background()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var kid string
	for _, n := range nodes {
		set, err := n.p.keys.load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if set.signer == nil {
			t.Fatalf("a node cannot sign: %v", set.signErr)
		}
		if kid != "" && set.signKey.row.ID != kid {
			t.Errorf("nodes sign with different keys: %s and %s", kid, set.signKey.row.ID)
		}
		kid = set.signKey.row.ID
	}
}

// TestSigningKeyNeedsItsSecret: a node whose LATCH_SECRET cannot open the
// current key refuses to sign (serve then refuses to start) instead of
// issuing tokens no one can verify.
func TestSigningKeyNeedsItsSecret(t *testing.T) {
	t.Parallel()
	a := jwtFixture(t)
	if err := a.p.EnsureSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfg := a.cfg
	cfg.Secret = bytes.Repeat([]byte{7}, 32)
	p, err := NewProvider(cfg, a.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSigningKey(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot be opened") {
		t.Errorf("EnsureSigningKey with the wrong secret: %v", err)
	}
	cfg.OldSecrets = [][]byte{a.cfg.Secret}
	if p, err = NewProvider(cfg, a.store); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSigningKey(t.Context()); err != nil {
		t.Errorf("EnsureSigningKey with the secret listed as old: %v", err)
	}
}

// FuzzVerifyJWT: whatever string is presented as a JWT, verification never
// panics and accepts nothing but a token Latch issued, byte for byte
// (strict base64: no second spelling of a token verifies).
func FuzzVerifyJWT(f *testing.F) {
	fx := jwtFixture(f)
	issued := fx.login(f).AccessToken
	parts := strings.Split(issued, ".")
	f.Add(issued)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.")
	f.Add("a.b.c")
	f.Add(issued[:len(issued)-1] + "A")
	// go-jose by itself drops white space and "=" padding.
	f.Add(parts[0] + ".\n" + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + parts[1] + " ." + parts[2])
	f.Add(issued + "==")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := fx.p.verifyJWT(context.Background(), token)
		if err != nil && !errors.Is(err, errBadJWT) {
			t.Fatalf("verifyJWT(%q): unexpected error %v", token, err)
		}
		if err == nil && token != issued {
			t.Fatalf("verifyJWT accepted %q, claims %+v", token, c)
		}
	})
}

// TestVerifyJWTPinsAlgorithm: a token verifies only under the algorithm of
// the key its kid names. Signatures under another algorithm are refused,
// including one that go-jose would accept from the key itself (RS512 or
// PS256 with the RS256 key), HS256 keyed with the published public key,
// and none.
func TestVerifyJWTPinsAlgorithm(t *testing.T) {
	t.Parallel()
	f := jwtFixture(t)
	k, err := f.p.RotateSigningKey(t.Context(), AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	issued := f.login(t).AccessToken
	if _, err := f.p.verifyJWT(t.Context(), issued); err != nil {
		t.Fatalf("the issued token does not verify: %v", err)
	}
	payload, err := b64.DecodeString(strings.Split(issued, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	priv, err := openPrivateKey([][]byte{f.cfg.Secret}, k.ID, k.PrivateSealed)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(alg jose.SignatureAlgorithm, key any) string {
		t.Helper()
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
			(&jose.SignerOptions{}).WithType(typAccessToken).WithHeader("kid", k.ID))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		token, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	header := func(h string) string { return b64.EncodeToString([]byte(h)) }
	for _, tc := range []struct{ name, token string }{
		{"RS512 with the key", sign(jose.RS512, priv)},
		{"PS256 with the key", sign(jose.PS256, priv)},
		{"HS256 keyed with the public key", sign(jose.HS256, k.PublicKey)},
		{"ES256 with another key", sign(jose.ES256, other)},
		{"none", header(`{"alg":"none","kid":"`+k.ID+`","typ":"at+jwt"}`) + "." + b64.EncodeToString(payload) + "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := f.p.verifyJWT(t.Context(), tc.token); !errors.Is(err, errBadJWT) {
				t.Errorf("verifyJWT = %+v, %v; want errBadJWT", c, err)
			}
		})
	}
}

// TestJWTIntrospectionDeniedWithoutLogin: a JWT whose row the janitor has
// removed is inactive, and so is one of a revoked login.
func TestJWTIntrospectionDeniedWithoutLogin(t *testing.T) {
	t.Parallel()
	f := jwtFixture(t)
	r := f.login(t)
	if !f.active(t, r.AccessToken) {
		t.Fatal("fresh jwt inactive")
	}
	if err := f.revoke(t.Context(), r.AccessToken); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if f.active(t, r.AccessToken) {
		t.Fatal("revoked jwt active")
	}
	f.clock.Advance(16 * time.Minute)
	if _, err := f.p.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f.active(t, r.AccessToken) {
		t.Fatal("expired jwt active")
	}
}
