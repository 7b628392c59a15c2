package oauth

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// callLog is a store that records which of the calls on a grant's path
// package oauth makes, and whether each ran inside a transaction it began
// with InTx.
type callLog struct {
	storage.Store
	mu    sync.Mutex
	calls []string
}

type inLoggedTx struct{}

func (s *callLog) record(ctx context.Context, name string) {
	if ctx.Value(inLoggedTx{}) != nil {
		name += " (in tx)"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, name)
}

func (s *callLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *callLog) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(inLoggedTx{}) == nil {
		s.record(ctx, "InTx")
		ctx = context.WithValue(ctx, inLoggedTx{}, true)
	}
	return s.Store.InTx(ctx, fn)
}

func (s *callLog) LockTokenFamily(ctx context.Context, key string) (*storage.Token, *storage.Family, error) {
	s.record(ctx, "LockTokenFamily")
	return s.Store.LockTokenFamily(ctx, key)
}

func (s *callLog) GetTokenFamily(ctx context.Context, key string) (*storage.Token, *storage.Family, error) {
	s.record(ctx, "GetTokenFamily")
	return s.Store.GetTokenFamily(ctx, key)
}

func (s *callLog) Rotate(ctx context.Context, r storage.Rotation) error {
	s.record(ctx, "Rotate")
	return s.Store.Rotate(ctx, r)
}

func (s *callLog) CreateToken(ctx context.Context, ts ...*storage.Token) error {
	s.record(ctx, "CreateToken")
	return s.Store.CreateToken(ctx, ts...)
}

func (s *callLog) SpendToken(ctx context.Context, key string, at time.Time, replay []byte) error {
	s.record(ctx, "SpendToken")
	return s.Store.SpendToken(ctx, key, at, replay)
}

func (s *callLog) TouchFamily(ctx context.Context, id string, at time.Time) error {
	s.record(ctx, "TouchFamily")
	return s.Store.TouchFamily(ctx, id, at)
}

func (s *callLog) AppendEvent(ctx context.Context, e *storage.Event) error {
	s.record(ctx, "AppendEvent")
	return s.Store.AppendEvent(ctx, e)
}

func (s *callLog) ReserveStatusRange(ctx context.Context, newID string, size, count int64, now, createdAfter, expiresAt time.Time) (storage.StatusRange, error) {
	s.record(ctx, "ReserveStatusRange")
	return s.Store.ReserveStatusRange(ctx, newID, size, count, now, createdAfter, expiresAt)
}

// TestStatusRefreshOneTransaction measures what status lists add to a
// refresh: nothing. With JWT access tokens a refresh makes the same store
// calls as with opaque ones — one transaction, one Rotate in it (one
// statement on PostgreSQL) — since the token's list and index are columns
// of its own row, and its index comes from the node's reserved range
// without a store call. The first grant of a node reserves that range,
// outside any transaction.
func TestStatusRefreshOneTransaction(t *testing.T) {
	t.Parallel()
	got := map[string][]string{}
	for _, format := range []string{FormatOpaque, FormatJWT} {
		log := &callLog{Store: sqlstoretest.New(t)}
		f := newFixtureOn(t, log, func(c *Config) { c.AccessTokenFormat = format })
		log.take()
		tok := f.login(t)
		login := log.take()
		if format == FormatJWT && !slices.Contains(login, "ReserveStatusRange") {
			t.Errorf("jwt: the first login reserved no range: %v", login)
		}
		if slices.Contains(login, "ReserveStatusRange (in tx)") {
			t.Errorf("%s: a range was reserved inside the grant's transaction: %v", format, login)
		}
		if r := f.refresh(t, tok.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("%s: refresh: %d %s", format, r.status, r.Error)
		}
		got[format] = log.take()
		t.Logf("%s refresh: %v", format, got[format])
	}
	jwt := got[FormatJWT]
	if n := strings.Count(strings.Join(jwt, ","), "InTx"); n != 1 {
		t.Errorf("jwt refresh: %d transactions, want 1: %v", n, jwt)
	}
	if !slices.Contains(jwt, "Rotate (in tx)") {
		t.Errorf("jwt refresh: no Rotate in its transaction: %v", jwt)
	}
	if !slices.Equal(jwt, got[FormatOpaque]) {
		t.Errorf("jwt refresh calls %v, opaque %v: want the same", jwt, got[FormatOpaque])
	}
}

// TestStatusAllocator: indexes come from a reserved range in order; a
// range used up, or older than statusRangeLife, is followed by a new one;
// an index no token was signed with goes to the next request, a used one
// never does, nor one whose range has aged.
func TestStatusAllocator(t *testing.T) {
	t.Parallel()
	f := jwtFixture(t)
	ctx := t.Context()
	a := f.p.status
	first, err := a.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := first
	for range statusRangeSize - 1 {
		if last, err = a.take(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if last.list != first.list || last.idx != first.idx+statusRangeSize-1 {
		t.Fatalf("range: first %+v, last %+v", first, last)
	}
	next, err := a.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next.list != first.list || next.idx != first.idx+statusRangeSize {
		t.Errorf("after a range used up: %+v, want the next range of %s", next, first.list)
	}

	a.giveBack(next)
	if again, _ := a.take(ctx); again != next {
		t.Errorf("an unused index was not handed out again: %+v", again)
	}
	next.used = true
	a.giveBack(next)
	if again, _ := a.take(ctx); again == next || again.idx == next.idx {
		t.Errorf("a used index was handed out again: %+v", again)
	}

	unused, _ := a.take(ctx)
	a.giveBack(unused)
	f.clock.Advance(statusRangeLife)
	aged, err := a.take(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if aged == unused || aged.idx < first.idx+2*statusRangeSize {
		t.Errorf("after statusRangeLife: %+v, want a new range", aged)
	}
}

// TestStatusListWireSize logs the size of the lst claim of a list of
// statusListSize (2^20) entries, and of the whole Status List Token
// served for such a list, with a few to many revoked tokens at random
// places: what a resource server fetches every ttl for up to a million
// live tokens. A sparse list must stay small.
func TestStatusListWireSize(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, revoked := range []int{0, 1, 10, 100, 1000, statusListSize / 100} {
		bits := make([]byte, statusListSize/8)
		for range revoked {
			i := rng.IntN(statusListSize)
			bits[i/8] |= 1 << (i % 8)
		}
		lst, err := compressStatusList(bits)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(lst)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(back, bits) {
			t.Fatalf("%d revoked: lst does not inflate to the bits (%v)", revoked, err)
		}
		t.Logf("2^20 entries, %6d revoked: lst %6d bytes", revoked, len(lst))
		if revoked <= 10 && len(lst) > 1024 {
			t.Errorf("%d revoked: lst is %d bytes, want under 1 KiB", revoked, len(lst))
		}
	}

	// The whole token, as served, for a real list with three revoked.
	f := jwtFixture(t)
	var list string
	var sessions []string
	for range 3 {
		tok := f.login(t)
		c, err := f.p.verifyJWT(t.Context(), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		list = strings.TrimPrefix(c.Status.StatusList.URI, f.cfg.Issuer+"/oauth2/status/")
		sessions = append(sessions, c.SessionID)
	}
	for _, sid := range sessions {
		if err := f.p.RevokeSession(t.Context(), sid); err != nil {
			t.Fatal(err)
		}
	}
	st, err := f.p.StatusList(t.Context(), list)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(string(st.Token))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Status List Token of 2^20 entries, 3 revoked: %d bytes on the wire (%s, payload %d bytes)",
		len(st.Token), jws.Signatures[0].Protected.Algorithm, len(jws.UnsafePayloadWithoutVerification()))
	if len(st.Token) > 2048 {
		t.Errorf("Status List Token is %d bytes, want under 2 KiB", len(st.Token))
	}
}

// TestStatusListCache: a list is signed once per change and node; a
// revocation, a new signing key, or half the token's life makes the next
// request sign again.
func TestStatusListCache(t *testing.T) {
	t.Parallel()
	f := jwtFixture(t)
	ctx := t.Context()
	tok := f.login(t)
	c, err := f.p.verifyJWT(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	list := strings.TrimPrefix(c.Status.StatusList.URI, f.cfg.Issuer+"/oauth2/status/")
	get := func() *StatusListToken {
		t.Helper()
		st, err := f.p.StatusList(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := get()
	if b := get(); b != a {
		t.Error("an unchanged list was signed again")
	}
	if err := f.revoke(ctx, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	b := get()
	if b == a || b.ETag == a.ETag {
		t.Error("a revocation did not change the served list")
	}
	if _, err := f.p.RotateSigningKey(ctx, AlgES256); err != nil {
		t.Fatal(err)
	}
	if c := get(); c == b {
		t.Error("a new signing key did not re-sign the list")
	}
	if _, err := f.p.StatusList(ctx, "nosuch"); err == nil {
		t.Error("an unknown list was served")
	}
}
