package storagetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// reserve calls ReserveAttempt and fails the test unless it returns want.
func reserve(ctx context.Context, t *testing.T, s storage.Store, key string, now time.Time, window time.Duration, want int) {
	t.Helper()
	got, err := s.ReserveAttempt(ctx, key, now, window)
	mustOK(t, fmt.Sprintf("ReserveAttempt(%s, %v)", key, now), err)
	if got != want {
		t.Errorf("ReserveAttempt(%s, %v) = %d, want %d", key, now, got, want)
	}
}

// testAttempts checks counting, expiry (at the boundary), the window push,
// ReleaseAttempt, ResetAttempts and CountAttempts.
func testAttempts(ctx context.Context, t *testing.T, s storage.Store) {
	const w = time.Minute
	µs := time.Microsecond

	reserve(ctx, t, s, "k", at(0), w, 1)
	reserve(ctx, t, s, "k", at(10*time.Second), w, 2)
	reserve(ctx, t, s, "k", at(20*time.Second), w, 3)
	reserve(ctx, t, s, "other", at(20*time.Second), w, 1) // keys count apart
	// Each reservation pushed the expiry: alive a microsecond before
	// 20s+w, long after the first window ended.
	last := at(20*time.Second + w - µs)
	reserve(ctx, t, s, "k", last, w, 4)
	// Expired exactly at now: starts again at 1 (a non-UTC now is the same
	// instant).
	reserve(ctx, t, s, "k", last.Add(w).In(time.FixedZone("UTC-8", -8*3600)), w, 1)
	reserve(ctx, t, s, "k", last.Add(w+time.Second), w, 2)
	// Long after: 1 again.
	reserve(ctx, t, s, "other", at(24*time.Hour), w, 1)

	// Release takes one back, never below zero; a missing counter is fine.
	now := at(time.Hour)
	reserve(ctx, t, s, "r", now, w, 1)
	reserve(ctx, t, s, "r", now, w, 2)
	mustOK(t, "ReleaseAttempt", s.ReleaseAttempt(ctx, "r"))
	reserve(ctx, t, s, "r", now, w, 2)
	for range 3 {
		mustOK(t, "ReleaseAttempt", s.ReleaseAttempt(ctx, "r"))
	}
	reserve(ctx, t, s, "r", now, w, 1)
	mustOK(t, "ReleaseAttempt(missing)", s.ReleaseAttempt(ctx, "missing"))
	reserve(ctx, t, s, "missing", now, w, 1)

	// Reset deletes the counter; a missing counter is fine.
	reserve(ctx, t, s, "r", now, w, 2)
	mustOK(t, "ResetAttempts", s.ResetAttempts(ctx, "r"))
	reserve(ctx, t, s, "r", now, w, 1)
	mustOK(t, "ResetAttempts(missing)", s.ResetAttempts(ctx, "never-seen"))
	reserve(ctx, t, s, "other", at(24*time.Hour), w, 2) // untouched by the others

	// Count reads without changing: live counters as they are, with the
	// expiry of their last reservation, in the order asked (a key twice
	// included), the zero count for missing or expired ones.
	c := at(48 * time.Hour)
	reserve(ctx, t, s, "c1", c, w, 1)
	reserve(ctx, t, s, "c2", c, w, 1)
	c2At := c.Add(time.Second + 1500*µs) // expiries keep their microseconds
	reserve(ctx, t, s, "c2", c2At, w, 2)
	c1 := storage.AttemptCount{Count: 1, ExpiresAt: c.Add(w)}
	c2 := storage.AttemptCount{Count: 2, ExpiresAt: c2At.Add(w)}
	none := storage.AttemptCount{}
	for range 2 {
		countAttempts(ctx, t, s, c.Add(w-µs), []string{"c2", "none", "c1", "c2"}, []storage.AttemptCount{c2, none, c1, c2})
	}
	countAttempts(ctx, t, s, c.Add(w), []string{"c1", "c2"}, []storage.AttemptCount{none, c2})      // c1 expired at now
	countAttempts(ctx, t, s, c2At.Add(w), []string{"c1", "c2"}, []storage.AttemptCount{none, none}) // both
	countAttempts(ctx, t, s, c, nil, []storage.AttemptCount{})
	reserve(ctx, t, s, "c2", c.Add(2*time.Second), w, 3)
}

// countAttempts calls CountAttempts and fails the test unless it returns want.
func countAttempts(ctx context.Context, t *testing.T, s storage.Store, now time.Time, keys []string, want []storage.AttemptCount) {
	t.Helper()
	got, err := s.CountAttempts(ctx, now, keys...)
	mustOK(t, fmt.Sprintf("CountAttempts(%v, %q)", now, keys), err)
	if !slices.EqualFunc(got, want, func(a, b storage.AttemptCount) bool { return a.Count == b.Count && a.ExpiresAt.Equal(b.ExpiresAt) }) {
		t.Errorf("CountAttempts(%v, %q) = %v, want %v", now, keys, got, want)
	}
}

// testConcurrentAttempts reserves one key from 64 goroutines at once, on a
// new counter and then on an expired one: the counts returned are exactly
// 1..64, each once.
func testConcurrentAttempts(ctx context.Context, t *testing.T, s storage.Store) {
	for _, now := range []time.Time{at(0), at(time.Hour)} {
		ReserveConcurrently(ctx, t, now, 64, s)
	}
}

// ReserveConcurrently reserves the key "k" n times at now from n goroutines
// released at once, spread over stores (one store, or several on one
// database, as several nodes are), and fails t unless the counts returned
// are exactly 1..n, each once.
func ReserveConcurrently(ctx context.Context, t *testing.T, now time.Time, n int, stores ...storage.Store) {
	t.Helper()
	counts := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = stores[i%len(stores)].ReserveAttempt(ctx, "k", now, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("at %v: ReserveAttempt %d", now, i), err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("at %v: sorted counts = %v, want 1..%d each once", now, counts, n)
		}
	}
}

func newSigningKey(id string, created time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID: id, Algorithm: "ES256", PublicKey: []byte("0Y0\x13\x06\x07*\x86H\xce=\x02\x01" + id),
		PrivateSealed: []byte("\x00sealed\xff" + id), CreatedAt: created,
	}
}

func testSigningKeys(ctx context.Context, t *testing.T, s storage.Store) {
	list := func(now time.Time, want ...*storage.SigningKey) {
		t.Helper()
		got, err := s.ListSigningKeys(ctx, now)
		mustOK(t, "ListSigningKeys", err)
		w := make([]storage.SigningKey, len(want))
		for i, k := range want {
			w[i] = *k
		}
		checkEqual(t, fmt.Sprintf("ListSigningKeys(%v)", now), got, w)
	}
	list(at(0))

	k1 := newSigningKey("k1", at(0))
	k2 := newSigningKey("k2", at(time.Hour))
	k2.Algorithm = "RS256"
	k3 := newSigningKey("k3", at(2*time.Hour))
	for _, k := range []*storage.SigningKey{k2, k1, k3} {
		mustOK(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	}
	wantErr(t, "CreateSigningKey(duplicate)", s.CreateSigningKey(ctx, newSigningKey("k1", at(5*time.Hour))), storage.ErrAlreadyExists)
	list(at(3*time.Hour), k3, k2, k1)

	// Retire all but k3: retired keys stay published until PublishUntil
	// (excluded).
	mustOK(t, "RetireSigningKeys", s.RetireSigningKeys(ctx, "k3", at(3*time.Hour), at(5*time.Hour)))
	k1.RetiredAt, k1.PublishUntil = at(3*time.Hour), at(5*time.Hour)
	k2.RetiredAt, k2.PublishUntil = at(3*time.Hour), at(5*time.Hour)
	list(at(4*time.Hour), k3, k2, k1)
	list(at(5*time.Hour-time.Microsecond), k3, k2, k1)
	list(at(5*time.Hour), k3)
	list(at(100*time.Hour), k3)

	// Rotate again: only the current key is retired, earlier ones keep
	// their times.
	k4 := newSigningKey("k4", at(6*time.Hour))
	mustOK(t, "CreateSigningKey(k4)", s.CreateSigningKey(ctx, k4))
	mustOK(t, "RetireSigningKeys(keep k4)", s.RetireSigningKeys(ctx, "k4", at(6*time.Hour), at(8*time.Hour)))
	k3.RetiredAt, k3.PublishUntil = at(6*time.Hour), at(8*time.Hour)
	list(at(7*time.Hour), k4, k3)
	list(at(4*time.Hour), k4, k3, k2, k1) // k1, k2 untouched
	mustOK(t, "RetireSigningKeys(again)", s.RetireSigningKeys(ctx, "k4", at(9*time.Hour), at(10*time.Hour)))
	list(at(7*time.Hour), k4, k3)

	// A key stored retired comes back as stored.
	old := newSigningKey("k0", at(-time.Hour))
	old.RetiredAt, old.PublishUntil = at(-time.Minute), at(7*time.Hour+time.Second)
	mustOK(t, "CreateSigningKey(retired)", s.CreateSigningKey(ctx, old))
	list(at(7*time.Hour), k4, k3, old)
}

func testDenylist(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(time.Hour)
	µs := time.Microsecond
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f2", "u1", "c1", at(0))))
	token := func(key, familyID string, kind storage.TokenKind, expires time.Time) {
		tok := newToken(key, familyID)
		tok.Kind, tok.ExpiresAt = kind, expires
		mustOK(t, "CreateToken("+key+")", s.CreateToken(ctx, tok))
	}
	token("a1", "f1", storage.KindAccess, now.Add(time.Hour))
	token("a2", "f1", storage.KindAccess, now.Add(µs)) // live by a microsecond
	token("a3", "f1", storage.KindAccess, now)         // expired exactly now
	token("a4", "f1", storage.KindAccess, now.Add(-time.Hour))
	token("r1", "f1", storage.KindRefresh, now.Add(time.Hour))
	token("b1", "f2", storage.KindAccess, now.Add(time.Hour))

	denied := func(want map[string]bool) {
		t.Helper()
		for key, w := range want {
			got, err := s.IsDenied(ctx, key)
			mustOK(t, "IsDenied("+key+")", err)
			if got != w {
				t.Errorf("IsDenied(%s) = %v, want %v", key, got, w)
			}
		}
	}
	denied(map[string]bool{"a1": false, "missing": false})

	deny := func(familyID string, now time.Time, want int64) {
		t.Helper()
		n, err := s.DenyFamilyAccessTokens(ctx, familyID, now)
		mustOK(t, "DenyFamilyAccessTokens("+familyID+")", err)
		if n != want {
			t.Errorf("DenyFamilyAccessTokens(%s, %v) = %d, want %d", familyID, now, n, want)
		}
	}
	deny("f1", now, 2)
	denied(map[string]bool{"a1": true, "a2": true, "a3": false, "a4": false, "r1": false, "b1": false, "missing": false})
	deny("f1", now, 0) // idempotent
	deny("f1", now.Add(-2*time.Hour), 2)
	deny("missing", now, 0)

	token("a5", "f1", storage.KindAccess, now.Add(2*time.Hour))
	deny("f1", now, 1)
	denied(map[string]bool{"a5": true, "b1": false})
	deny("f2", now, 1)
	denied(map[string]bool{"b1": true})

	// Entries keep the expiry of their token: a microsecond after now,
	// Purge removes exactly the entries of a2 (now+µs) and a3, a4 (denied
	// with an earlier now).
	var total int64
	for {
		c, err := s.Purge(ctx, now.Add(µs), now, purgeLimit)
		mustOK(t, "Purge", err)
		total += c.Denied
		if c.Denied < purgeLimit && c.Tokens < purgeLimit {
			break
		}
	}
	if total != 3 {
		t.Errorf("Purge removed %d denylist entries, want 3", total)
	}
	denied(map[string]bool{"a1": true, "a2": false, "a3": false, "a4": false, "a5": true, "b1": true})
}

// testPurgeGuard checks that Purge deletes expired attempt counters, expired
// denylist entries and retired keys no longer published, in batches, and
// nothing else.
func testPurgeGuard(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(10 * time.Hour)
	µs := time.Microsecond
	const w = time.Minute

	// Attempt counters: expiring at now+µs (kept), at now, and before.
	reserve(ctx, t, s, "live", now.Add(µs-w), w, 1)
	reserve(ctx, t, s, "at-now", now.Add(-w), w, 1)
	for i := range 4 {
		reserve(ctx, t, s, fmt.Sprintf("old-%d", i), now.Add(-time.Duration(i+1)*time.Hour), w, 1)
	}

	// Denylist entries: tokens expiring at now+µs (kept), at now and before,
	// denied while they were live.
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
	for key, expires := range map[string]time.Time{
		"d-live": now.Add(µs), "d-now": now, "d-old": now.Add(-time.Hour), "d-older": now.Add(-2 * time.Hour),
	} {
		tok := newToken(key, "f1")
		tok.Kind, tok.ExpiresAt = storage.KindAccess, expires
		mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
	}
	n, err := s.DenyFamilyAccessTokens(ctx, "f1", at(0))
	mustOK(t, "DenyFamilyAccessTokens", err)
	if n != 4 {
		t.Fatalf("DenyFamilyAccessTokens = %d, want 4", n)
	}

	// Signing keys: current, published until now+µs (kept), until now,
	// before, and retired without PublishUntil (never published).
	current := newSigningKey("current", at(5*time.Hour))
	edge := newSigningKey("edge", at(4*time.Hour))
	edge.RetiredAt, edge.PublishUntil = at(5*time.Hour), now.Add(µs)
	keys := []*storage.SigningKey{current, edge}
	for i, until := range []time.Time{now, now.Add(-time.Hour), {}} {
		k := newSigningKey(fmt.Sprintf("gone-%d", i), at(time.Duration(i)*time.Hour))
		k.RetiredAt, k.PublishUntil = at(5*time.Hour), until
		keys = append(keys, k)
	}
	for _, k := range keys {
		mustOK(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	}

	var total storage.PurgeCounts
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatalf("Purge still purging after %d batches (total %+v)", i, total)
		}
		c, err := s.Purge(ctx, now, now, purgeLimit)
		mustOK(t, "Purge", err)
		for _, v := range []int64{c.Tokens, c.Families, c.Replays, c.Attempts, c.Denied, c.Keys} {
			if v < 0 || v > purgeLimit {
				t.Fatalf("Purge batch %d = %+v, want each count in [0, %d]", i, c, purgeLimit)
			}
		}
		total.Tokens += c.Tokens
		total.Families += c.Families
		total.Replays += c.Replays
		total.Attempts += c.Attempts
		total.Denied += c.Denied
		total.Keys += c.Keys
		if max(c.Tokens, c.Families, c.Replays, c.Attempts, c.Denied, c.Keys) < purgeLimit {
			break
		}
	}
	// The three expired access tokens go too.
	checkEqual(t, "Purge total", total, storage.PurgeCounts{Tokens: 3, Attempts: 5, Denied: 3, Keys: 3})

	c, err := s.Purge(ctx, now, now, purgeLimit)
	mustOK(t, "Purge(again)", err)
	checkEqual(t, "Purge(again)", c, storage.PurgeCounts{})

	// What is left: the live counter goes on (an expired one would restart),
	// the live entry is denied, the two published keys are listed (at a
	// time when the purged keys would have been too).
	reserve(ctx, t, s, "live", now, w, 2)
	for key, want := range map[string]bool{"d-live": true, "d-now": false, "d-old": false, "d-older": false} {
		got, err := s.IsDenied(ctx, key)
		mustOK(t, "IsDenied("+key+")", err)
		if got != want {
			t.Errorf("IsDenied(%s) after Purge = %v, want %v", key, got, want)
		}
	}
	got, err := s.ListSigningKeys(ctx, at(6*time.Hour))
	mustOK(t, "ListSigningKeys", err)
	checkEqual(t, "ListSigningKeys after Purge", got, []storage.SigningKey{*current, *edge})
}
