package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// BenchmarkJWT measures what JWT mode adds to every token request and to
// every introspection of a JWT: signing one access token (claims to compact
// JWS) and verifying one (parse, key lookup from the warm key ring,
// signature, claims). The store is not touched on either path once the key
// ring is loaded, so the figures are the JOSE cost alone, per algorithm.
func BenchmarkJWT(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256} {
		f := jwtFixture(b)
		ctx := context.Background()
		if _, err := f.p.RotateSigningKey(ctx, alg); err != nil {
			b.Fatal(err)
		}
		fam := &storage.Family{ID: "fam", ClientID: "app", UserID: "u1", Username: "alice", Audience: []string{"https://api.example"}}
		now := f.clock.Now()
		exp := now.Add(15 * time.Minute)
		scopes := []string{"read", "write"}
		slot := func() *statusSlot { return &statusSlot{list: "l1", idx: 12345} }
		token, _, err := f.p.issueAccessToken(ctx, nil, fam, scopes, now, exp, slot())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/sign", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := f.p.issueAccessToken(ctx, nil, fam, scopes, now, exp, slot()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.p.verifyJWT(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
