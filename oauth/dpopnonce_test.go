package oauth

import (
	"errors"
	"net/http"
	"testing"

	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestDPoPNonces: with LATCH_DPOP_NONCE=on a proof without the server's
// nonce is refused with use_dpop_nonce before its jti is stored; a nonce
// lives one to two buckets (DPoPMaxAge), is accepted by every node with the
// same secret, and by none with another.
func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	on := func(c *Config) { c.DPoPNonce = true }
	f := newFixtureOn(t, a, on)
	if _, _, err := f.p.CreateClient(t.Context(), ClientSpec{ID: "spa", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read", AuthMethod: "none"}); err != nil {
		t.Fatal(err)
	}
	g := f.node(t, b)
	key := newDPoPKey(t, "ES256")
	htu := f.cfg.Issuer + "/oauth2/token"
	proof := func(nonce string) string {
		return key.sign(t, proofSpec{htm: http.MethodPost, htu: htu, iat: f.clock.Now(), tweak: func(_, c map[string]any) {
			if nonce != "" {
				c["nonce"] = nonce
			}
		}})
	}
	wantNonceError := func(what string, r dpopAnswer) {
		t.Helper()
		if r.status != http.StatusBadRequest || r.Error != "use_dpop_nonce" {
			t.Fatalf("%s: %d %q, want 400 use_dpop_nonce", what, r.status, r.Error)
		}
	}
	wantNonceError("no nonce", f.dpopToken(t, "spa", "", proof(""), alicePasswordForm()))
	wantNonceError("made-up nonce", f.dpopToken(t, "spa", "", proof("bm9wZQ"), alicePasswordForm()))

	nonce, ok := f.p.DPoPNonce()
	if !ok || nonce == "" {
		t.Fatal("no nonce with LATCH_DPOP_NONCE=on")
	}
	r0 := g.dpopToken(t, "spa", "", proof(nonce), alicePasswordForm())
	if r0.status != http.StatusOK || r0.TokenType != TokenTypeDPoP {
		t.Fatalf("the other node, with this node's nonce: %+v", r0)
	}
	// Within the next bucket the nonce still works; after it, no more,
	// and the refused refresh spends nothing.
	f.clock.Advance(DefaultDPoPMaxAge)
	if r := f.dpopToken(t, "spa", "", proof(nonce), alicePasswordForm()); r.status != http.StatusOK {
		t.Fatalf("nonce of the previous bucket: %+v", r)
	}
	f.clock.Advance(DefaultDPoPMaxAge)
	wantNonceError("expired nonce", f.dpopToken(t, "spa", "", proof(nonce), refreshForm(r0.RefreshToken)))
	fresh, _ := f.p.DPoPNonce()
	if r := f.dpopToken(t, "spa", "", proof(fresh), refreshForm(r0.RefreshToken)); r.status != http.StatusOK {
		t.Fatalf("refresh with a fresh nonce after a refusal: %+v", r)
	}

	other := newFixture(t, on)
	if other.p.nonces.valid(fresh, f.clock.Now()) {
		t.Fatal("a node with another secret accepts the nonce")
	}
	if _, ok := newFixture(t, nil).p.DPoPNonce(); ok {
		t.Fatal("a nonce with LATCH_DPOP_NONCE=off")
	}
	if !errors.Is(f.p.checkNonce(&dpopProof{Nonce: fresh + "x"}), ErrUseDPoPNonce) {
		t.Fatal("a nonce with a byte more is accepted")
	}
}
