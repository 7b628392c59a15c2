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
// seconds without a call to Latch per request. BenchmarkVerifyNoStatus is
// the same JWT check without a status claim, to tell the status lookup's
// share.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name   string
		format string
		opts   bearer.Options
	}{
		{"jwt+status", oauth.FormatJWT, bearer.Options{Audience: "https://api.example", RequireStatusList: true}},
		{"introspection", oauth.FormatOpaque, bearer.Options{ClientID: "rs", ClientSecret: "rs-secret"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLatch(b, tc.format, 10*time.Second)
			tc.opts.Issuer = l.URL
			v := mustVerifier(b, tc.opts)
			tok := l.token(b, "app")
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

// BenchmarkVerifyNoStatus verifies an ES256 JWT access token without a
// status claim (from a fake server): signature and claims only.
func BenchmarkVerifyNoStatus(b *testing.B) {
	fs := newFakeServer(b)
	v := mustVerifier(b, bearer.Options{Issuer: fs.URL})
	tok := fs.sign(b, "at+jwt", fs.claims("aud", time.Now().Add(time.Hour)))
	if _, err := v.Verify(b.Context(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
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
