package bearer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchhq/latch/oauth/bearer"
)

// FuzzToken feeds arbitrary Authorization headers to the bearer parser
// that resource servers and the admin API share. A token it finds is non-empty and free of blanks, and is
// found again in a header that spells the scheme differently.
func FuzzToken(f *testing.F) {
	for _, seed := range []string{
		"Bearer abc", "bearer abc", "BEARER   abc", // the scheme is case-insensitive
		"Bearer ", "Bearer", "Bearer a b", "Bearer a\tb", // no token
		"Basic YTpi", "abc", "", " Bearer abc",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		tok, ok := bearer.Token(r)
		if !ok {
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t") {
			t.Fatalf("token %q from %q", tok, h)
		}
		r.Header.Set("Authorization", "bEaReR "+tok)
		if again, ok := bearer.Token(r); !ok || again != tok {
			t.Fatalf("token %q from %q, but %q, %v from bEaReR", tok, h, again, ok)
		}
	})
}
