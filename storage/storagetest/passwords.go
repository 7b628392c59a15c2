package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testUpgradePasswordHash: the upgrade of a hash at login is a
// compare-and-swap on the hash the login read. It applies while the hash is
// unchanged and keeps PasswordChangedAt; once an operator's SetPassword has
// come between the read and the write, it reports that it did not apply and
// the operator's password stays.
func testUpgradePasswordHash(ctx context.Context, t *testing.T, s storage.Store) {
	alice := newUser("u1", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, alice))
	mustOK(t, "CreateUser(bob)", s.CreateUser(ctx, newUser("u2", "bob")))

	upgrade := func(op, id, oldHash, newHash string, want bool) {
		t.Helper()
		ok, err := s.UpgradePasswordHash(ctx, id, oldHash, newHash)
		mustOK(t, op, err)
		if ok != want {
			t.Errorf("%s reported applied = %t, want %t", op, ok, want)
		}
	}
	wantUser := func(op string, want *storage.User) {
		t.Helper()
		got, err := s.GetUser(ctx, want.ID)
		mustOK(t, op, err)
		checkEqual(t, op, got, want)
	}

	upgrade("UpgradePasswordHash", "u1", alice.PasswordHash, "upgraded", true)
	alice.PasswordHash = "upgraded" // PasswordChangedAt stays
	wantUser("GetUser after an upgrade", alice)
	upgrade("UpgradePasswordHash(stale old hash)", "u1", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "again", false)
	upgrade("UpgradePasswordHash(missing user)", "missing", "upgraded", "again", false)
	wantUser("GetUser after refused upgrades", alice)

	// The race this guards against: a login reads the user, an operator
	// changes the password, the login writes the hash it computed from the
	// old password.
	read, err := s.GetUserByUsername(ctx, "alice")
	mustOK(t, "GetUserByUsername", err)
	mustOK(t, "SetPassword(operator)", s.SetPassword(ctx, "u1", "operator-hash", at(2*time.Hour)))
	upgrade("UpgradePasswordHash(after the operator's change)", "u1", read.PasswordHash, "login-hash", false)
	alice.PasswordHash, alice.PasswordChangedAt = "operator-hash", at(2*time.Hour)
	wantUser("GetUser after the operator's change", alice)

	// Inside a transaction, and only the user named.
	mustOK(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.UpgradePasswordHash(ctx, "u1", "operator-hash", "in-tx")
		if err == nil && !ok {
			t.Error("UpgradePasswordHash in a transaction did not apply")
		}
		return err
	}))
	alice.PasswordHash = "in-tx"
	wantUser("GetUser after an upgrade in a transaction", alice)
	wantUser("GetUser(bob)", newUser("u2", "bob"))
}

// testConcurrentPasswordUpgrade runs 16 upgrades of one read hash at once
// with an operator's SetPassword: at most one upgrade applies, and however
// they interleave, the operator's hash and PasswordChangedAt are what
// stays.
func testConcurrentPasswordUpgrade(ctx context.Context, t *testing.T, s storage.Store) {
	alice := newUser("u1", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, alice))
	const n = 16
	applied := make([]bool, n)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			applied[i], errs[i] = s.UpgradePasswordHash(ctx, "u1", alice.PasswordHash, fmt.Sprintf("login-%d", i))
		})
	}
	wg.Go(func() { errs[n] = s.SetPassword(ctx, "u1", "operator-hash", at(2*time.Hour)) })
	wg.Wait()
	won := 0
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("call %d", i), err)
		if i < n && applied[i] {
			won++
		}
	}
	if won > 1 {
		t.Errorf("%d upgrades of one hash applied, want at most 1", won)
	}
	got, err := s.GetUser(ctx, "u1")
	mustOK(t, "GetUser", err)
	alice.PasswordHash, alice.PasswordChangedAt = "operator-hash", at(2*time.Hour)
	checkEqual(t, "GetUser after the race", got, alice)
}
