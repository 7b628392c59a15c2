package oauth

import (
	"strings"
	"testing"
)

// TestNewIDNeverStartsWithDash: one random base64url string in 64 starts
// with "-", which a command line such as `latch users passwd ID` takes for
// a flag. Among 5,000 IDs, at least one would (all but certainly) without
// the rule.
func TestNewIDNeverStartsWithDash(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 5000 {
		id := newID(16)
		if strings.HasPrefix(id, "-") {
			t.Fatalf("newID returned %q", id)
		}
		if len(id) != 22 || seen[id] {
			t.Fatalf("newID returned %q: want 22 characters, never twice", id)
		}
		seen[id] = true
	}
}
