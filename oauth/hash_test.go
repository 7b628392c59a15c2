package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashRoundTrip(t *testing.T) {
	t.Parallel()
	argon, err := hashArgon2id("operator chosen", defaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, secret string
		want               error
	}{
		{"sha256 match", hashSHA256("generated-secret"), "generated-secret", nil},
		{"sha256 mismatch", hashSHA256("generated-secret"), "generated-secreT", errHashMismatch},
		{"argon2id match", argon, "operator chosen", nil},
		{"argon2id mismatch", argon, "operator chosen ", errHashMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := verifyHash(tc.hash, tc.secret); !errors.Is(err, tc.want) {
				t.Fatalf("verifyHash = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHashFormats(t *testing.T) {
	t.Parallel()
	if h := hashSHA256("x"); !strings.HasPrefix(h, "sha256$") || strings.Contains(h, "x$") {
		t.Fatalf("sha256 hash %q is not self-describing", h)
	}
	h, err := hashArgon2id("pw", defaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("argon2id hash %q does not carry OWASP parameters", h)
	}
	h2, _ := hashArgon2id("pw", defaultArgon2)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyHashRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, hash := range []string{
		"", "plain", "sha256$!!!", "$argon2id$v=19$m=1,t=1$x$y", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
	} {
		if err := verifyHash(hash, "secret"); err == nil || errors.Is(err, errHashMismatch) && hash == "" {
			t.Errorf("verifyHash(%q) = %v, want a format error", hash, err)
		}
	}
}

func TestSecretHasherIsFositeCompatible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := secretHasher{newPasswords(defaultArgon2, 1, time.Second)}
	hash, err := h.Hash(ctx, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, []byte("s3cret")); err != nil {
		t.Fatalf("Compare(right) = %v", err)
	}
	if err := h.Compare(ctx, hash, []byte("s3cre")); err == nil {
		t.Fatal("Compare(wrong) = nil")
	}
}

// FuzzVerifyHash feeds arbitrary stored hashes: a corrupt row must never
// panic or verify.
func FuzzVerifyHash(f *testing.F) {
	f.Add("sha256$AAAA", "x")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "x")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$", "")
	f.Fuzz(func(t *testing.T, hash, secret string) {
		if err := verifyHash(hash, secret); err == nil && !strings.HasPrefix(hash, "sha256$") && !strings.HasPrefix(hash, "$argon2id$") {
			t.Fatalf("unknown format %q verified", hash)
		}
	})
}
