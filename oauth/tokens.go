package oauth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"
)

// Token prefixes let secret scanners recognise a leaked Latch token.
const (
	AccessTokenPrefix  = "latch_at_"
	RefreshTokenPrefix = "latch_rt_"
)

// hmacKey derives fosite's HMAC key from an operator secret. fosite uses only
// the first 32 bytes of its GlobalSecret (FOSITE.md §1.3), so a longer secret
// would silently lose entropy; HKDF folds all of it into 32 bytes and keeps
// the token key apart from other keys derived from the same secret.
func hmacKey(secret []byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "latch opaque token hmac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("oauth: derive hmac key: %w", err)
	}
	return key, nil
}

// tokenStrategy issues opaque HMAC tokens with Latch's prefixes. It wraps
// fosite's unprefixed strategy, whose tokens look like key.signature.
type tokenStrategy struct {
	*oauth2.HMACSHAStrategyUnPrefixed
}

var _ oauth2.CoreStrategy = (*tokenStrategy)(nil)

func newTokenStrategy(cfg *fosite.Config) *tokenStrategy {
	return &tokenStrategy{oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg)}
}

func (s *tokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateAccessToken(ctx, r)
	return AccessTokenPrefix + token, sig, err
}

func (s *tokenStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMACSHAStrategyUnPrefixed.GenerateRefreshToken(ctx, r)
	return RefreshTokenPrefix + token, sig, err
}

func (s *tokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	raw := strings.TrimPrefix(token, AccessTokenPrefix)
	if !canonical(raw) {
		return fosite.ErrInvalidTokenFormat
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateAccessToken(ctx, r, raw)
}

func (s *tokenStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	raw := strings.TrimPrefix(token, RefreshTokenPrefix)
	if !canonical(raw) {
		return fosite.ErrInvalidTokenFormat
	}
	return s.HMACSHAStrategyUnPrefixed.ValidateRefreshToken(ctx, r, raw)
}

// canonical reports whether raw is key.signature exactly as fosite's HMAC
// strategy writes it: two parts of unpadded base64url, each the one
// spelling of its bytes. Go's decoder, and so fosite's Validate, also take
// other spellings of the same bytes: other values of the unused low bits
// of the last character, and line breaks anywhere, which it skips. But a
// token's storage key comes from its signature's text and the grace
// replay's key from the whole token, so another spelling of a spent token
// was taken for the same token whose replay it could not open: reuse, and
// the login ended. One token, one string.
func canonical(raw string) bool {
	key, sig, ok := strings.Cut(raw, ".")
	return ok && canonicalPart(key) && canonicalPart(sig)
}

func canonicalPart(s string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) > 0 && base64.RawURLEncoding.EncodeToString(b) == s
}

// parsedToken is a presented token whose HMAC has been checked.
type parsedToken struct {
	kind string // "access" or "refresh"
	key  string // storage key: a hash of the HMAC signature
}

// parse recognises a presented token by its prefix and checks its HMAC
// against the current and retired secrets. ok is false for anything that
// Latch did not issue, so no lookup is made for forged or garbage input,
// and for any spelling of a token but the one Latch issued.
func (s *tokenStrategy) parse(ctx context.Context, token string) (parsedToken, bool) {
	var kind, raw string
	switch {
	case strings.HasPrefix(token, AccessTokenPrefix):
		kind, raw = "access", strings.TrimPrefix(token, AccessTokenPrefix)
	case strings.HasPrefix(token, RefreshTokenPrefix):
		kind, raw = "refresh", strings.TrimPrefix(token, RefreshTokenPrefix)
	default:
		return parsedToken{}, false
	}
	if len(raw) > 512 || !canonical(raw) {
		return parsedToken{}, false
	}
	if err := s.Enigma.Validate(ctx, raw); err != nil {
		return parsedToken{}, false
	}
	return parsedToken{kind: kind, key: tokenKey(s.Enigma.Signature(raw))}, true
}

// tokenKey is the storage key of a token: SHA-256 of its HMAC signature.
// Storing a hash rather than the signature means a database dump does not
// even hold lookup keys (FOSITE.md §2.3: a bare signature is enough for
// fosite to revoke a token or trigger reuse detection).
func tokenKey(signature string) string {
	sum := sha256.Sum256([]byte(signature))
	return b64.EncodeToString(sum[:])
}

// latchPrefix starts every opaque token Latch issues.
const latchPrefix = "latch_"

// isLatchToken reports whether token looks like one Latch issued; any
// other refresh token may be one of another system that latch sessions
// import moved in (importedKey).
func isLatchToken(token string) bool { return strings.HasPrefix(token, latchPrefix) }

// maxImportedToken bounds an imported refresh token, raw: JWTs that other
// systems use as refresh tokens fit.
const maxImportedToken = 4096

// importedKey is the storage key of a refresh token imported from another
// system, from the token's SHA-256: what the refresh grant computes from a
// presented token, and what an export of the old store's token hashes
// (refresh_token_sha256) gives without the token. The SHA-256 is hashed
// once more, under a label of its own, so that the database holds not even
// the old store's hashes, and the prefix keeps these keys apart from those
// of Latch's tokens (tokenKey).
func importedKey(sum [sha256.Size]byte) string {
	k := sha256.Sum256(append([]byte("latch imported refresh token v1\x00"), sum[:]...))
	return "imported$" + b64.EncodeToString(k[:])
}
