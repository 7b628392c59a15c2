package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchhq/latch/oauth/argon2id"
)

// Hash formats are self-describing so that both kinds verify side by side and
// parameters can change without a migration:
//
//	sha256$<base64url digest>                         secrets Latch generates (256 bits of entropy)
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<digest>    passwords and operator-chosen secrets (PHC string)
const sha256Prefix = "sha256$"

// Argon2Params is the argon2id cost of password hashes. The zero value means
// OWASP's minimum recommendation (19 MiB, t=2, p=1).
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

func (a Argon2Params) orDefault() argon2Params {
	if a == (Argon2Params{}) {
		return defaultArgon2
	}
	return argon2Params{memory: a.MemoryKiB, time: a.Time, threads: a.Threads, keyLen: 32}
}

type argon2Params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
}

// DefaultArgon2MemoryKiB is the memory of one password hash at the default
// cost: what each slot of the hashing pool may hold at once.
const DefaultArgon2MemoryKiB = 19 * 1024

var defaultArgon2 = argon2Params{memory: DefaultArgon2MemoryKiB, time: 2, threads: 1, keyLen: 32}

// needsRehash reports whether hash is not argon2id with exactly p's cost.
func needsRehash(hash string, p argon2Params) bool {
	got, _, key, err := parseArgon2id(hash)
	return err != nil || got.memory != p.memory || got.time != p.time || got.threads != p.threads || uint32(len(key)) != p.keyLen
}

var errHashMismatch = errors.New("oauth: hash mismatch")

// idKey is argon2id.IDKey. A load test counts through it how many argon2id
// computations run at once.
var idKey = argon2id.IDKey

var b64 = base64.RawURLEncoding

// hashSHA256 hashes a high-entropy secret that Latch generated itself. A slow
// hash adds nothing there and would cost every token request milliseconds.
func hashSHA256(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return sha256Prefix + b64.EncodeToString(sum[:])
}

// hashArgon2id hashes a low-entropy secret (a password or a secret chosen by
// an operator) with argon2id.
func hashArgon2id(secret string, p argon2Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("oauth: read salt: %w", err)
	}
	key := idKey([]byte(secret), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2id.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyHash checks secret against a hash in any supported format. It returns
// errHashMismatch for a wrong secret and another error for a malformed hash.
func verifyHash(hash, secret string) error {
	switch {
	case strings.HasPrefix(hash, sha256Prefix):
		want, err := b64.DecodeString(strings.TrimPrefix(hash, sha256Prefix))
		if err != nil {
			return fmt.Errorf("oauth: malformed sha256 hash: %w", err)
		}
		got := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(want, got[:]) != 1 {
			return errHashMismatch
		}
		return nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		// bcrypt hashes imported from another system; upgraded at login.
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return errHashMismatch
		}
		return err
	case strings.HasPrefix(hash, "$argon2id$"):
		p, salt, want, err := parseArgon2id(hash)
		if err != nil {
			return err
		}
		got := idKey([]byte(secret), salt, p.time, p.memory, p.threads, uint32(len(want)))
		if subtle.ConstantTimeCompare(want, got) != 1 {
			return errHashMismatch
		}
		return nil
	default:
		return errors.New("oauth: unknown hash format")
	}
}

func parseArgon2id(hash string) (p argon2Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return p, nil, nil, errors.New("oauth: malformed argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2id.Version {
		return p, nil, nil, errors.New("oauth: unsupported argon2id version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, nil, nil, errors.New("oauth: malformed argon2id parameters")
	}
	// Bounded: a stored or imported hash must not make one login allocate
	// gigabytes or run for seconds.
	if p.memory == 0 || p.memory > 256*1024 || p.time == 0 || p.time > 16 || p.threads == 0 {
		return p, nil, nil, errors.New("oauth: argon2id parameters out of range")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errors.New("oauth: malformed argon2id salt")
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errors.New("oauth: malformed argon2id key")
	}
	return p, salt, key, nil
}

// secretHasher is fosite's client secret hasher ([fosite.Hasher]). fosite's
// default is bcrypt at cost 12, about 200 ms per token request here.
//
// A secret Latch generated (SHA-256) verifies at once. Any other (argon2id,
// a secret an operator chose) is verified in the passwords pool, with its
// back-pressure and low priority: outside it, 48 wrong secrets at once ran
// 47 argon2id hashes side by side (RSS 69 → 929 MiB, answers after 13 s).
// [Provider.authenticateClient] verifies such secrets before fosite asks,
// so that it can guard and count them; fosite's own check of a pair it
// verified costs nothing.
type secretHasher struct{ pw *passwords }

func (h secretHasher) Compare(ctx context.Context, hash, data []byte) error {
	switch {
	case len(data) == 0:
		// No client has an empty secret (RFC 6749 VSCHAR, 1 or more):
		// refused without a hash, as fast as an unknown client id is.
		return errHashMismatch
	case strings.HasPrefix(string(hash), sha256Prefix):
		return verifyHash(string(hash), string(data))
	case verifiedBefore(ctx, string(hash), string(data)):
		return nil
	}
	return h.pw.verify(ctx, string(hash), string(data))
}

func (h secretHasher) Hash(ctx context.Context, data []byte) ([]byte, error) {
	s, err := h.pw.hash(ctx, string(data))
	return []byte(s), err
}

type verifiedKey struct{}

// verified is a secret that matched a hash, without the secret.
type verified struct {
	hash   string
	secret [sha256.Size]byte
}

// withVerified records in ctx that secret matched hash.
func withVerified(ctx context.Context, hash, secret string) context.Context {
	return context.WithValue(ctx, verifiedKey{}, verified{hash, sha256.Sum256([]byte(secret))})
}

// verifiedBefore reports whether withVerified recorded that secret matched
// hash.
func verifiedBefore(ctx context.Context, hash, secret string) bool {
	v, ok := ctx.Value(verifiedKey{}).(verified)
	sum := sha256.Sum256([]byte(secret))
	return ok && v.hash == hash && subtle.ConstantTimeCompare(v.secret[:], sum[:]) == 1
}
