package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testUnholdableText: a key no record can hold (PostgreSQL's text takes no
// NUL byte and only UTF-8) names nothing, on every backend. Requests bring
// such keys: a client id or username is whatever a caller sends.
func testUnholdableText(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice")))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
	for _, bad := range []string{"a\x00b", "\xff", "caf\xc3"} {
		name := func(op string) string { return fmt.Sprintf("%s(%q)", op, bad) }
		_, err := s.GetClient(ctx, bad)
		wantErr(t, name("GetClient"), err, storage.ErrNotFound)
		_, err = s.GetUser(ctx, bad)
		wantErr(t, name("GetUser"), err, storage.ErrNotFound)
		_, err = s.GetUserByUsername(ctx, bad)
		wantErr(t, name("GetUserByUsername"), err, storage.ErrNotFound)
		_, err = s.GetFamily(ctx, bad)
		wantErr(t, name("GetFamily"), err, storage.ErrNotFound)
		_, err = s.RevokeFamily(ctx, bad, storage.ReasonRevoked, at(time.Minute))
		wantErr(t, name("RevokeFamily"), err, storage.ErrNotFound)
		wantErr(t, name("SetPassword"), s.SetPassword(ctx, bad, "h", at(0)), storage.ErrNotFound)
		wantErr(t, name("SetDisabled"), s.SetDisabled(ctx, bad, true), storage.ErrNotFound)
		if ok, err := s.UpgradePasswordHash(ctx, bad, bad, "h"); ok || err != nil {
			t.Errorf("%s = %t, %v; want false, nil", name("UpgradePasswordHash"), ok, err)
		}
		wantErr(t, name("DeleteUser"), s.DeleteUser(ctx, bad), storage.ErrNotFound)
		wantErr(t, name("DeleteClient"), s.DeleteClient(ctx, bad), storage.ErrNotFound)
		err = s.InTx(ctx, func(ctx context.Context) error {
			_, err := s.LockUser(ctx, bad)
			return err
		})
		wantErr(t, name("LockUser"), err, storage.ErrNotFound)
		fams, err := s.ListLiveFamilies(ctx, storage.FamilyFilter{UserID: bad}, at(0))
		mustOK(t, name("ListLiveFamilies"), err)
		if len(fams) != 0 {
			t.Errorf("%s = %d families, want none", name("ListLiveFamilies"), len(fams))
		}
		ids, err := s.RevokeFamilies(ctx, storage.FamilyFilter{UserID: bad, ClientID: bad}, storage.ReasonAdmin, at(time.Minute))
		mustOK(t, name("RevokeFamilies"), err)
		if len(ids) != 0 {
			t.Errorf("%s revoked %v, want none", name("RevokeFamilies"), ids)
		}
		events, err := s.ListEvents(ctx, bad)
		mustOK(t, name("ListEvents"), err)
		if len(events) != 0 {
			t.Errorf("%s = %d events, want none", name("ListEvents"), len(events))
		}
	}
	// The real records are untouched.
	f, err := s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily(f1)", err)
	if f.Revoked() {
		t.Error("family f1 was revoked")
	}
	_, err = s.GetUserByUsername(ctx, "alice")
	mustOK(t, "GetUserByUsername(alice)", err)
}
