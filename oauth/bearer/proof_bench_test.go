package bearer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// BenchmarkCheckProof prices the stateless part of a DPoP proof check
// (RFC 9449 §4.3) by algorithm: parsing, the jwk, one signature
// verification and its thumbprint. It is what DPoP adds to a token request
// besides the replay store's one insert, and what a resource server pays
// per request. The same proof is checked again and again: CheckProof keeps
// no replay state.
func BenchmarkCheckProof(b *testing.B) {
	const htu = "https://id.example.com/oauth2/token"
	now := time.Now()
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key func() (crypto.Signer, error)
	}{
		{jose.ES256, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{jose.EdDSA, func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
		{jose.RS256, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	} {
		b.Run(string(tc.alg), func(b *testing.B) {
			key, err := tc.key()
			if err != nil {
				b.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
			if err != nil {
				b.Fatal(err)
			}
			payload, _ := json.Marshal(map[string]any{"jti": "j", "htm": "POST", "htu": htu, "iat": now.Unix()})
			jws, err := signer.Sign(payload)
			if err != nil {
				b.Fatal(err)
			}
			proof, _ := jws.CompactSerialize()
			r := httptest.NewRequest(http.MethodPost, htu, nil)
			r.Header.Set(ProofHeader, proof)
			check := ProofCheck{HTU: htu, MaxAge: time.Minute, Now: now}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CheckProof(r, check); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
