package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testTokenFamily: several tokens stored at once, and the joined read of a
// token with its family, plain and locked.
func testTokenFamily(ctx context.Context, t *testing.T, s storage.Store) {
	fam := newFamily("f1", "u1", "c1", at(0))
	fam.RevokedAt, fam.RevokeReason = at(time.Minute), storage.ReasonAdmin
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam))
	access, refresh := newToken("a1", "f1"), newToken("r1", "f1")
	access.Kind, access.ParentKey = storage.KindAccess, ""
	refresh.SpentAt, refresh.Replay = at(30*time.Second), []byte{1, 2, 3}
	mustOK(t, "CreateToken(two)", s.CreateToken(ctx, access, refresh))
	wantErr(t, "CreateToken(one new, one taken)", s.CreateToken(ctx, newToken("r2", "f1"), newToken("r1", "f1")), storage.ErrAlreadyExists)
	if _, err := s.GetToken(ctx, "r2"); err == nil {
		t.Fatal("a failed multi-row CreateToken stored part of its rows")
	}
	mustOK(t, "CreateToken(none)", s.CreateToken(ctx))

	for _, want := range []*storage.Token{access, refresh} {
		tok, f, err := s.GetTokenFamily(ctx, want.Key)
		mustOK(t, "GetTokenFamily", err)
		checkEqual(t, "GetTokenFamily token", tok, want)
		checkEqual(t, "GetTokenFamily family", f, fam)
	}
	mustOK(t, "LockTokenFamily", s.InTx(ctx, func(ctx context.Context) error {
		tok, f, err := s.LockTokenFamily(ctx, "r1")
		if err == nil {
			checkEqual(t, "LockTokenFamily token", tok, refresh)
			checkEqual(t, "LockTokenFamily family", f, fam)
		}
		return err
	}))
	_, _, err := s.GetTokenFamily(ctx, "missing")
	wantErr(t, "GetTokenFamily(missing)", err, storage.ErrNotFound)
	// A token whose family row is gone reads as missing.
	mustOK(t, "CreateToken(orphan)", s.CreateToken(ctx, newToken("orphan", "no-such-family")))
	_, _, err = s.LockTokenFamily(ctx, "orphan")
	wantErr(t, "LockTokenFamily(orphan)", err, storage.ErrNotFound)
}

// testConcurrentLockTokenFamily: transactions that lock a token with its
// family one after the other each see what the previous one committed, so
// exactly one finds the token unspent and none loses a conditional write.
func testConcurrentLockTokenFamily(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily("f1", "u1", "c1", at(0))))
	mustOK(t, "CreateToken", s.CreateToken(ctx, newToken("k1", "f1")))
	const n = 16
	spent := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.InTx(ctx, func(ctx context.Context) error {
				tok, _, err := s.LockTokenFamily(ctx, "k1")
				if err != nil || !tok.SpentAt.IsZero() {
					return err
				}
				spent[i] = true
				if err := s.SpendToken(ctx, "k1", at(time.Second), nil); err != nil {
					return err
				}
				// As a rotation does: the family row changes too.
				return s.TouchFamily(ctx, "f1", at(time.Second))
			})
		})
	}
	wg.Wait()
	won := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("transaction %d: %v (a stale read under the lock loses the conditional write)", i, errs[i])
		}
		if spent[i] {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d transactions saw the token unspent, want exactly 1", won)
	}
}

// testLookupClientToken: introspection's one read of caller and token.
func testLookupClientToken(ctx context.Context, t *testing.T, s storage.Store) {
	client := newClient("c1")
	mustOK(t, "CreateClient", s.CreateClient(ctx, client))
	fam := newFamily("f1", "u1", "c1", at(0))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam))
	tok := newToken("k1", "f1")
	tok.SpentAt = at(time.Minute)
	mustOK(t, "CreateToken", s.CreateToken(ctx, tok, newToken("orphan", "no-such-family")))

	c, gotTok, gotFam, err := s.LookupClientToken(ctx, "c1", "k1")
	mustOK(t, "LookupClientToken", err)
	checkEqual(t, "LookupClientToken client", c, client)
	checkEqual(t, "LookupClientToken token", gotTok, tok)
	checkEqual(t, "LookupClientToken family", gotFam, fam)
	for _, key := range []string{"missing", "orphan", ""} {
		c, gotTok, gotFam, err = s.LookupClientToken(ctx, "c1", key)
		mustOK(t, "LookupClientToken("+key+")", err)
		checkEqual(t, "LookupClientToken("+key+") client", c, client)
		if gotTok != nil || gotFam != nil {
			t.Errorf("LookupClientToken(%q) = %+v, %+v; want no token and no family", key, gotTok, gotFam)
		}
	}
	_, _, _, err = s.LookupClientToken(ctx, "nobody", "k1")
	wantErr(t, "LookupClientToken(unknown client)", err, storage.ErrNotFound)
}
