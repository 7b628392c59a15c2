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
	fam := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
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
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
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
	fam := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
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

// testRotate: one refresh's writes, all or nothing.
func testRotate(ctx context.Context, t *testing.T, s storage.Store) {
	fam := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam))
	mustOK(t, "CreateToken", s.CreateToken(ctx, newToken("old", "f1")))
	access, refresh := newToken("new-at", "f1"), newToken("new-rt", "f1")
	access.Kind, refresh.ParentKey = storage.KindAccess, "old"
	e := &storage.Event{Type: "refreshed", FamilyID: "f1", ClientID: "c1", UserID: "u1", Address: "192.0.2.1", UserAgent: "ua", CreatedAt: at(time.Minute)}
	r := storage.Rotation{SpentKey: "old", SpentAt: at(time.Minute), Replay: []byte{9}, FamilyID: "f1", Issued: []*storage.Token{access, refresh}, Event: e}
	mustOK(t, "Rotate", s.InTx(ctx, func(ctx context.Context) error { return s.Rotate(ctx, r) }))
	if e.ID == 0 {
		t.Error("Rotate did not set the event's ID")
	}
	old, err := s.GetToken(ctx, "old")
	mustOK(t, "GetToken(old)", err)
	if !old.SpentAt.Equal(at(time.Minute)) || len(old.Replay) != 1 || old.Replay[0] != 9 {
		t.Errorf("old token after Rotate: spent %v replay %v", old.SpentAt, old.Replay)
	}
	for _, want := range []*storage.Token{access, refresh} {
		got, err := s.GetToken(ctx, want.Key)
		mustOK(t, "GetToken("+want.Key+")", err)
		checkEqual(t, "rotated token", got, want)
	}
	f, err := s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily", err)
	if !f.LastUsedAt.Equal(at(time.Minute)) {
		t.Errorf("family last used %v, want %v", f.LastUsedAt, at(time.Minute))
	}
	events, err := s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	if len(events) != 1 || events[0].ID != e.ID {
		t.Fatalf("events = %+v, want the one rotation event", events)
	}
	e.ID = events[0].ID
	checkEqual(t, "rotation event", &events[0], e)

	// Spending again writes nothing.
	again := storage.Rotation{SpentKey: "old", SpentAt: at(2 * time.Minute), FamilyID: "f1",
		Issued: []*storage.Token{newToken("x-at", "f1")}, Event: &storage.Event{Type: "refreshed", FamilyID: "f1", CreatedAt: at(2 * time.Minute)}}
	err = s.InTx(ctx, func(ctx context.Context) error { return s.Rotate(ctx, again) })
	wantErr(t, "Rotate(spent)", err, storage.ErrConflict)
	if _, err := s.GetToken(ctx, "x-at"); err == nil {
		t.Error("a refused rotation stored a token")
	}
	if events, _ := s.ListEvents(ctx, "f1"); len(events) != 1 {
		t.Errorf("a refused rotation stored an event: %d events", len(events))
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		return s.Rotate(ctx, storage.Rotation{SpentKey: "missing", SpentAt: at(0), FamilyID: "f1", Event: &storage.Event{Type: "x", CreatedAt: at(0)}})
	})
	wantErr(t, "Rotate(missing)", err, storage.ErrNotFound)
}
