package oauth

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/storage"
)

// JWS algorithms Latch signs access tokens with (RFC 7518 §3.1).
const (
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256, the default
	AlgRS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys
)

// Key rotation timing.
const (
	// keyReload bounds how long a node keeps signing with a key another
	// node (or the CLI) has retired: each node rereads the key table at
	// least this often.
	keyReload = 10 * time.Second
	// keyRefetchMin spaces rereads forced by an unknown kid, so that
	// tokens with made-up kids cannot turn into a stream of queries.
	keyRefetchMin = 200 * time.Millisecond
	// publishMargin keeps a retired key published past the lifetime of the
	// last token it signed: nodes that have not yet reread the key table
	// sign with it for up to keyReload after it is retired.
	publishMargin = time.Minute
)

// sealInfo is the HKDF info of the key that seals private signing keys.
const sealInfo = "latch signing key seal v1"

// sealAEAD is AES-256-GCM under a key derived from an operator secret.
func sealAEAD(secret []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("oauth: derive seal key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oauth: seal key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealPrivateKey encrypts a PKCS#8 private key under secret. The kid is
// bound as additional data, so a sealed key cannot be moved to another row.
func sealPrivateKey(secret []byte, kid string, der []byte) ([]byte, error) {
	aead, err := sealAEAD(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return aead.Seal(nonce, nonce, der, []byte(kid)), nil
}

// openPrivateKey decrypts what sealPrivateKey sealed, trying each secret in
// turn, so that a key sealed before LATCH_SECRET was rotated still opens
// while the old secret is listed in LATCH_SECRET_OLD.
func openPrivateKey(secrets [][]byte, kid string, sealed []byte) (crypto.Signer, error) {
	for _, secret := range secrets {
		aead, err := sealAEAD(secret)
		if err != nil {
			return nil, err
		}
		if len(sealed) < aead.NonceSize() {
			return nil, fmt.Errorf("oauth: signing key %q: sealed key too short", kid)
		}
		der, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(kid))
		if err != nil {
			continue
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("oauth: signing key %q: %w", kid, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("oauth: signing key %q: unsupported key type %T", kid, key)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("oauth: signing key %q cannot be opened with LATCH_SECRET or LATCH_SECRET_OLD", kid)
}

// newSigningKey generates a key pair for alg and seals its private part.
func newSigningKey(alg string, secret []byte, now time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, invalid("algorithm: %q is not supported (ES256, RS256)", truncate(alg, 20))
	}
	if err != nil {
		return nil, fmt.Errorf("oauth: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("oauth: marshal %s key: %w", alg, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("oauth: marshal %s public key: %w", alg, err)
	}
	kid := newID(12)
	sealed, err := sealPrivateKey(secret, kid, der)
	if err != nil {
		return nil, err
	}
	return &storage.SigningKey{ID: kid, Algorithm: alg, PublicKey: pub, PrivateSealed: sealed, CreatedAt: now}, nil
}

// verifyKey is a published key, parsed.
type verifyKey struct {
	row storage.SigningKey
	pub crypto.PublicKey
}

// published reports whether the key verifies tokens at now: it signs, or
// it was retired but the tokens it signed may still be alive.
func (k *verifyKey) published(now time.Time) bool {
	return k.row.RetiredAt.IsZero() || now.Before(k.row.PublishUntil)
}

// keySet is one immutable reading of the signing_keys table.
type keySet struct {
	keys   []*verifyKey // newest first
	byID   map[string]*verifyKey
	loaded time.Time // wall clock when the read began
	// signer signs with the opened private key of the newest current key,
	// or is nil with signErr saying why there is none.
	signer  jose.Signer
	signKey *verifyKey
	signErr error
	// statusSigner signs Status List Tokens with the same key (status.go).
	statusSigner jose.Signer
}

// keyRing caches the signing keys of every node. Each node signs with the
// newest current key in the table and rereads the table at least every
// keyReload, so a rotation done elsewhere is picked up within that time;
// a kid it does not know makes it reread at once (spaced by
// keyRefetchMin), so a token signed by another node's new key verifies.
type keyRing struct {
	store   storage.KeyStore
	secrets [][]byte // current first
	now     func() time.Time

	mu  sync.Mutex
	set *keySet

	loading atomic.Bool
	// refetch serialises rereads forced by an unknown kid.
	refetch chan struct{}
}

func newKeyRing(store storage.KeyStore, secret []byte, old [][]byte, now func() time.Time) *keyRing {
	return &keyRing{
		store:   store,
		secrets: append([][]byte{secret}, old...),
		now:     now,
		refetch: make(chan struct{}, 1),
	}
}

func (r *keyRing) cached() *keySet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set
}

// load reads the table and installs the result. It takes no lock while it
// queries: on SQLite the query may run inside the caller's transaction.
func (r *keyRing) load(ctx context.Context) (*keySet, error) {
	began := time.Now()
	rows, err := r.store.ListSigningKeys(ctx, r.now())
	if err != nil {
		return nil, fmt.Errorf("oauth: list signing keys: %w", err)
	}
	set := &keySet{byID: make(map[string]*verifyKey, len(rows)), loaded: began}
	for _, row := range rows {
		pub, err := x509.ParsePKIXPublicKey(row.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("oauth: signing key %q: %w", row.ID, err)
		}
		if err := checkKeyAlg(row.Algorithm, pub); err != nil {
			return nil, fmt.Errorf("oauth: signing key %q: %w", row.ID, err)
		}
		k := &verifyKey{row: row, pub: pub}
		set.keys = append(set.keys, k)
		set.byID[row.ID] = k
	}
	// The newest current key signs. Reuse the opened key of the previous
	// reading when it is the same one: opening costs an HKDF and a parse.
	set.signErr = errNoSigningKey
	for _, k := range set.keys {
		if !k.row.RetiredAt.IsZero() {
			continue
		}
		set.signKey = k
		if prev := r.cached(); prev != nil && prev.signKey != nil && prev.signKey.row.ID == k.row.ID && prev.signer != nil {
			set.signer, set.statusSigner, set.signErr = prev.signer, prev.statusSigner, nil
		} else {
			set.signer, set.statusSigner, set.signErr = openSigner(r.secrets, k)
		}
		break
	}
	r.mu.Lock()
	if r.set == nil || !set.loaded.Before(r.set.loaded) {
		r.set = set
	}
	r.mu.Unlock()
	return set, nil
}

// openSigner opens the private part of k and makes its signers: of access
// tokens and of Status List Tokens.
func openSigner(secrets [][]byte, k *verifyKey) (access, status jose.Signer, err error) {
	key, err := openPrivateKey(secrets, k.row.ID, k.row.PrivateSealed)
	if err != nil {
		return nil, nil, err
	}
	if access, err = newJWTSigner(k, key, typAccessToken); err != nil {
		return nil, nil, err
	}
	if status, err = newJWTSigner(k, key, typStatusList); err != nil {
		return nil, nil, err
	}
	return access, status, nil
}

var errNoSigningKey = errors.New("oauth: no current signing key")

// current returns a reading at most keyReload old. When it is stale and
// another goroutine is already rereading, the stale one is used.
func (r *keyRing) current(ctx context.Context) (*keySet, error) {
	set := r.cached()
	if set != nil && time.Since(set.loaded) < keyReload {
		return set, nil
	}
	if set != nil && !r.loading.CompareAndSwap(false, true) {
		return set, nil
	}
	if set != nil {
		defer r.loading.Store(false)
	}
	return r.load(ctx)
}

// lookup finds a published key by kid at now, rereading the table once when
// the kid is unknown. A reading that began after the call did is as good as
// its own: every key committed before the token arrived is in it. So a
// rotation on another node never makes a valid token look forged, while
// made-up kids cause at most one read per keyRefetchMin. It must not be
// called inside a transaction.
func (r *keyRing) lookup(ctx context.Context, kid string) (*verifyKey, error) {
	started := time.Now()
	set, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	if k, ok := set.byID[kid]; ok && k.published(r.now()) {
		return k, nil
	}
	select {
	case r.refetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.refetch }()
	if set = r.cached(); !set.loaded.After(started) {
		if wait := keyRefetchMin - time.Since(set.loaded); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if set, err = r.load(ctx); err != nil {
			return nil, err
		}
	}
	if k, ok := set.byID[kid]; ok && k.published(r.now()) {
		return k, nil
	}
	return nil, nil
}

// checkKeyAlg reports whether pub is a key for alg.
func checkKeyAlg(alg string, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == AlgES256 && k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if alg == AlgRS256 && k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("a %T is not a key for %s", pub, alg)
}

// EnsureSigningKey makes sure a current signing key exists, creating an
// ES256 key when there is none, and that this node can open it. serve calls
// it at start in JWT mode. Two nodes starting at once may each create one;
// that is harmless, as every node signs with the newest.
func (p *Provider) EnsureSigningKey(ctx context.Context) error {
	set, err := p.keys.load(ctx)
	if err != nil {
		return p.mapRetryError(ctx, err)
	}
	if set.signKey == nil {
		k, err := newSigningKey(AlgES256, p.cfg.Secret, p.now())
		if err != nil {
			return err
		}
		if err := p.store.CreateSigningKey(ctx, k); err != nil {
			return fmt.Errorf("oauth: create signing key: %w", err)
		}
		p.log.InfoContext(ctx, "signing key created", "kid", k.ID, "alg", k.Algorithm)
		if set, err = p.keys.load(ctx); err != nil {
			return err
		}
	}
	return set.signErr
}

// RotateSigningKey creates a new current key for alg (ES256 when empty) and
// retires every other, in one transaction. Retired keys stay published for
// AccessTokenTTL plus a margin, so every token they signed verifies until it
// expires. This node signs with the new key at once, other nodes within
// 10 seconds. Errors have the code [EInvalid] for an unknown algorithm.
func (p *Provider) RotateSigningKey(ctx context.Context, alg string) (*storage.SigningKey, error) {
	if alg == "" {
		alg = AlgES256
	}
	now := p.now()
	k, err := newSigningKey(alg, p.cfg.Secret, now)
	if err != nil {
		return nil, err
	}
	// One transaction: of two rotations at once, at least one new key stays
	// current (each retires only keys committed before its update).
	err = p.inTx(ctx, func(ctx context.Context) error {
		if err := p.store.CreateSigningKey(ctx, k); err != nil {
			return err
		}
		return p.store.RetireSigningKeys(ctx, k.ID, now, now.Add(p.cfg.AccessTokenTTL+publishMargin))
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: rotate signing key: %w", err)
	}
	p.log.InfoContext(ctx, "signing key rotated", "kid", k.ID, "alg", k.Algorithm)
	if _, err := p.keys.load(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// SigningKeys lists the keys that sign or are still published, newest
// first. The sealed private parts are left out.
func (p *Provider) SigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	keys, err := p.store.ListSigningKeys(ctx, p.now())
	if err != nil {
		return nil, err
	}
	for i := range keys {
		keys[i].PrivateSealed = nil
	}
	return keys, nil
}

// JWKS returns the keys that verify Latch's JWT access tokens now (RFC 7517
// §5): the current ones and the retired ones whose tokens may still be
// alive. It reads the table afresh, so a key created on another node is
// published by every node before any token it signs can reach a resource
// server.
func (p *Provider) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	set, err := p.keys.load(ctx)
	if err != nil {
		return nil, p.mapRetryError(ctx, err)
	}
	now := p.now()
	out := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range set.keys {
		if k.published(now) {
			out.Keys = append(out.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.row.ID, Algorithm: k.row.Algorithm, Use: "sig"})
		}
	}
	return out, nil
}
