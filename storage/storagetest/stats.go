package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testCountEvents: events are counted per bucket of step from since, by
// type and reason; events before since or at until and after are left
// out; a since in another time zone names the same instant.
func testCountEvents(ctx context.Context, t *testing.T, s storage.Store) {
	step := 5 * time.Minute
	add := func(typ, reason string, d time.Duration) {
		t.Helper()
		mustOK(t, "AppendEvent", s.AppendEvent(ctx, &storage.Event{Type: typ, Reason: reason, FamilyID: "f1", CreatedAt: at(d)}))
	}
	add("issued", "", -time.Second)                           // before since: left out
	add("issued", "", 0)                                      // bucket 0, on its first instant
	add("issued", "", 4*time.Minute+59*time.Second)           // bucket 0
	add("refreshed", "", time.Minute)                         // bucket 0
	add("family_revoked", "reuse_detected", 11*time.Minute)   // bucket 2
	add("family_revoked", "admin", 11*time.Minute)            // bucket 2, another reason
	add("family_revoked", "admin", 12*time.Minute)            // bucket 2
	add("lockout", "username", 14*time.Minute+59*time.Second) // bucket 2
	add("issued", "", 15*time.Minute)                         // at until: left out

	all := []string{"issued", "refreshed", "family_revoked", "lockout"}
	since := at(0).In(time.FixedZone("UTC-7", -7*3600))
	got, err := s.CountEvents(ctx, storage.EventCountQuery{Since: since, Until: at(15 * time.Minute), Step: step, Types: all, ByReason: true})
	mustOK(t, "CountEvents", err)
	want := []storage.EventCount{
		{Bucket: 0, Type: "issued", Count: 2},
		{Bucket: 0, Type: "refreshed", Count: 1},
		{Bucket: 2, Type: "family_revoked", Reason: "admin", Count: 2},
		{Bucket: 2, Type: "family_revoked", Reason: "reuse_detected", Count: 1},
		{Bucket: 2, Type: "lockout", Reason: "username", Count: 1},
	}
	checkEqual(t, "CountEvents", got, want)

	// Without ByReason, the reasons of a type are counted together; only
	// the types asked for are counted.
	got, err = s.CountEvents(ctx, storage.EventCountQuery{Since: at(0), Until: at(15 * time.Minute), Step: step, Types: []string{"family_revoked", "issued"}})
	mustOK(t, "CountEvents(two types, no reasons)", err)
	want = []storage.EventCount{
		{Bucket: 0, Type: "issued", Count: 2},
		{Bucket: 2, Type: "family_revoked", Count: 3},
	}
	checkEqual(t, "CountEvents(two types, no reasons)", got, want)

	// One bucket covering the window counts everything in it.
	got, err = s.CountEvents(ctx, storage.EventCountQuery{Since: at(10 * time.Minute), Until: at(time.Hour), Step: time.Hour, Types: all, ByReason: true})
	mustOK(t, "CountEvents(one bucket)", err)
	want = []storage.EventCount{
		{Bucket: 0, Type: "family_revoked", Reason: "admin", Count: 2},
		{Bucket: 0, Type: "family_revoked", Reason: "reuse_detected", Count: 1},
		{Bucket: 0, Type: "issued", Count: 1},
		{Bucket: 0, Type: "lockout", Reason: "username", Count: 1},
	}
	checkEqual(t, "CountEvents(one bucket)", got, want)

	got, err = s.CountEvents(ctx, storage.EventCountQuery{Since: at(time.Hour), Until: at(2 * time.Hour), Step: step, Types: all})
	mustOK(t, "CountEvents(empty window)", err)
	if len(got) != 0 {
		t.Errorf("CountEvents(empty window) = %v, want none", got)
	}
	// Signaled counts only the events that carry signals.
	mustOK(t, "AppendEvent", s.AppendEvent(ctx, &storage.Event{Type: "refreshed", FamilyID: "f1", CreatedAt: at(6 * time.Minute), Signals: []string{"user_agent_changed"}}))
	mustOK(t, "AppendEvent", s.AppendEvent(ctx, &storage.Event{Type: "family_revoked", Reason: "anomaly", FamilyID: "f1", CreatedAt: at(7 * time.Minute), Signals: []string{"address_changed", "refresh_burst"}}))
	got, err = s.CountEvents(ctx, storage.EventCountQuery{Since: at(0), Until: at(15 * time.Minute), Step: step, Types: []string{"refreshed", "family_revoked"}, Signaled: true})
	mustOK(t, "CountEvents(signaled)", err)
	want = []storage.EventCount{
		{Bucket: 1, Type: "family_revoked", Count: 1},
		{Bucket: 1, Type: "refreshed", Count: 1},
	}
	checkEqual(t, "CountEvents(signaled)", got, want)

	if _, err := s.CountEvents(ctx, storage.EventCountQuery{Since: at(0), Until: at(time.Hour), Types: all}); err == nil {
		t.Error("CountEvents with step 0 succeeded, want an error")
	}
	if _, err := s.CountEvents(ctx, storage.EventCountQuery{Since: at(0), Until: at(time.Hour), Step: step}); err == nil {
		t.Error("CountEvents without a type succeeded, want an error")
	}
}

// testCountLiveFamilies: live families are the ones neither revoked nor
// past ExpiresAt.
func testCountLiveFamilies(ctx context.Context, t *testing.T, s storage.Store) {
	n, err := s.CountLiveFamilies(ctx, at(0))
	mustOK(t, "CountLiveFamilies(none)", err)
	if n != 0 {
		t.Errorf("CountLiveFamilies of an empty store = %d, want 0", n)
	}
	for _, id := range []string{"live1", "live2", "revoked", "expired"} {
		f := newFamily(ctx, t, s, id, "u1", "c1", at(0))
		if id == "expired" {
			f.ExpiresAt = at(time.Hour)
		}
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	}
	_, err = s.RevokeFamily(ctx, "revoked", storage.ReasonAdmin, at(time.Minute))
	mustOK(t, "RevokeFamily", err)
	n, err = s.CountLiveFamilies(ctx, at(2*time.Hour))
	mustOK(t, "CountLiveFamilies", err)
	if n != 2 {
		t.Errorf("CountLiveFamilies = %d, want 2 (live1, live2)", n)
	}
}

// testListUsers: a prefix matches usernames that start with it, byte for
// byte: case matters, and % and _ are plain characters.
func testListUsers(ctx context.Context, t *testing.T, s storage.Store) {
	for i, name := range []string{"alice", "alicia", "Alina", "al%x", "al_y", "bob", "ålbert"} {
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser(string(rune('a'+i))+"-id", name)))
	}
	names := func(prefix string, limit int) []string {
		t.Helper()
		us, err := s.ListUsers(ctx, prefix, limit)
		mustOK(t, "ListUsers("+prefix+")", err)
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	for _, tc := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"ali", 10, []string{"alice", "alicia"}},
		{"alic", 1, []string{"alice"}},
		{"al%", 10, []string{"al%x"}},
		{"al_", 10, []string{"al_y"}},
		{"Ali", 10, []string{"Alina"}},
		{"å", 10, []string{"ålbert"}},
		{"carol", 10, nil},
		{"bob\x00", 10, nil},
	} {
		checkEqual(t, "ListUsers("+tc.prefix+")", names(tc.prefix, tc.limit), tc.want)
	}
	if got := names("", 100); len(got) != 7 {
		t.Errorf("ListUsers(\"\") = %v, want every user", got)
	}
}

// testSetClientSecret: the new hash replaces the old one; an unknown
// client is ErrNotFound.
func testSetClientSecret(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
	mustOK(t, "SetClientSecret", s.SetClientSecret(ctx, "c1", "sha256$bmV3"))
	c, err := s.GetClient(ctx, "c1")
	mustOK(t, "GetClient", err)
	if c.SecretHash != "sha256$bmV3" {
		t.Errorf("secret hash %q after SetClientSecret, want the new one", c.SecretHash)
	}
	wantErr(t, "SetClientSecret(missing)", s.SetClientSecret(ctx, "missing", "sha256$eA"), storage.ErrNotFound)
}
