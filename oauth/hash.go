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

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
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
	key := argon2.IDKey([]byte(secret), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
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
		got := argon2.IDKey([]byte(secret), salt, p.time, p.memory, p.threads, uint32(len(want)))
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
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
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
type secretHasher struct{ params argon2Params }

func (secretHasher) Compare(_ context.Context, hash, data []byte) error {
	return verifyHash(string(hash), string(data))
}

func (h secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	s, err := hashArgon2id(string(data), h.params)
	return []byte(s), err
}
