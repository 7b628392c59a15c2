package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testRevokeByToken checks RFC 7009's write: another client's token changes
// nothing, the owner's ends the login once with its events (and, when
// asked, its denylist entries), a second call changes nothing.
func testRevokeByToken(ctx context.Context, t *testing.T, s storage.Store) {
	for _, deny := range []bool{false, true} {
		name := map[bool]string{false: "opaque", true: "denylist"}[deny]
		t.Run(name, func(t *testing.T) {
			fid := "f-" + name
			now := at(time.Hour)
			fam := newFamily(ctx, t, s, fid, "u1", "c1", at(0))
			access := newToken("a-"+name, fid)
			access.Kind, access.ParentKey, access.ExpiresAt = storage.KindAccess, "", now.Add(time.Hour)
			refresh := newToken("r-"+name, fid)
			mustOK(t, "CreateFamily", s.CreateFamily(ctx, fam, access, refresh))

			events := func() []*storage.Event {
				return []*storage.Event{
					{Type: "revoked", ClientID: "c1", Address: "192.0.2.1", UserAgent: "curl/8", CreatedAt: now},
					{Type: "family_revoked", ClientID: "c1", Reason: storage.ReasonRevoked, Address: "192.0.2.1", UserAgent: "curl/8", CreatedAt: now},
				}
			}
			revoke := func(key, clientID string) (*storage.Token, *storage.Family, bool, []*storage.Event, error) {
				es := events()
				tok, f, revoked, err := s.RevokeByToken(ctx, storage.Revocation{
					Key: key, ClientID: clientID, At: now, Reason: storage.ReasonRevoked,
					DenyAccessTokens: deny, Events: es,
				})
				return tok, f, revoked, es, err
			}
			listEvents := func() []storage.Event {
				t.Helper()
				got, err := s.ListEvents(ctx, fid)
				mustOK(t, "ListEvents", err)
				for i := range got {
					got[i].ID = 0
				}
				return got
			}

			// Another client's token: told whose it is, nothing written.
			tok, f, revoked, _, err := revoke(refresh.Key, "c2")
			mustOK(t, "RevokeByToken(other client)", err)
			if revoked {
				t.Error("RevokeByToken(other client) ended the login")
			}
			checkEqual(t, "RevokeByToken(other client) token", tok, refresh)
			checkEqual(t, "RevokeByToken(other client) family", f, fam)
			if got, _ := s.GetFamily(ctx, fid); got.Revoked() {
				t.Error("family revoked by another client's revocation")
			}
			if got := listEvents(); len(got) != 0 {
				t.Errorf("events after another client's revocation: %v", got)
			}

			// The owner: the login ends, events stored in order with the
			// family's ids.
			tok, f, revoked, es, err := revoke(access.Key, "c1")
			mustOK(t, "RevokeByToken", err)
			if !revoked {
				t.Fatal("RevokeByToken did not end the login")
			}
			checkEqual(t, "RevokeByToken token", tok, access)
			checkEqual(t, "RevokeByToken family (as it was)", f, fam)
			got, err := s.GetFamily(ctx, fid)
			mustOK(t, "GetFamily", err)
			if !got.RevokedAt.Equal(now) || got.RevokeReason != storage.ReasonRevoked {
				t.Errorf("family after revocation: revoked at %v for %q, want %v for %q", got.RevokedAt, got.RevokeReason, now, storage.ReasonRevoked)
			}
			want := events()
			for _, e := range want {
				e.FamilyID, e.UserID = fid, "u1"
			}
			for i, e := range es {
				if e.FamilyID != fid || e.UserID != "u1" {
					t.Errorf("event %d given back with family %q, user %q; want %q, u1", i, e.FamilyID, e.UserID, fid)
				}
			}
			checkEqual(t, "events after revocation", listEvents(), []storage.Event{*want[0], *want[1]})
			isDenied, err := s.IsDenied(ctx, access.Key)
			mustOK(t, "IsDenied", err)
			if isDenied != deny {
				t.Errorf("IsDenied(access token) = %v, want %v", isDenied, deny)
			}

			// Again: nothing more.
			_, _, revoked, _, err = revoke(refresh.Key, "c1")
			mustOK(t, "RevokeByToken(again)", err)
			if revoked {
				t.Error("RevokeByToken(again) ended the login twice")
			}
			if got := listEvents(); len(got) != 2 {
				t.Errorf("%d events after a second revocation, want 2", len(got))
			}

			_, _, _, _, err = revoke("missing-"+name, "c1")
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("RevokeByToken(missing) = %v, want ErrNotFound", err)
			}
		})
	}
}

// testConcurrentRevokeByToken: revocations of one login racing each other
// end it once, with one pair of events, on every path.
func testConcurrentRevokeByToken(ctx context.Context, t *testing.T, s storage.Store) {
	for _, deny := range []bool{false, true} {
		fid := fmt.Sprintf("f-race-%v", deny)
		tok := newToken("r-race-"+fid, fid)
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, fid, "u1", "c1", at(0)), tok))
		const n = 8
		results := make(chan error, n)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, _, revoked, err := s.RevokeByToken(ctx, storage.Revocation{
					Key: tok.Key, ClientID: "c1", At: at(time.Hour), Reason: storage.ReasonRevoked, DenyAccessTokens: deny,
					Events: []*storage.Event{
						{Type: "revoked", ClientID: "c1", CreatedAt: at(time.Hour)},
						{Type: "family_revoked", ClientID: "c1", Reason: storage.ReasonRevoked, CreatedAt: at(time.Hour)},
					},
				})
				if revoked {
					wins.Add(1)
				}
				results <- err
			})
		}
		wg.Wait()
		close(results)
		for err := range results {
			mustOK(t, "RevokeByToken", err)
		}
		if got := wins.Load(); got != 1 {
			t.Errorf("deny=%v: %d of %d concurrent revocations ended the login, want 1", deny, got, n)
		}
		events, err := s.ListEvents(ctx, fid)
		mustOK(t, "ListEvents", err)
		if len(events) != 2 {
			t.Errorf("deny=%v: %d events after %d concurrent revocations, want 2", deny, len(events), n)
		}
	}
}
