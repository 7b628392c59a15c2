package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testSearchEvents pins SearchEvents: every filter and their combinations,
// newest first by CreatedAt then ID (not the order of insertion), the
// limit, and paging by cursor without a gap or a repeat.
func testSearchEvents(ctx context.Context, t *testing.T, s storage.Store) {
	// Appended out of time order: two nodes' clocks disagree, and an
	// event's time is its node's. e2 and e3 share a time.
	events := []*storage.Event{
		{Type: "issued", FamilyID: "f1", ClientID: "c1", UserID: "u1", CreatedAt: at(1 * time.Second)},
		{Type: "refreshed", FamilyID: "f1", ClientID: "c1", UserID: "u1", CreatedAt: at(3 * time.Second)},
		{Type: "refreshed", FamilyID: "f2", ClientID: "c1", UserID: "u2", CreatedAt: at(3 * time.Second)},
		{Type: "reuse_detected", FamilyID: "f1", ClientID: "c1", UserID: "u1", Enforced: true, CreatedAt: at(2 * time.Second)},
		{Type: "issued", FamilyID: "f2", ClientID: "c1", UserID: "u2", CreatedAt: at(4 * time.Second)},
		{Type: "lockout", Reason: "username", CreatedAt: at(5 * time.Second)},
	}
	for _, e := range events {
		mustOK(t, "AppendEvent", s.AppendEvent(ctx, e))
	}
	e := func(i int) storage.Event { return *events[i] }
	for _, tc := range []struct {
		name   string
		filter storage.EventFilter
		want   []storage.Event
	}{
		{"no filter", storage.EventFilter{Limit: 100}, []storage.Event{e(5), e(4), e(2), e(1), e(3), e(0)}},
		{"limit", storage.EventFilter{Limit: 2}, []storage.Event{e(5), e(4)}},
		{"type", storage.EventFilter{Type: "refreshed", Limit: 100}, []storage.Event{e(2), e(1)}},
		{"user", storage.EventFilter{UserID: "u1", Limit: 100}, []storage.Event{e(1), e(3), e(0)}},
		{"since, inclusive", storage.EventFilter{Since: at(3 * time.Second), Limit: 100}, []storage.Event{e(5), e(4), e(2), e(1)}},
		{"type and user", storage.EventFilter{Type: "issued", UserID: "u2", Limit: 100}, []storage.Event{e(4)}},
		{"type, user and since", storage.EventFilter{Type: "issued", UserID: "u1", Since: at(time.Second), Limit: 100}, []storage.Event{e(0)}},
		{"user and since", storage.EventFilter{UserID: "u1", Since: at(2 * time.Second), Limit: 100}, []storage.Event{e(1), e(3)}},
		{"type and since", storage.EventFilter{Type: "issued", Since: at(2 * time.Second), Limit: 100}, []storage.Event{e(4)}},
		{"since, in another zone", storage.EventFilter{Since: at(4 * time.Second).In(time.FixedZone("x", 3*3600)), Limit: 100}, []storage.Event{e(5), e(4)}},
		{"after, between equal times", storage.EventFilter{After: &storage.EventCursor{CreatedAt: e(2).CreatedAt, ID: e(2).ID}, Limit: 100}, []storage.Event{e(1), e(3), e(0)}},
		{"after and type", storage.EventFilter{Type: "issued", After: &storage.EventCursor{CreatedAt: e(4).CreatedAt, ID: e(4).ID}, Limit: 100}, []storage.Event{e(0)}},
		{"no match", storage.EventFilter{Type: "revoked", Limit: 100}, nil},
		{"unknown user", storage.EventFilter{UserID: "nobody", Limit: 100}, nil},
		{"zero limit", storage.EventFilter{}, nil},
	} {
		got, err := s.SearchEvents(ctx, tc.filter)
		mustOK(t, "SearchEvents "+tc.name, err)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		checkEqual(t, "SearchEvents "+tc.name, got, tc.want)
	}

	// Pages of two, each after the last of the one before, give every
	// event once, in order.
	var paged []storage.Event
	f := storage.EventFilter{Limit: 2}
	for page := 0; ; page++ {
		got, err := s.SearchEvents(ctx, f)
		mustOK(t, fmt.Sprintf("SearchEvents page %d", page), err)
		paged = append(paged, got...)
		if len(got) < f.Limit || page > len(events) {
			break
		}
		last := got[len(got)-1]
		f.After = &storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	checkEqual(t, "SearchEvents by pages", paged, []storage.Event{e(5), e(4), e(2), e(1), e(3), e(0)})
}

// testPurgeEvents pins PurgeEvents: events strictly older than the cutoff
// go, oldest first, at most limit per call; the others stay.
func testPurgeEvents(ctx context.Context, t *testing.T, s storage.Store) {
	for i := range 5 {
		e := &storage.Event{Type: "refreshed", FamilyID: "f1", CreatedAt: at(time.Duration(i) * time.Hour)}
		mustOK(t, "AppendEvent", s.AppendEvent(ctx, e))
	}
	n, err := s.PurgeEvents(ctx, at(3*time.Hour), 0)
	mustOK(t, "PurgeEvents(limit 0)", err)
	checkEqual(t, "PurgeEvents(limit 0)", n, int64(0))

	n, err = s.PurgeEvents(ctx, at(3*time.Hour), 2)
	mustOK(t, "PurgeEvents(limit 2)", err)
	checkEqual(t, "PurgeEvents(limit 2)", n, int64(2))
	left, err := s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	if len(left) != 3 || !left[0].CreatedAt.Equal(at(2*time.Hour)) {
		t.Fatalf("after one batch: %d events, the oldest at %v; want 3, the oldest at %v", len(left), left[0].CreatedAt, at(2*time.Hour))
	}

	// The event at the cutoff itself stays.
	n, err = s.PurgeEvents(ctx, at(3*time.Hour), 100)
	mustOK(t, "PurgeEvents(rest)", err)
	checkEqual(t, "PurgeEvents(rest)", n, int64(1))
	left, err = s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	if len(left) != 2 || !left[0].CreatedAt.Equal(at(3*time.Hour)) {
		t.Errorf("after the cutoff: %d events, want the 2 at and after %v", len(left), at(3*time.Hour))
	}
}
