package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testStatusRanges checks the reservation of status list indexes: ranges
// of a list follow each other, a full list gives way to a new one, so does
// a list created before createdAfter, a list's ExpiresAt only grows, and
// ListStatusLists names the lists unexpired at now.
func testStatusRanges(ctx context.Context, t *testing.T, s storage.Store) {
	const size, count = 16, 5
	reserve := func(newID string, now, expires time.Time) storage.StatusRange {
		t.Helper()
		r, err := s.ReserveStatusRange(ctx, newID, size, count, now, now.Add(-24*time.Hour), expires)
		mustOK(t, "ReserveStatusRange", err)
		return r
	}
	var got []storage.StatusRange
	for i := range 4 {
		got = append(got, reserve(fmt.Sprintf("new%d", i), at(time.Duration(i)*time.Second), at(time.Hour)))
	}
	checkEqual(t, "ranges", got, []storage.StatusRange{
		{List: "new0", First: 0, Count: count}, {List: "new0", First: 5, Count: count},
		{List: "new0", First: 10, Count: count}, {List: "new3", First: 0, Count: count},
	})
	l, err := s.GetStatusList(ctx, "new0")
	mustOK(t, "GetStatusList", err)
	checkEqual(t, "new list", l, &storage.StatusList{
		ID: "new0", Size: size, Bits: make([]byte, size/8), Version: 1, CreatedAt: at(0), ExpiresAt: at(time.Hour),
	})

	// ExpiresAt moves later, never earlier.
	reserve("unused", at(4*time.Second), at(2*time.Hour))
	reserve("unused", at(5*time.Second), at(30*time.Minute))
	l, err = s.GetStatusList(ctx, "new3")
	mustOK(t, "GetStatusList", err)
	if !l.ExpiresAt.Equal(at(2 * time.Hour)) {
		t.Errorf("ExpiresAt = %v, want %v", l.ExpiresAt, at(2*time.Hour))
	}

	// A day later, new3 has room but is too old: a new list.
	if r := reserve("day2", at(25*time.Hour), at(26*time.Hour)); r != (storage.StatusRange{List: "day2", First: 0, Count: count}) {
		t.Errorf("reservation a day later = %+v, want a new list", r)
	}
	ids, err := s.ListStatusLists(ctx, at(90*time.Minute))
	mustOK(t, "ListStatusLists", err)
	checkEqual(t, "ListStatusLists", ids, []string{"day2", "new3"})

	if _, err := s.ReserveStatusRange(ctx, "x", size, size+1, at(0), at(0), at(0)); err == nil {
		t.Error("a range larger than a list was reserved")
	}
	_, err = s.GetStatusList(ctx, "nosuch")
	wantErr(t, "GetStatusList(nosuch)", err, storage.ErrNotFound)
	_, err = s.StatusListVersion(ctx, "nosuch")
	wantErr(t, "StatusListVersion(nosuch)", err, storage.ErrNotFound)
	_, err = s.StatusListVersion(ctx, "bad\x00id")
	wantErr(t, "StatusListVersion(NUL)", err, storage.ErrNotFound)
}

// statusAccess is an access token of family fid at index idx of list,
// expiring at exp.
func statusAccess(key, fid, list string, idx int64, exp time.Time) *storage.Token {
	tok := newToken(key, fid)
	tok.Kind, tok.ParentKey, tok.ExpiresAt = storage.KindAccess, "", exp
	tok.StatusList, tok.StatusIdx = list, idx
	return tok
}

// statusBits returns the indexes set in a list, and its version.
func statusBits(ctx context.Context, t testing.TB, s storage.Store, list string) ([]int64, int64) {
	t.Helper()
	l, err := s.GetStatusList(ctx, list)
	mustOK(t, "GetStatusList", err)
	v, err := s.StatusListVersion(ctx, list)
	mustOK(t, "StatusListVersion", err)
	if v != l.Version {
		t.Errorf("StatusListVersion = %d, GetStatusList's Version %d", v, l.Version)
	}
	var set []int64
	for i := range l.Size {
		if l.Bits[i/8]>>(i%8)&1 == 1 {
			set = append(set, i)
		}
	}
	return set, l.Version
}

// testStatusBits checks that each revocation of a family — RevokeFamily,
// RevokeFamilies, RevokeByToken with DenyAccessTokens — sets the bits of
// its access tokens unexpired at the revocation, in two lists, and no
// other bit; a revocation that ends nothing changes no version; a token
// stores its list and index.
func testStatusBits(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(time.Hour)
	live, gone := now.Add(10*time.Minute), now.Add(-time.Minute)
	var lists []string
	for i := range 2 {
		r, err := s.ReserveStatusRange(ctx, fmt.Sprintf("L%d", i), 64, 64, at(0), at(-time.Hour), at(2*time.Hour))
		mustOK(t, "ReserveStatusRange", err)
		lists = append(lists, r.List)
	}
	L0, L1 := lists[0], lists[1]
	type fam struct {
		id, user, client string
		tokens           []*storage.Token
	}
	fams := []fam{
		{"f1", "u1", "c1", []*storage.Token{statusAccess("f1a", "f1", L0, 3, live), statusAccess("f1b", "f1", L1, 63, live), statusAccess("f1old", "f1", L0, 4, gone), newToken("f1r", "f1")}},
		{"f2", "u2", "c1", []*storage.Token{statusAccess("f2a", "f2", L0, 10, live)}},
		{"f3", "u2", "c2", []*storage.Token{statusAccess("f3a", "f3", L0, 11, live), statusAccess("f3b", "f3", L0, 12, live)}},
		{"f4", "u3", "c3", []*storage.Token{statusAccess("f4a", "f4", L0, 20, live), newToken("f4r", "f4")}},
		{"f5", "u4", "c4", []*storage.Token{statusAccess("f5a", "f5", L1, 0, live)}}, // never revoked
	}
	for _, f := range fams {
		for _, tok := range f.tokens {
			tok.ClientID = f.client
		}
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, f.id, f.user, f.client, at(0)), f.tokens...))
	}
	got, err := s.GetToken(ctx, "f1b")
	mustOK(t, "GetToken", err)
	if got.StatusList != L1 || got.StatusIdx != 63 {
		t.Errorf("token's status entry = %q %d, want %q 63", got.StatusList, got.StatusIdx, L1)
	}
	want := func(step string, l string, bits []int64, version int64) {
		t.Helper()
		got, v := statusBits(ctx, t, s, l)
		if !slices.Equal(got, bits) || v != version {
			t.Errorf("%s: list %s has bits %v version %d, want %v version %d", step, l, got, v, bits, version)
		}
	}
	want("before", L0, nil, 1)

	revoked, err := s.RevokeFamily(ctx, "f1", storage.ReasonAdmin, now)
	mustOK(t, "RevokeFamily", err)
	if !revoked {
		t.Fatal("RevokeFamily did not revoke")
	}
	want("RevokeFamily", L0, []int64{3}, 2)
	want("RevokeFamily", L1, []int64{63}, 2)
	_, err = s.RevokeFamily(ctx, "f1", storage.ReasonAdmin, now)
	mustOK(t, "RevokeFamily again", err)
	want("RevokeFamily again", L0, []int64{3}, 2)

	_, err = s.RevokeFamilies(ctx, storage.FamilyFilter{UserID: "u2"}, storage.ReasonLogoutAll, now)
	mustOK(t, "RevokeFamilies", err)
	want("RevokeFamilies", L0, []int64{3, 10, 11, 12}, 3)

	_, _, revoked, err = s.RevokeByToken(ctx, storage.Revocation{Key: "f4r", ClientID: "c3", At: now, Reason: storage.ReasonRevoked, DenyAccessTokens: true})
	mustOK(t, "RevokeByToken", err)
	if !revoked {
		t.Fatal("RevokeByToken did not revoke")
	}
	want("RevokeByToken", L0, []int64{3, 10, 11, 12, 20}, 4)
	want("RevokeByToken", L1, []int64{63}, 2)

	// A revocation that rolls back sets nothing.
	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.RevokeFamily(ctx, "f5", storage.ReasonAdmin, now); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	want("rolled back", L1, []int64{63}, 2)
}

// testStatusPurge checks that Purge drops a list once its ExpiresAt has
// passed, and no list before.
func testStatusPurge(ctx context.Context, t *testing.T, s storage.Store) {
	for i, exp := range []time.Time{at(time.Hour), at(3 * time.Hour)} {
		// Created a day apart, so each reservation makes its own list.
		now := at(time.Duration(i) * 25 * time.Hour)
		_, err := s.ReserveStatusRange(ctx, fmt.Sprintf("p%d", i), 8, 8, now, now.Add(-24*time.Hour), exp)
		mustOK(t, "ReserveStatusRange", err)
	}
	n, err := s.Purge(ctx, at(time.Hour), at(0), 100)
	mustOK(t, "Purge at the first list's expiry", err)
	if n.StatusLists != 1 {
		t.Errorf("Purge: %d status lists, want 1", n.StatusLists)
	}
	_, err = s.GetStatusList(ctx, "p0")
	wantErr(t, "GetStatusList(purged)", err, storage.ErrNotFound)
	_, err = s.GetStatusList(ctx, "p1")
	mustOK(t, "GetStatusList(kept)", err)
}

// testConcurrentStatusRanges: reservations made at once, by one store or
// by two nodes' stores on one database, never share an index.
func testConcurrentStatusRanges(ctx context.Context, t *testing.T, a, b storage.Store) {
	const n, size, count = 16, 40, 10 // four ranges a list: some reservations start lists
	var wg sync.WaitGroup
	ranges := make([]storage.StatusRange, n)
	errs := make([]error, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			ranges[i], errs[i] = s.ReserveStatusRange(ctx, fmt.Sprintf("c%02d", i), size, count, at(0), at(-time.Hour), at(time.Hour))
		})
	}
	wg.Wait()
	taken := map[string]bool{}
	for i, r := range ranges {
		mustOK(t, "ReserveStatusRange", errs[i])
		for idx := r.First; idx < r.First+r.Count; idx++ {
			k := fmt.Sprintf("%s/%d", r.List, idx)
			if taken[k] {
				t.Errorf("index %s reserved twice", k)
			}
			taken[k] = true
			if idx >= size {
				t.Errorf("index %s past the list's size", k)
			}
		}
	}
}
