package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testFamilyStep: a login's step (what its next refresh is compared with)
// is stored with the family, read back by every read of the family, and
// replaced by a rotation, with the signals on the rotation's event. A
// family stored without one reads a zero step.
func testFamilyStep(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
	fam := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
	fam.Step = storage.Step{Address: "2001:db8::7", UserAgent: "app/1 (Ünïcode)", BurstStart: at(0), BurstCount: 0}
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam, newToken("k1", "f1")))
	bare := newFamily(ctx, t, s, "f2", "u1", "c1", at(0))
	mustOK(t, "CreateFamily(no step)", s.CreateFamily(ctx, bare, newToken("k2", "f2")))

	checkReads := func(what, key string, want *storage.Family) {
		t.Helper()
		f, err := s.GetFamily(ctx, want.ID)
		mustOK(t, what+": GetFamily", err)
		checkEqual(t, what+": GetFamily", f, want)
		_, f, err = s.GetTokenFamily(ctx, key)
		mustOK(t, what+": GetTokenFamily", err)
		checkEqual(t, what+": GetTokenFamily", f, want)
		mustOK(t, what+": LockTokenFamily", s.InTx(ctx, func(ctx context.Context) error {
			_, f, err := s.LockTokenFamily(ctx, key)
			if err == nil {
				checkEqual(t, what+": LockTokenFamily", f, want)
			}
			return err
		}))
		_, _, f, err = s.LookupClientToken(ctx, "c1", key)
		mustOK(t, what+": LookupClientToken", err)
		checkEqual(t, what+": LookupClientToken", f, want)
	}
	checkReads("created", "k1", fam)
	checkReads("created without a step", "k2", bare)
	if !bare.Step.BurstStart.IsZero() {
		t.Fatal("newFamily set a step")
	}

	step := storage.Step{Address: "192.0.2.1", UserAgent: "app/2", BurstStart: at(30 * time.Second), BurstCount: 7}
	e := &storage.Event{Type: "refreshed", FamilyID: "f1", ClientID: "c1", UserID: "u1", CreatedAt: at(time.Minute),
		Signals: []string{"address_changed", "user_agent_changed", "refresh_burst"}}
	r := storage.Rotation{SpentKey: "k1", SpentAt: at(time.Minute), FamilyID: "f1", Step: step,
		Issued: []*storage.Token{newToken("k1-next", "f1")}, Event: e}
	mustOK(t, "Rotate", s.InTx(ctx, func(ctx context.Context) error { return s.Rotate(ctx, r) }))
	fam.Step, fam.LastUsedAt = step, at(time.Minute)
	checkReads("rotated", "k1-next", fam)
	events, err := s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	if len(events) != 1 {
		t.Fatalf("events = %+v, want the rotation's", events)
	}
	checkEqual(t, "rotation event", &events[0], e)

	// A rotation that loses (the token is spent) leaves the step alone.
	lost := r
	lost.Step, lost.Issued = storage.Step{Address: "198.51.100.1", BurstStart: at(time.Hour), BurstCount: 1}, nil
	lost.Event = &storage.Event{Type: "refreshed", FamilyID: "f1", CreatedAt: at(time.Hour)}
	err = s.InTx(ctx, func(ctx context.Context) error { return s.Rotate(ctx, lost) })
	wantErr(t, "Rotate(spent)", err, storage.ErrConflict)
	checkReads("after a lost rotation", "k1-next", fam)

	// The first rotation of a family without a step records one.
	r2 := storage.Rotation{SpentKey: "k2", SpentAt: at(time.Minute), FamilyID: "f2", Step: step,
		Event: &storage.Event{Type: "refreshed", FamilyID: "f2", CreatedAt: at(time.Minute)}}
	mustOK(t, "Rotate(no step)", s.InTx(ctx, func(ctx context.Context) error { return s.Rotate(ctx, r2) }))
	bare.Step, bare.LastUsedAt = step, at(time.Minute)
	checkReads("rotated without a step", "k2", bare)
}

// testConcurrentRotateStep: refreshes racing with one token, each
// reading the step under the lock and writing the next one in its
// rotation, as package oauth does: exactly one rotates, the others see
// the token spent, and the step counts that one refresh.
func testConcurrentRotateStep(ctx context.Context, t *testing.T, s storage.Store) {
	fam := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
	fam.Step = storage.Step{Address: "192.0.2.1", UserAgent: "ua", BurstStart: at(0), BurstCount: 3}
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam, newToken("k1", "f1")))
	const n = 12
	won := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.InTx(ctx, func(ctx context.Context) error {
				tok, f, err := s.LockTokenFamily(ctx, "k1")
				if err != nil || !tok.SpentAt.IsZero() {
					return err
				}
				won[i] = true
				next := f.Step
				next.BurstCount++
				return s.Rotate(ctx, storage.Rotation{
					SpentKey: "k1", SpentAt: at(time.Second), FamilyID: "f1", Step: next,
					Event: &storage.Event{Type: "refreshed", FamilyID: "f1", CreatedAt: at(time.Second)},
				})
			})
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("refresh %d: %v", i, errs[i])
		}
		if won[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d refreshes rotated, want exactly 1", wins)
	}
	f, err := s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily", err)
	if f.Step.BurstCount != 4 {
		t.Errorf("burst count %d after one rotation from 3, want 4", f.Step.BurstCount)
	}
}
