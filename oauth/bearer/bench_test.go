package bearer_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/oauth/bearer"
)

// BenchmarkVerify measures what a resource server pays per request to
// check a Latch access token, against a real Latch on loopback (SQLite, or
// PostgreSQL with LATCH_TEST_DATABASE_URL):
//   - jwt+status: an ES256 JWT checked offline (signature, claims) plus its
//     bit in the status list the verifier holds: no network round trip;
//   - introspection: an opaque token introspected (RFC 7662) on every
//     request, the round trip and Latch's database read included.
//
// The gap between them is the point of status lists: revocation within
// seconds without a call to Latch per request. jwt-no-status is the JWT
// check without a status claim, to tell the status lookup's share.
func BenchmarkVerify(b *testing.B) {
	// latchToken sets up a Verifier and a token of a real Latch.
	latchToken := func(format string, opts bearer.Options) func(b *testing.B) (*bearer.Verifier, string) {
		return func(b *testing.B) (*bearer.Verifier, string) {
			l := newLatch(b, format, 10*time.Second)
			opts.Issuer = l.URL
			return mustVerifier(b, opts), l.token(b, "app")
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(b *testing.B) (*bearer.Verifier, string)
	}{
		{"jwt+status", latchToken(oauth.FormatJWT, bearer.Options{Audience: "https://api.example", RequireStatusList: true})},
		{"introspection", latchToken(oauth.FormatOpaque, bearer.Options{ClientID: "rs", ClientSecret: "rs-secret"})},
		// The JWT check alone, signature and claims: an ES256 token of a
		// fake server, without a status claim.
		{"jwt-no-status", func(b *testing.B) (*bearer.Verifier, string) {
			fs := newFakeServer(b)
			return mustVerifier(b, bearer.Options{Issuer: fs.URL}), fs.sign(b, "at+jwt", fs.claims("aud", time.Now().Add(time.Hour)))
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			v, tok := tc.setup(b)
			if _, err := v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStatusListWireSize reports the size on the wire of a status list
// of 1M live tokens at one bit each (125,000 bytes raw), zlib-compressed at
// the best level and base64url-encoded as the lst of a Status List Token,
// for a few revoked tokens and for 1% and 10% revoked at random indexes.
// The revoked indexes are spread at random, the worst case for DEFLATE;
// Latch hands out indexes in order, but revocations fall anywhere. What it
// measures is bytes (lst-bytes, and token-bytes with an ES256 JWS around
// it), not time.
func BenchmarkStatusListWireSize(b *testing.B) {
	const tokens = 1_000_000
	fs := newFakeServer(b)
	for _, tc := range []struct {
		name    string
		revoked int
	}{{"none", 0}, {"100", 100}, {"1pct", tokens / 100}, {"10pct", tokens / 10}} {
		b.Run(tc.name, func(b *testing.B) {
			bits := make([]byte, tokens/8)
			r := rand.New(rand.NewPCG(1, 2))
			for n := 0; n < tc.revoked; {
				i := r.IntN(tokens)
				if bits[i/8]&(1<<(i%8)) == 0 {
					bits[i/8] |= 1 << (i % 8)
					n++
				}
			}
			var lst string
			for b.Loop() {
				var z bytes.Buffer
				w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
				_, _ = w.Write(bits)
				_ = w.Close()
				lst = base64.RawURLEncoding.EncodeToString(z.Bytes())
			}
			tok := fs.sign(b, "statuslist+jwt", map[string]any{
				"sub": fs.URL + "/oauth2/status/0123456789abcdef", "iss": fs.URL, "iat": time.Now().Unix(),
				"exp": time.Now().Add(time.Hour).Unix(), "ttl": 10, "status_list": map[string]any{"bits": 1, "lst": lst},
			})
			b.ReportMetric(float64(len(lst)), "lst-bytes")
			b.ReportMetric(float64(len(tok)), "token-bytes")
		})
	}
}

// BenchmarkRevocationToRefusal measures, end to end against a real Latch
// with a 1s LATCH_STATUS_LIST_TTL, the time from a revocation call's return
// to the first refusal of the revoked token by a Verifier that checks it
// continuously (ns/op is that time). Expect about ttl/2 plus one fetch on
// average, at most ttl plus one fetch.
func BenchmarkRevocationToRefusal(b *testing.B) {
	l := newLatch(b, oauth.FormatJWT, time.Second)
	v := mustVerifier(b, bearer.Options{Issuer: l.URL, Audience: "https://api.example", RequireStatusList: true,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	var worst time.Duration
	for b.Loop() {
		b.StopTimer()
		tok := l.token(b, "app")
		if _, err := v.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
		// Start at a random point of the list's refresh cycle.
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		l.revoke(b, "app", tok)
		b.StartTimer()
		start := time.Now()
		for {
			_, err := v.Verify(b.Context(), tok)
			if errors.Is(err, bearer.ErrInvalidToken) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if time.Since(start) > time.Minute {
				b.Fatal("the revoked token was not refused within a minute")
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
