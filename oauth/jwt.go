package oauth

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// Access token formats (LATCH_ACCESS_TOKEN_FORMAT).
const (
	FormatOpaque = "opaque"
	FormatJWT    = "jwt"
)

// JWT access tokens (RFC 9068). Latch signs and verifies them with go-jose,
// the JOSE library oauth/bearer verifies them with on the resource server's
// side, over its own claim set; fosite's JWT strategy is not used: its
// defaults lack typ, kid, sub and client_id (FOSITE.md §10).
//
// The token row of a JWT is keyed by tokenKey(jti): the database holds no
// usable token, and revocation, introspection and the denylist work on the
// same rows as for opaque tokens.

// typAccessToken is the JWT typ of RFC 9068 §2.1.
const typAccessToken = "at+jwt"

// maxJWTLen bounds the tokens parsed at all; Latch's are far shorter.
const maxJWTLen = 8 << 10

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
	// Cnf binds the token to a DPoP key (RFC 9449 §6.1).
	Cnf *Confirmation `json:"cnf,omitempty"`
	// SessionID is the login (family) the token belongs to.
	SessionID string `json:"sid,omitempty"`
	// Status is the token's entry in a Token Status List (status.go).
	Status *tokenStatus `json:"status,omitempty"`
}

// JWTAccessTokens reports whether access tokens are issued as JWTs.
func (p *Provider) JWTAccessTokens() bool { return p.cfg.AccessTokenFormat == FormatJWT }

// issueAccessToken creates the access token of a grant and returns it with
// its storage key: an HMAC token by default, a signed JWT in JWT mode.
//
// A JWT carries sid and the status list entry slot, which the caller
// records on the token's row.
func (p *Provider) issueAccessToken(ctx context.Context, ar fosite.Requester, fam *storage.Family, scopes []string, now, exp time.Time, slot *statusSlot) (string, string, error) {
	if !p.JWTAccessTokens() {
		at, sig, err := p.strategy.GenerateAccessToken(ctx, ar)
		return at, tokenKey(sig), err
	}
	if slot == nil || slot.used {
		return "", "", errNoStatusSlot
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
		Cnf:       confirmation(fam),
		SessionID: fam.ID,
		Status:    &tokenStatus{StatusList: statusListRef{Idx: slot.idx, URI: p.StatusListURI(slot.list)}},
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
	slot.used = true
	token, err := signJWT(set.signer, c)
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

// newJWTSigner signs JWTs of type typ with key, the private part of k: the
// algorithm is k's (a key signs with one algorithm only), and every token
// names k in kid and says typ: at+jwt for access tokens (RFC 9068 §2.1),
// statuslist+jwt for Status List Tokens.
func newJWTSigner(k *verifyKey, key crypto.Signer, typ string) (jose.Signer, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.row.Algorithm), Key: jose.JSONWebKey{Key: key, KeyID: k.row.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return nil, fmt.Errorf("oauth: signing key %q: %w", k.row.ID, err)
	}
	return signer, nil
}

func signJWT(signer jose.Signer, claims accessClaims) (string, error) {
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("oauth: sign jwt: %w", err)
	}
	return jws.CompactSerialize()
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
	if !looksLikeJWT(token) || !canonicalJWS(token) {
		return nil, errBadJWT
	}
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errBadJWT
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !isAccessTokenTyp(typ) || h.KeyID == "" {
		return nil, errBadJWT
	}
	key, err := p.keys.lookup(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	// The algorithm is the key's, never the token's choice: none, HS256
	// keyed with the public key, RS512 with the RS256 key are all refused
	// here, before go-jose looks at the signature.
	if key == nil || key.row.Algorithm != h.Algorithm {
		return nil, errBadJWT
	}
	rawClaims, err := jws.Verify(key.pub)
	if err != nil {
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

// canonicalJWS reports whether token is spelled the one way Latch writes a
// compact JWS: three unpadded base64url parts without stray bits. go-jose
// alone is laxer (it drops white space and "=" padding and ignores stray
// bits), and a token must have exactly one spelling.
func canonicalJWS(token string) bool {
	if strings.ContainsAny(token, "\r\n") { // the only bytes a strict decoder skips
		return false
	}
	for part := range strings.SplitSeq(token, ".") {
		if _, err := b64.Strict().DecodeString(part); err != nil {
			return false
		}
	}
	return true
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
