package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// Access token formats (LATCH_ACCESS_TOKEN_FORMAT).
const (
	FormatOpaque = "opaque"
	FormatJWT    = "jwt"
)

// JWT access tokens (RFC 9068). Latch signs them itself with the standard
// library — a compact JWS (RFC 7515 §7.1) over a fixed header and claim set
// needs no JOSE library — and fosite's JWT strategy is not used: its
// defaults lack typ, kid, sub and client_id (FOSITE.md §10).
//
// The token row of a JWT is keyed by tokenKey(jti): the database holds no
// usable token, and revocation, introspection and the denylist work on the
// same rows as for opaque tokens.

// typAccessToken is the JWT typ of RFC 9068 §2.1.
const typAccessToken = "at+jwt"

// maxJWTLen bounds the tokens parsed at all; Latch's are far shorter.
const maxJWTLen = 8 << 10

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// accessClaims is the claim set of RFC 9068 §2.2.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	JTI      string   `json:"jti"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	Username string   `json:"username,omitempty"`
}

// JWTAccessTokens reports whether access tokens are issued as JWTs.
func (p *Provider) JWTAccessTokens() bool { return p.cfg.AccessTokenFormat == FormatJWT }

// issueAccessToken creates the access token of a grant and returns it with
// its storage key: an HMAC token by default, a signed JWT in JWT mode.
func (p *Provider) issueAccessToken(ctx context.Context, ar fosite.Requester, fam *storage.Family, scopes []string, now, exp time.Time) (string, string, error) {
	if !p.JWTAccessTokens() {
		at, sig, err := p.strategy.GenerateAccessToken(ctx, ar)
		return at, tokenKey(sig), err
	}
	aud := fam.Audience
	if len(aud) == 0 {
		aud = []string{p.cfg.DefaultAudience}
	}
	sub := fam.UserID
	if sub == "" {
		sub = fam.ClientID // client_credentials: the client acts for itself (RFC 9068 §2.2)
	}
	c := accessClaims{
		Issuer: p.cfg.Issuer, Subject: sub, Audience: aud, ClientID: fam.ClientID,
		Scope: strings.Join(scopes, " "), JTI: randomString(18),
		IssuedAt: now.Unix(), Expiry: exp.Unix(), Username: fam.Username,
	}
	// The token is signed within the grant's transaction; the keys were
	// made sure of before it began (Provider.Token), so at most a read runs
	// here, inside the transaction.
	set, err := p.keys.current(ctx)
	if err != nil {
		return "", "", err
	}
	if set.signer == nil {
		return "", "", set.signErr
	}
	token, err := signJWT(set.signKey.row.Algorithm, set.signKey.row.ID, set.signer, c)
	if err != nil {
		return "", "", err
	}
	return token, tokenKey(c.JTI), nil
}

// prepareSigning makes sure this node has a key to sign with before a
// grant's transaction starts; creating one inside it could be rolled back
// after a token was signed with it.
func (p *Provider) prepareSigning(ctx context.Context) error {
	if !p.JWTAccessTokens() {
		return nil
	}
	set, err := p.keys.current(ctx)
	if err == nil && set.signer != nil {
		return nil
	}
	return p.EnsureSigningKey(ctx)
}

func signJWT(alg, kid string, key crypto.Signer, claims accessClaims) (string, error) {
	header, err := json.Marshal(jwtHeader{Alg: alg, Typ: typAccessToken, Kid: kid})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		// RFC 7518 §3.4: R and S as 32-byte big-endian integers, not ASN.1.
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("oauth: sign jwt: %w", err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil {
			return "", fmt.Errorf("oauth: sign jwt: %w", err)
		}
	default:
		return "", fmt.Errorf("oauth: sign jwt: unsupported key %T", key)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// looksLikeJWT tells a compact JWS from Latch's prefixed opaque tokens.
func looksLikeJWT(token string) bool {
	return len(token) <= maxJWTLen && strings.Count(token, ".") == 2 &&
		!strings.HasPrefix(token, AccessTokenPrefix) && !strings.HasPrefix(token, RefreshTokenPrefix)
}

var errBadJWT = errors.New("oauth: not a valid access token")

// verifyJWT checks a presented JWT access token: its signature against the
// published keys, typ, iss and exp. Whether it is still active (its login,
// the denylist) is up to the caller. Only a storage outage is returned as
// another error than errBadJWT. It must not be called inside a transaction.
func (p *Provider) verifyJWT(ctx context.Context, token string) (*accessClaims, error) {
	if !looksLikeJWT(token) {
		return nil, errBadJWT
	}
	// Strict decoding: a token has exactly one spelling.
	parts, strict := strings.Split(token, "."), b64.Strict()
	rawHeader, err1 := strict.DecodeString(parts[0])
	rawClaims, err2 := strict.DecodeString(parts[1])
	sig, err3 := strict.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, errBadJWT
	}
	var h jwtHeader
	if err := strictUnmarshal(rawHeader, &h); err != nil || !isAccessTokenTyp(h.Typ) || h.Kid == "" {
		return nil, errBadJWT
	}
	key, err := p.keys.lookup(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	if key == nil || key.row.Algorithm != h.Alg {
		return nil, errBadJWT
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch pub := key.pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return nil, errBadJWT
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return nil, errBadJWT
		}
	default:
		return nil, errBadJWT
	}
	var c accessClaims
	if err := strictUnmarshal(rawClaims, &c); err != nil {
		return nil, errBadJWT
	}
	if c.Issuer != p.cfg.Issuer || c.JTI == "" || !p.now().Before(time.Unix(c.Expiry, 0)) {
		return nil, errBadJWT
	}
	return &c, nil
}

// isAccessTokenTyp accepts the two spellings RFC 9068 §4 allows.
func isAccessTokenTyp(typ string) bool {
	return strings.EqualFold(typ, typAccessToken) || strings.EqualFold(typ, "application/"+typAccessToken)
}

// strictUnmarshal decodes one JSON object and nothing after it.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// parseAccessJWT is [tokenStrategy.parse] for JWT access tokens: a token
// that verifies gives the key of its row; anything else is not Latch's.
func (p *Provider) parseAccessJWT(ctx context.Context, token string) (parsedToken, *accessClaims, bool, error) {
	c, err := p.verifyJWT(ctx, token)
	if errors.Is(err, errBadJWT) {
		return parsedToken{}, nil, false, nil
	} else if err != nil {
		return parsedToken{}, nil, false, err
	}
	return parsedToken{kind: string(storage.KindAccess), key: tokenKey(c.JTI)}, c, true, nil
}

// denyFamily puts the live JWT access tokens of a family that has just been
// revoked on the denylist, in the caller's transaction. Opaque tokens need
// no entry: their row says everything.
func (p *Provider) denyFamily(ctx context.Context, familyID string, now time.Time) error {
	if !p.JWTAccessTokens() {
		return nil
	}
	_, err := p.store.DenyFamilyAccessTokens(ctx, familyID, now)
	return err
}
