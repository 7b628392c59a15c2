package oauth

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/latchhq/latch/storage"
)

// Token Status Lists (draft-ietf-oauth-status-list), for JWT access tokens:
// each token names an index in a list (its "status" claim), and
// GET /oauth2/status/{list} serves the list as a signed, compressed bit
// array that resource servers fetch every ttl seconds. A bit is set by the
// revocation that ends the token's login, in the revoking transaction
// (package sqlstore), so a list served after the revocation returned has
// it, on every node.
//
// Indexes are handed out from ranges: a node reserves statusRangeSize
// indexes of a list in one statement (storage.StatusListStore) and gives
// them out from memory, so issuing a token locks no shared row. The index
// is taken before the grant's transaction begins (Provider.Token), because
// on SQLite the reservation could not run beside that transaction, and a
// reservation rolled back with a grant would hand the same range out twice.

const (
	// statusListSize is the number of entries of a list: 2^20, so that a
	// million live tokens fit in one list, one fetch per resource server
	// per ttl. Its bit array is 128 KiB in the database (compressed by
	// PostgreSQL's TOAST); on the wire a sparse list is a few hundred
	// bytes (TestStatusListWireSize). Lists rotate: once a list is full,
	// or older than statusListMaxAge, ranges come from a new one.
	statusListSize = 1 << 20
	// statusRangeSize indexes are reserved at a time: one write to a
	// list's row per 1024 tokens issued by a node.
	statusRangeSize = 1024
	// statusRangeLife bounds how long a node hands out a reserved range, so
	// that a list's ExpiresAt (set at reservation) is past every token
	// issued from it. Indexes left over are never used.
	statusRangeLife = time.Minute
	// statusListMaxAge: no range is reserved in a list older than this,
	// so every list stops receiving tokens and is dropped, eventually,
	// even when traffic never fills it.
	statusListMaxAge = 24 * time.Hour
	// DefaultStatusListTTL is LATCH_STATUS_LIST_TTL's default.
	DefaultStatusListTTL = 10 * time.Second
	// typStatusList is the typ of a Status List Token (the draft, §5.1).
	typStatusList = "statuslist+jwt"
	// StatusListMediaType is the Content-Type of a Status List Token.
	StatusListMediaType = "application/statuslist+jwt"
)

// statusSlot is one index handed to one token request.
type statusSlot struct {
	list  string
	idx   int64
	until time.Time // the index must be given out before this
	used  bool      // a token was signed with it: it is never given back
}

// statusAllocator hands out the indexes of this node's current range.
type statusAllocator struct {
	store     storage.StatusListStore
	now       func() time.Time
	accessTTL time.Duration

	mu         sync.Mutex
	cur        storage.StatusRange
	next       int64
	rangeUntil time.Time
	// free holds indexes taken by requests that issued no token (a wrong
	// password, a refresh answered from the grace window), for the next
	// requests: an attacker's failed grants burn no index.
	free []*statusSlot
}

// take returns an index for a token request, reserving a new range when
// this node's is used up or too old. It must not run inside a
// transaction.
func (a *statusAllocator) take(ctx context.Context) (*statusSlot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for len(a.free) > 0 {
		s := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		if now.Before(s.until) {
			return s, nil
		}
	}
	if a.cur.List == "" || a.next >= a.cur.First+a.cur.Count || !now.Before(a.rangeUntil) {
		until := now.Add(statusRangeLife)
		// A token issued from the range expires at most accessTTL after
		// it is issued, before until and the grant's few seconds past it.
		expires := until.Add(a.accessTTL).Add(statusRangeLife)
		r, err := a.store.ReserveStatusRange(ctx, newID(12), statusListSize, statusRangeSize, now, now.Add(-statusListMaxAge), expires)
		if err != nil {
			return nil, fmt.Errorf("oauth: reserve status list indexes: %w", err)
		}
		a.cur, a.next, a.rangeUntil = r, r.First, until
	}
	s := &statusSlot{list: a.cur.List, idx: a.next, until: a.rangeUntil}
	a.next++
	return s, nil
}

// giveBack keeps an index no token was signed with for the next request.
func (a *statusAllocator) giveBack(s *statusSlot) {
	if s == nil || s.used {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.free) < statusRangeSize {
		a.free = append(a.free, s)
	}
}

type statusSlotKey struct{}

func withStatusSlot(ctx context.Context, s *statusSlot) context.Context {
	return context.WithValue(ctx, statusSlotKey{}, s)
}

func statusSlotOf(ctx context.Context) *statusSlot {
	s, _ := ctx.Value(statusSlotKey{}).(*statusSlot)
	return s
}

var errNoStatusSlot = errors.New("oauth: no status list index for this token request")

// tokenStatus is a Referenced Token's status claim (the draft, §6.1).
type tokenStatus struct {
	StatusList statusListRef `json:"status_list"`
}

type statusListRef struct {
	Idx int64  `json:"idx"`
	URI string `json:"uri"`
}

// statusListClaims is a Status List Token's claim set (the draft, §5.1).
type statusListClaims struct {
	Subject    string          `json:"sub"`
	IssuedAt   int64           `json:"iat"`
	Expiry     int64           `json:"exp"`
	TTL        int64           `json:"ttl"`
	StatusList statusListClaim `json:"status_list"`
}

type statusListClaim struct {
	Bits int    `json:"bits"`
	List string `json:"lst"`
}

// StatusListURI is the URI of list id: its sub and the uri of the tokens
// in it.
func (p *Provider) StatusListURI(id string) string {
	return p.cfg.Issuer + "/oauth2/status/" + id
}

// StatusListTTL is the ttl of every Status List Token.
func (p *Provider) StatusListTTL() time.Duration { return p.cfg.StatusListTTL }

// StatusListToken is a signed Status List Token and its ETag.
type StatusListToken struct {
	Token []byte
	ETag  string
}

// statusCache keeps the latest token signed for each list by this node.
// A request reads the list's version (one primary-key read) and reuses the
// token while the version and signing key are the same and the token is
// younger than half its lifetime; so the bits of a list are read and
// compressed once per change per node, and a revocation made on any node
// is in the next answer of every node.
type statusCache struct {
	mu      sync.Mutex
	entries map[string]*statusEntry
	// build serialises rebuilds, so a burst of requests after a change
	// signs once.
	build sync.Mutex
}

type statusEntry struct {
	version int64
	kid     string
	signed  time.Time
	token   *StatusListToken
}

// statusCacheMax bounds the entries kept; lists are few (a million tokens
// a list), and only lists that exist are cached.
const statusCacheMax = 1024

func (c *statusCache) get(id string) *statusEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[id]
}

func (c *statusCache) put(id string, e *statusEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= statusCacheMax {
		c.entries = map[string]*statusEntry{}
	}
	c.entries[id] = e
}

func (c *statusCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

// statusTokenLife is the lifetime (exp - iat) of a Status List Token: long
// beside ttl, so that a copy a resource server revalidates with
// If-None-Match stays valid, and re-signed by a node at half of it.
func (p *Provider) statusTokenLife() time.Duration {
	return max(time.Hour, 2*p.cfg.StatusListTTL)
}

// StatusList returns the Status List Token of list id. Errors wrap
// storage.ErrNotFound for an unknown list (or with opaque access tokens,
// which have no lists).
func (p *Provider) StatusList(ctx context.Context, id string) (*StatusListToken, error) {
	if !p.JWTAccessTokens() {
		return nil, fmt.Errorf("oauth: status list %q: %w", id, storage.ErrNotFound)
	}
	version, err := p.store.StatusListVersion(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		p.statusCache.drop(id)
	}
	if err != nil {
		return nil, err
	}
	set, err := p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	if set.statusSigner == nil {
		return nil, set.signErr
	}
	kid := set.signKey.row.ID
	fresh := func(e *statusEntry) bool {
		return e != nil && e.version >= version && e.kid == kid && time.Since(e.signed) < p.statusTokenLife()/2
	}
	if e := p.statusCache.get(id); fresh(e) {
		return e.token, nil
	}
	p.statusCache.build.Lock()
	defer p.statusCache.build.Unlock()
	if e := p.statusCache.get(id); fresh(e) {
		return e.token, nil
	}
	l, err := p.store.GetStatusList(ctx, id)
	if err != nil {
		return nil, err
	}
	lst, err := compressStatusList(l.Bits)
	if err != nil {
		return nil, err
	}
	now := p.now()
	body, err := json.Marshal(statusListClaims{
		Subject: p.StatusListURI(id), IssuedAt: now.Unix(), Expiry: now.Add(p.statusTokenLife()).Unix(),
		TTL:        max(1, int64(p.cfg.StatusListTTL/time.Second)),
		StatusList: statusListClaim{Bits: 1, List: lst},
	})
	if err != nil {
		return nil, err
	}
	jws, err := set.statusSigner.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("oauth: sign status list: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(compact))
	tok := &StatusListToken{Token: []byte(compact), ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
	p.statusCache.put(id, &statusEntry{version: l.Version, kid: kid, signed: time.Now(), token: tok})
	return tok, nil
}

// compressStatusList is the lst of the draft's §4.1: the bit array
// compressed with DEFLATE in the ZLIB format, base64url without padding.
func compressStatusList(bits []byte) (string, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(bits); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

// StatusListURIs is the Status List Aggregation: the URI of every list
// that still covers an unexpired token. Empty with opaque access tokens.
func (p *Provider) StatusListURIs(ctx context.Context) ([]string, error) {
	uris := []string{}
	if !p.JWTAccessTokens() {
		return uris, nil
	}
	ids, err := p.store.ListStatusLists(ctx, p.now())
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		uris = append(uris, p.StatusListURI(id))
	}
	return uris, nil
}
