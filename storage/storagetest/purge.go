package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// purgeLimit is small so that the suite exercises batching.
const purgeLimit = 2

// testPurge builds live, revoked and expired families with every kind of
// token, calls Purge with a small limit until a batch comes back short, and
// checks exactly what is left.
func testPurge(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(10 * time.Hour)
	replayBefore := at(5 * time.Hour)
	µs := time.Microsecond

	family := func(id string, expires, revoked time.Time) *storage.Family {
		f := newFamily(ctx, t, s, id, "u1", "c1", at(0))
		f.ExpiresAt = expires
		if !revoked.IsZero() {
			f.RevokedAt, f.RevokeReason = revoked, storage.ReasonAdmin
		}
		return f
	}
	fams := []*storage.Family{
		family("live", now.Add(24*time.Hour), time.Time{}),
		family("live-empty", now.Add(µs), time.Time{}),
		family("revoked", now.Add(24*time.Hour), at(2*time.Hour)),
		family("revoked-empty", now.Add(24*time.Hour), at(2*time.Hour)),
		family("expired", now.Add(-time.Hour), time.Time{}),
		family("expired-now", now, time.Time{}), // expired exactly now
		family("expired-revoked", now.Add(-time.Hour), at(time.Hour)),
	}
	for _, f := range fams {
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	}

	type tokenCase struct {
		tok  *storage.Token
		keep bool
		// wiped: the replay is cleared (the token is kept).
		wiped bool
	}
	token := func(key, familyID string, kind storage.TokenKind, expires, spent time.Time, replay string) *storage.Token {
		tok := newToken(key, familyID)
		tok.Kind, tok.ExpiresAt, tok.SpentAt = kind, expires, spent
		if replay != "" {
			tok.Replay = []byte(replay)
		}
		return tok
	}
	const (
		access  = storage.KindAccess
		refresh = storage.KindRefresh
	)
	var never time.Time
	cases := []tokenCase{
		// Live family: expired access tokens and expired unspent refresh
		// tokens go; spent refresh tokens stay, expired or not.
		{tok: token("live-refresh", "live", refresh, now.Add(time.Hour), never, ""), keep: true},
		{tok: token("live-refresh-edge", "live", refresh, now.Add(µs), never, ""), keep: true},
		{tok: token("live-refresh-expired", "live", refresh, now, never, "")},
		{tok: token("live-refresh-old", "live", refresh, now.Add(-time.Hour), never, "")},
		{tok: token("live-spent", "live", refresh, now.Add(-time.Hour), at(time.Hour), "r1"), keep: true, wiped: true},
		{tok: token("live-spent-2", "live", refresh, now.Add(time.Hour), at(2*time.Hour), "r2"), keep: true, wiped: true},
		{tok: token("live-spent-3", "live", refresh, now.Add(-time.Hour), replayBefore.Add(-µs), "r3"), keep: true, wiped: true},
		{tok: token("live-spent-at-cutoff", "live", refresh, now.Add(-time.Hour), replayBefore, "r4"), keep: true},
		{tok: token("live-spent-recent", "live", refresh, now.Add(time.Hour), at(9*time.Hour), "r5"), keep: true},
		{tok: token("live-spent-no-replay", "live", refresh, now.Add(-time.Hour), at(time.Hour), ""), keep: true},
		{tok: token("live-spent-empty-replay", "live", refresh, now.Add(time.Hour), at(time.Hour), ""), keep: true},
		{tok: token("live-spend-empty-replay", "live", refresh, now.Add(time.Hour), never, ""), keep: true},
		{tok: token("live-access", "live", access, now.Add(time.Hour), never, ""), keep: true},
		{tok: token("live-access-edge", "live", access, now.Add(µs), never, ""), keep: true},
		{tok: token("live-access-expired", "live", access, now, never, "")},
		{tok: token("live-access-old", "live", access, now.Add(-time.Hour), never, "")},
		// Revoked and expired families: every token goes.
		{tok: token("revoked-refresh", "revoked", refresh, now.Add(time.Hour), never, "")},
		{tok: token("revoked-spent", "revoked", refresh, now.Add(time.Hour), at(8*time.Hour), "r6")},
		{tok: token("revoked-access", "revoked", access, now.Add(time.Hour), never, "")},
		{tok: token("expired-refresh", "expired", refresh, now.Add(-time.Hour), never, "")},
		{tok: token("expired-spent", "expired", refresh, now.Add(-time.Hour), at(6*time.Hour), "r7")},
		{tok: token("expired-access", "expired", access, now.Add(time.Hour), never, "")},
		{tok: token("expired-now-spent", "expired-now", refresh, now.Add(time.Hour), at(7*time.Hour), "")},
		{tok: token("expired-revoked-spent", "expired-revoked", refresh, now.Add(time.Hour), at(9*time.Hour), "")},
	}
	var tokens []*storage.Token
	for _, tc := range cases {
		if tc.tok.Key == "live-spent-empty-replay" {
			tc.tok.Replay = []byte{} // an empty replay is no replay: nothing to wipe
		}
		mustOK(t, "CreateToken "+tc.tok.Key, s.CreateToken(ctx, tc.tok))
		tokens = append(tokens, tc.tok)
	}
	// Spent with an empty replay: nothing to wipe either.
	mustOK(t, "SpendToken", s.SpendToken(ctx, "live-spend-empty-replay", at(time.Hour), []byte{}))
	for _, tc := range cases {
		if tc.tok.Key == "live-spend-empty-replay" {
			tc.tok.SpentAt = at(time.Hour)
		}
	}
	var events []storage.Event
	for _, f := range fams {
		e := storage.Event{Type: "issue", FamilyID: f.ID, ClientID: f.ClientID, UserID: f.UserID, CreatedAt: at(0)}
		mustOK(t, "AppendEvent", s.AppendEvent(ctx, &e))
		events = append(events, e)
	}

	liveFamily := map[string]bool{"live": true, "live-empty": true}
	var (
		wantTokens, wantReplays int64
		wantFamilies            = int64(len(fams) - len(liveFamily))
	)
	for _, tc := range cases {
		if !tc.keep {
			wantTokens++
		}
		if tc.wiped {
			wantReplays++
		}
	}

	var total storage.PurgeCounts
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatalf("Purge still purging after %d batches (total %+v)", i, total)
		}
		c, err := s.Purge(ctx, now, replayBefore, purgeLimit)
		mustOK(t, "Purge", err)
		if c.Tokens < 0 || c.Tokens > purgeLimit || c.Families < 0 || c.Families > purgeLimit || c.Replays < 0 || c.Replays > purgeLimit {
			t.Fatalf("Purge batch %d = %+v, want each count in [0, %d]", i, c, purgeLimit)
		}
		total.Tokens += c.Tokens
		total.Families += c.Families
		total.Replays += c.Replays
		checkFamiliesOutliveTokens(ctx, t, s, fams, tokens)
		if c.Tokens < purgeLimit && c.Families < purgeLimit && c.Replays < purgeLimit {
			break
		}
	}
	checkEqual(t, "Purge total", total, storage.PurgeCounts{Tokens: wantTokens, Families: wantFamilies, Replays: wantReplays})

	for _, tc := range cases {
		got, err := s.GetToken(ctx, tc.tok.Key)
		if !tc.keep {
			wantErr(t, "GetToken("+tc.tok.Key+") after Purge", err, storage.ErrNotFound)
			continue
		}
		mustOK(t, "GetToken("+tc.tok.Key+") after Purge", err)
		want := *tc.tok
		if tc.wiped {
			want.Replay = nil
			if got.Replay != nil {
				t.Errorf("GetToken(%s) after Purge: Replay = %q, want nil", tc.tok.Key, got.Replay)
			}
		}
		checkEqual(t, "GetToken("+tc.tok.Key+") after Purge", got, &want)
	}
	for _, f := range fams {
		got, err := s.GetFamily(ctx, f.ID)
		if !liveFamily[f.ID] {
			wantErr(t, "GetFamily("+f.ID+") after Purge", err, storage.ErrNotFound)
			continue
		}
		mustOK(t, "GetFamily("+f.ID+") after Purge", err)
		checkEqual(t, "GetFamily("+f.ID+") after Purge", got, f)
	}
	for _, e := range events {
		got, err := s.ListEvents(ctx, e.FamilyID)
		mustOK(t, "ListEvents("+e.FamilyID+") after Purge", err)
		checkEqual(t, "ListEvents("+e.FamilyID+") after Purge", got, []storage.Event{e})
	}

	// Nothing is left to purge, and a later replay cutoff wipes only replays.
	c, err := s.Purge(ctx, now, replayBefore, purgeLimit)
	mustOK(t, "Purge(again)", err)
	checkEqual(t, "Purge(again)", c, storage.PurgeCounts{})
	c, err = s.Purge(ctx, now, now, 100)
	mustOK(t, "Purge(later replay cutoff)", err)
	checkEqual(t, "Purge(later replay cutoff)", c, storage.PurgeCounts{Replays: 2})
	for _, key := range []string{"live-spent-at-cutoff", "live-spent-recent"} {
		got, err := s.GetToken(ctx, key)
		mustOK(t, "GetToken("+key+")", err)
		if got.Replay != nil || got.SpentAt.IsZero() {
			t.Errorf("GetToken(%s) after the later cutoff: spent %v, Replay %q; want spent, no replay", key, got.SpentAt, got.Replay)
		}
	}
}

// checkFamiliesOutliveTokens fails if a family is gone while one of its tokens
// is still stored.
func checkFamiliesOutliveTokens(ctx context.Context, t *testing.T, s storage.Store, fams []*storage.Family, tokens []*storage.Token) {
	t.Helper()
	for _, f := range fams {
		_, err := s.GetFamily(ctx, f.ID)
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetFamily(%s): %v", f.ID, err)
		}
		for _, tok := range tokens {
			if tok.FamilyID != f.ID {
				continue
			}
			if _, err := s.GetToken(ctx, tok.Key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("family %s was purged while its token %s remains (GetToken: %v)", f.ID, tok.Key, err)
			}
		}
	}
}

// testPurgeNothing checks that Purge leaves live data alone and that the
// limit bounds each kind.
func testPurgeNothing(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(time.Hour)
	c, err := s.Purge(ctx, now, now, purgeLimit)
	mustOK(t, "Purge(empty store)", err)
	checkEqual(t, "Purge(empty store)", c, storage.PurgeCounts{})

	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
	var keys []string
	for i := range 5 {
		key := fmt.Sprintf("k%d", i)
		keys = append(keys, key)
		tok := newToken(key, "f1")
		tok.Kind, tok.ExpiresAt = storage.KindAccess, now.Add(-time.Minute)
		mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
	}
	live := newToken("live", "f1")
	live.ExpiresAt = now.Add(time.Hour)
	mustOK(t, "CreateToken(live)", s.CreateToken(ctx, live))
	for i, want := range []int64{2, 2, 1, 0} {
		c, err := s.Purge(ctx, now, now, purgeLimit)
		mustOK(t, "Purge", err)
		checkEqual(t, fmt.Sprintf("Purge batch %d", i), c, storage.PurgeCounts{Tokens: want})
	}
	for _, key := range keys {
		_, err := s.GetToken(ctx, key)
		wantErr(t, "GetToken("+key+")", err, storage.ErrNotFound)
	}
	_, err = s.GetToken(ctx, "live")
	mustOK(t, "GetToken(live)", err)
	_, err = s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily(f1)", err)
}
