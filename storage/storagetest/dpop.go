package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testDPoPJTIs: a DPoP proof's key is accepted once while it lives; a key
// past its expiry may be used again (the proof itself is too old by then,
// so only a new proof can reuse it); the janitor deletes expired keys in
// batches and leaves live ones.
func testDPoPJTIs(ctx context.Context, t *testing.T, s storage.Store) {
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	window := time.Minute
	mustOK(t, "UseDPoPJTI", s.UseDPoPJTI(ctx, "k1", now, now.Add(window)))
	if err := s.UseDPoPJTI(ctx, "k1", now.Add(window/2), now.Add(window/2+window)); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("UseDPoPJTI of a live key = %v, want ErrAlreadyExists", err)
	}
	mustOK(t, "UseDPoPJTI of another key", s.UseDPoPJTI(ctx, "k2", now, now.Add(window)))
	later := now.Add(window)
	mustOK(t, "UseDPoPJTI of an expired key", s.UseDPoPJTI(ctx, "k1", later, later.Add(window)))
	if err := s.UseDPoPJTI(ctx, "k1", later, later.Add(window)); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("UseDPoPJTI of the key taken over = %v, want ErrAlreadyExists", err)
	}

	// k1 lives until later+window, k2 expired at later; three more expire
	// with k2.
	for _, k := range []string{"k3", "k4", "k5"} {
		mustOK(t, "UseDPoPJTI", s.UseDPoPJTI(ctx, k, now, now.Add(window)))
	}
	if n, err := s.PurgeDPoPJTIs(ctx, later, 3); err != nil || n != 3 {
		t.Fatalf("first purge batch = %d, %v; want 3", n, err)
	}
	if n, err := s.PurgeDPoPJTIs(ctx, later, 3); err != nil || n != 1 {
		t.Fatalf("second purge batch = %d, %v; want the last expired key", n, err)
	}
	if err := s.UseDPoPJTI(ctx, "k1", later, later.Add(window)); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("after the purges, the live key k1: %v, want ErrAlreadyExists", err)
	}
	mustOK(t, "UseDPoPJTI of a purged key", s.UseDPoPJTI(ctx, "k2", later, later.Add(window)))
}
