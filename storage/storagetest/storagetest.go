// Package storagetest is the conformance suite for [storage.Store] backends.
// A backend's test calls [Run] with a constructor of fresh, empty stores; the
// suite checks CRUD, the sentinel errors, time round trips, transactions,
// single use of refresh tokens, distinct attempt counts and password-hash
// upgrades that never undo a password change, under concurrency,
// signing keys, the denylist, status lists and purging. It knows nothing about any
// particular database.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// Deadlines: a subtest's context expires after subtestTimeout so that a
// blocked database call fails; the whole run panics with a goroutine dump
// after runTimeout so that a deadlock outside the database fails fast too.
const (
	runTimeout     = 2 * time.Minute
	subtestTimeout = 30 * time.Second
)

// Run runs the conformance suite. newStore must return a fresh, empty store
// for each call, and arrange its own cleanup with t.Cleanup. Subtests run in
// parallel, each with its own store.
func Run(t *testing.T, newStore func(t testing.TB) storage.Store) {
	watchdog(t)

	tests := []struct {
		name string
		fn   func(ctx context.Context, t *testing.T, s storage.Store)
	}{
		{"Ping", testPing},
		{"Clients", testClients},
		{"Users", testUsers},
		{"UpgradePasswordHash", testUpgradePasswordHash},
		{"ConcurrentPasswordUpgrade", testConcurrentPasswordUpgrade},
		{"Families", testFamilies},
		{"FamilyWithTokens", testFamilyWithTokens},
		{"Tokens", testTokens},
		{"TokenFamily", testTokenFamily},
		{"Rotate", testRotate},
		{"FamilyStep", testFamilyStep},
		{"ConcurrentRotateStep", testConcurrentRotateStep},
		{"LookupClientToken", testLookupClientToken},
		{"RevokeByToken", testRevokeByToken},
		{"ConcurrentRevokeByToken", testConcurrentRevokeByToken},
		{"ConcurrentLockTokenFamily", testConcurrentLockTokenFamily},
		{"Replay", testReplay},
		{"Purge", testPurge},
		{"PurgeNothing", testPurgeNothing},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"ListLiveFamilies", testListLiveFamilies},
		{"RevokeFamilies", testRevokeFamilies},
		{"Events", testEvents},
		{"CountEvents", testCountEvents},
		{"CountLiveFamilies", testCountLiveFamilies},
		{"ListUsers", testListUsers},
		{"SetClientSecret", testSetClientSecret},
		{"SearchEvents", testSearchEvents},
		{"PurgeEvents", testPurgeEvents},
		{"TxCommit", testTxCommit},
		{"TxRollback", testTxRollback},
		{"TxNested", testTxNested},
		{"TxPanic", testTxPanic},
		{"ReadBesideWrite", testReadBesideWrite},
		{"ConcurrentSpend", testConcurrentSpend},
		{"Attempts", testAttempts},
		{"ConcurrentAttempts", testConcurrentAttempts},
		{"SigningKeys", testSigningKeys},
		{"Denylist", testDenylist},
		{"PurgeGuard", testPurgeGuard},
		{"UnholdableText", testUnholdableText},
		{"EndedContext", testEndedContext},
		{"DPoPJTIs", testDPoPJTIs},
		{"FamilyOfDeletedClient", testFamilyOfDeletedClient},
		{"ConcurrentDeleteClient", func(ctx context.Context, t *testing.T, s storage.Store) {
			testConcurrentDeleteClient(ctx, t, s, s)
		}},
		{"StatusRanges", testStatusRanges},
		{"StatusBits", testStatusBits},
		{"StatusPurge", testStatusPurge},
		{"ConcurrentStatusRanges", func(ctx context.Context, t *testing.T, s storage.Store) {
			testConcurrentStatusRanges(ctx, t, s, s)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
			defer cancel()
			tc.fn(ctx, t, s)
		})
	}
}

// RunPair runs the cases that need two stores on one database, as two Latch
// nodes sharing it have. newPair must return two such stores on a fresh,
// empty database for each call, and arrange their cleanup with t.Cleanup.
// Subtests run in parallel, each with its own database.
func RunPair(t *testing.T, newPair func(t testing.TB) (storage.Store, storage.Store)) {
	watchdog(t)
	tests := []struct {
		name string
		fn   func(ctx context.Context, t *testing.T, a, b storage.Store)
	}{
		{"ConcurrentDeleteClient", testConcurrentDeleteClient},
		{"ConcurrentStatusRanges", testConcurrentStatusRanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t)
			ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
			defer cancel()
			tc.fn(ctx, t, a, b)
		})
	}
}

// watchdog panics with a goroutine dump if t has not ended after
// runTimeout.
func watchdog(t *testing.T) {
	timer := time.AfterFunc(runTimeout, func() {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("storagetest: %s: no result after %v; goroutines:\n%s", t.Name(), runTimeout, buf))
	})
	t.Cleanup(func() { timer.Stop() })
}

// base is a fixed instant; the suite never depends on the wall clock.
var base = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

func newClient(id string) *storage.Client {
	return &storage.Client{
		ID: id, Name: "Client " + id, SecretHash: "sha256$c2VjcmV0",
		GrantTypes: []string{"client_credentials", "refresh_token"},
		Scopes:     []string{"read", "write"}, AuthMethod: storage.AuthMethodBasic,
		CanIntrospect: true, Audience: []string{"https://api.example"}, CreatedAt: at(0),
	}
}

func newUser(id, username string) *storage.User {
	return &storage.User{
		ID: id, Username: username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt: at(0), PasswordChangedAt: at(time.Minute),
	}
}

// newFamily returns a family of client clientID, which it stores first
// (newClient) unless it exists: CreateFamily stores families only of
// clients that exist.
func newFamily(ctx context.Context, t testing.TB, s storage.Store, id, userID, clientID string, created time.Time) *storage.Family {
	t.Helper()
	c, err := s.GetClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		c = newClient(clientID)
		err = s.CreateClient(ctx, c)
	}
	mustOK(t, "newFamily: client", err)
	f := &storage.Family{
		ID: id, ClientID: clientID, ClientGeneration: c.Generation, UserID: userID, Scopes: []string{"read"},
		Audience: []string{"https://api.example"}, CreatedAt: created,
		LastUsedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
	if userID != "" {
		f.Username = "name-" + userID
	}
	return f
}

func newToken(key, familyID string) *storage.Token {
	return &storage.Token{
		Key: key, Kind: storage.KindRefresh, FamilyID: familyID, ClientID: "c1",
		Scopes: []string{"read"}, IssuedAt: at(0), ExpiresAt: at(time.Hour), ParentKey: "parent-" + key,
	}
}

func testPing(ctx context.Context, t *testing.T, s storage.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testClients(ctx context.Context, t *testing.T, s storage.Store) {
	public := newClient("a-public")
	public.SecretHash, public.AuthMethod, public.CanIntrospect = "", storage.AuthMethodNone, false
	public.GrantTypes, public.Audience = []string{"password"}, nil
	b := newClient("b")
	for _, c := range []*storage.Client{b, public} {
		mustOK(t, "CreateClient", s.CreateClient(ctx, c))
	}
	wantErr(t, "CreateClient(duplicate)", s.CreateClient(ctx, newClient("b")), storage.ErrAlreadyExists)

	got, err := s.GetClient(ctx, "a-public")
	mustOK(t, "GetClient", err)
	checkEqual(t, "GetClient", got, public)
	if !got.IsPublic() {
		t.Error("public client came back not public")
	}
	_, err = s.GetClient(ctx, "missing")
	wantErr(t, "GetClient(missing)", err, storage.ErrNotFound)

	list, err := s.ListClients(ctx)
	mustOK(t, "ListClients", err)
	checkEqual(t, "ListClients", list, []storage.Client{*public, *b})

	mustOK(t, "DeleteClient", s.DeleteClient(ctx, "b"))
	wantErr(t, "DeleteClient(again)", s.DeleteClient(ctx, "b"), storage.ErrNotFound)
	_, err = s.GetClient(ctx, "b")
	wantErr(t, "GetClient(deleted)", err, storage.ErrNotFound)
}

func testUsers(ctx context.Context, t *testing.T, s storage.Store) {
	alice := newUser("u1", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, alice))
	wantErr(t, "CreateUser(same id)", s.CreateUser(ctx, newUser("u1", "bob")), storage.ErrAlreadyExists)
	wantErr(t, "CreateUser(same username)", s.CreateUser(ctx, newUser("u2", "alice")), storage.ErrAlreadyExists)
	mustOK(t, "CreateUser(other case)", s.CreateUser(ctx, newUser("u3", "Alice")))

	got, err := s.GetUser(ctx, "u1")
	mustOK(t, "GetUser", err)
	checkEqual(t, "GetUser", got, alice)
	got, err = s.GetUserByUsername(ctx, "alice")
	mustOK(t, "GetUserByUsername", err)
	checkEqual(t, "GetUserByUsername", got, alice)
	for _, name := range []string{"ALICE", "alic", ""} {
		_, err = s.GetUserByUsername(ctx, name)
		wantErr(t, fmt.Sprintf("GetUserByUsername(%q)", name), err, storage.ErrNotFound)
	}
	_, err = s.GetUser(ctx, "missing")
	wantErr(t, "GetUser(missing)", err, storage.ErrNotFound)
	mustOK(t, "LockUser", s.InTx(ctx, func(ctx context.Context) error {
		got, err := s.LockUser(ctx, "u1")
		if err == nil {
			checkEqual(t, "LockUser", got, alice)
		}
		return err
	}))
	_, err = s.LockUser(ctx, "missing")
	wantErr(t, "LockUser(missing)", err, storage.ErrNotFound)

	mustOK(t, "SetPassword", s.SetPassword(ctx, "u1", "new-hash", at(time.Hour)))
	mustOK(t, "SetDisabled", s.SetDisabled(ctx, "u1", true))
	got, err = s.GetUser(ctx, "u1")
	mustOK(t, "GetUser", err)
	alice.PasswordHash, alice.PasswordChangedAt, alice.Disabled = "new-hash", at(time.Hour), true
	checkEqual(t, "GetUser after updates", got, alice)
	mustOK(t, "SetDisabled(false)", s.SetDisabled(ctx, "u1", false))
	if got, err = s.GetUser(ctx, "u1"); err != nil || got.Disabled {
		t.Errorf("GetUser after SetDisabled(false) = %+v, %v; want enabled", got, err)
	}
	wantErr(t, "SetPassword(missing)", s.SetPassword(ctx, "missing", "h", at(0)), storage.ErrNotFound)
	wantErr(t, "SetDisabled(missing)", s.SetDisabled(ctx, "missing", true), storage.ErrNotFound)

	mustOK(t, "DeleteUser", s.DeleteUser(ctx, "u1"))
	wantErr(t, "DeleteUser(again)", s.DeleteUser(ctx, "u1"), storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "alice")
	wantErr(t, "GetUserByUsername(deleted)", err, storage.ErrNotFound)
	mustOK(t, "CreateUser(reuse deleted username)", s.CreateUser(ctx, newUser("u4", "alice")))
}

func testFamilies(ctx context.Context, t *testing.T, s storage.Store) {
	f := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
	cc := newFamily(ctx, t, s, "f2", "", "c1", at(0)) // client_credentials: no user
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	mustOK(t, "CreateFamily(no user)", s.CreateFamily(ctx, cc))
	wantErr(t, "CreateFamily(duplicate)", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u2", "c2", at(0))), storage.ErrAlreadyExists)

	got, err := s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily", err)
	checkEqual(t, "GetFamily", got, f)
	if got.Revoked() {
		t.Error("new family is revoked")
	}
	got, err = s.LockFamily(ctx, "f2")
	mustOK(t, "LockFamily", err)
	checkEqual(t, "LockFamily", got, cc)

	mustOK(t, "TouchFamily", s.TouchFamily(ctx, "f1", at(time.Hour)))
	ok, err := s.RevokeFamily(ctx, "f1", storage.ReasonAdmin, at(2*time.Hour))
	if err != nil || !ok {
		t.Fatalf("RevokeFamily = %v, %v; want true, nil", ok, err)
	}
	ok, err = s.RevokeFamily(ctx, "f1", storage.ReasonReuse, at(3*time.Hour))
	if err != nil || ok {
		t.Fatalf("RevokeFamily(again) = %v, %v; want false, nil", ok, err)
	}
	got, err = s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily", err)
	f.LastUsedAt, f.RevokedAt, f.RevokeReason = at(time.Hour), at(2*time.Hour), storage.ReasonAdmin
	checkEqual(t, "GetFamily after touch and revoke", got, f)

	_, err = s.GetFamily(ctx, "missing")
	wantErr(t, "GetFamily(missing)", err, storage.ErrNotFound)
	_, err = s.LockFamily(ctx, "missing")
	wantErr(t, "LockFamily(missing)", err, storage.ErrNotFound)
	wantErr(t, "TouchFamily(missing)", s.TouchFamily(ctx, "missing", at(0)), storage.ErrNotFound)
	_, err = s.RevokeFamily(ctx, "missing", storage.ReasonAdmin, at(0))
	wantErr(t, "RevokeFamily(missing)", err, storage.ErrNotFound)
}

// testFamilyWithTokens checks CreateFamily with the tokens that start the
// login: all stored, or none when a key is taken.
func testFamilyWithTokens(ctx context.Context, t *testing.T, s storage.Store) {
	f := newFamily(ctx, t, s, "f1", "u1", "c1", at(0))
	refresh := newToken("k1", "f1")
	access := newToken("k2", "f1")
	access.Kind, access.ParentKey, access.Scopes = storage.KindAccess, "", nil
	mustOK(t, "CreateFamily(tokens)", s.CreateFamily(ctx, f, access, refresh))
	for _, want := range []*storage.Token{access, refresh} {
		tok, fam, err := s.GetTokenFamily(ctx, want.Key)
		mustOK(t, "GetTokenFamily", err)
		checkEqual(t, "GetTokenFamily token", tok, want)
		checkEqual(t, "GetTokenFamily family", fam, f)
	}

	// A taken token key: neither the family nor the other token is stored.
	f2 := newFamily(ctx, t, s, "f2", "u1", "c1", at(0))
	fresh := newToken("k3", "f2")
	wantErr(t, "CreateFamily(taken token key)", s.CreateFamily(ctx, f2, fresh, newToken("k1", "f2")), storage.ErrAlreadyExists)
	_, err := s.GetFamily(ctx, "f2")
	wantErr(t, "GetFamily after a failed CreateFamily", err, storage.ErrNotFound)
	_, err = s.GetToken(ctx, "k3")
	wantErr(t, "GetToken after a failed CreateFamily", err, storage.ErrNotFound)

	// A taken family id: the tokens are not stored.
	wantErr(t, "CreateFamily(taken id)", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u2", "c1", at(0)), newToken("k4", "f1")), storage.ErrAlreadyExists)
	_, err = s.GetToken(ctx, "k4")
	wantErr(t, "GetToken after a failed CreateFamily", err, storage.ErrNotFound)

	// Inside a caller's transaction the family joins it.
	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateFamily(ctx, newFamily(ctx, t, s, "f5", "u1", "c1", at(0)), newToken("k5", "f5")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	_, err = s.GetToken(ctx, "k5")
	wantErr(t, "GetToken after a rolled-back CreateFamily", err, storage.ErrNotFound)
}

func testTokens(ctx context.Context, t *testing.T, s storage.Store) {
	refresh := newToken("k1", "f1")
	access := newToken("k2", "f1")
	access.Kind, access.ParentKey, access.Scopes = storage.KindAccess, "", nil
	mustOK(t, "CreateToken", s.CreateToken(ctx, refresh))
	mustOK(t, "CreateToken(access)", s.CreateToken(ctx, access))
	wantErr(t, "CreateToken(duplicate)", s.CreateToken(ctx, newToken("k1", "f2")), storage.ErrAlreadyExists)

	for _, want := range []*storage.Token{refresh, access} {
		got, err := s.GetToken(ctx, want.Key)
		mustOK(t, "GetToken", err)
		checkEqual(t, "GetToken", got, want)
	}
	_, err := s.GetToken(ctx, "missing")
	wantErr(t, "GetToken(missing)", err, storage.ErrNotFound)

	replay := []byte("sealed\x00response\xff")
	mustOK(t, "SpendToken", s.SpendToken(ctx, "k1", at(time.Minute), replay))
	wantErr(t, "SpendToken(again)", s.SpendToken(ctx, "k1", at(2*time.Minute), []byte("other")), storage.ErrConflict)
	wantErr(t, "SpendToken(missing)", s.SpendToken(ctx, "missing", at(0), nil), storage.ErrNotFound)
	got, err := s.GetToken(ctx, "k1")
	mustOK(t, "GetToken", err)
	refresh.SpentAt, refresh.Replay = at(time.Minute), replay
	checkEqual(t, "GetToken after spend", got, refresh)
}

// testReplay checks that Token.Replay round-trips through CreateToken and
// SpendToken, bytes exactly, and that no replay comes back nil.
func testReplay(ctx context.Context, t *testing.T, s storage.Store) {
	big := make([]byte, 4096)
	for i := range big {
		big[i] = byte(i * 7)
	}
	created := newToken("k1", "f1") // stored spent, with its replay
	created.SpentAt, created.Replay = at(time.Minute), big
	mustOK(t, "CreateToken(with replay)", s.CreateToken(ctx, created))
	got, err := s.GetToken(ctx, "k1")
	mustOK(t, "GetToken", err)
	checkEqual(t, "GetToken(created with replay)", got, created)

	for _, tc := range []struct {
		key    string
		replay []byte
	}{
		{"k2", []byte{0, 1, 2, 0xfe, 0xff, 0}},
		{"k3", nil},
		{"k4", []byte{}},
	} {
		tok := newToken(tc.key, "f1")
		mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
		got, err := s.GetToken(ctx, tc.key)
		mustOK(t, "GetToken", err)
		if got.Replay != nil {
			t.Errorf("GetToken(%s) before spend: Replay = %x, want nil", tc.key, got.Replay)
		}
		mustOK(t, "SpendToken", s.SpendToken(ctx, tc.key, at(2*time.Minute), tc.replay))
		got, err = s.GetToken(ctx, tc.key)
		mustOK(t, "GetToken", err)
		tok.SpentAt, tok.Replay = at(2*time.Minute), tc.replay
		checkEqual(t, "GetToken("+tc.key+") after spend", got, tok)
		if len(tc.replay) == 0 && got.Replay != nil {
			t.Errorf("GetToken(%s) after spend without replay: Replay = %#v, want nil", tc.key, got.Replay)
		}
	}
	// The caller's slice is not retained: changing it changes nothing stored.
	tok := newToken("k5", "f1")
	mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
	replay := []byte("abc")
	mustOK(t, "SpendToken", s.SpendToken(ctx, "k5", at(time.Minute), replay))
	replay[0] = 'X'
	got, err = s.GetToken(ctx, "k5")
	mustOK(t, "GetToken", err)
	if string(got.Replay) != "abc" {
		t.Errorf("GetToken(k5): Replay = %q, want %q", got.Replay, "abc")
	}
}

// testTimeRoundTrip stores times in a zone other than UTC and with
// nanoseconds: they come back in UTC, equal to the input at microsecond
// precision.
func testTimeRoundTrip(ctx context.Context, t *testing.T, s storage.Store) {
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	in := func(d time.Duration) time.Time {
		return time.Date(2031, 12, 31, 23, 59, 59, 987654321, zone).Add(d)
	}
	micro := func(d time.Duration) time.Time { return in(d).Truncate(time.Microsecond) }

	c := newClient("c1")
	c.CreatedAt = in(0)
	u := newUser("u1", "alice")
	u.CreatedAt, u.PasswordChangedAt = in(1), in(2)
	mustOK(t, "CreateClient", s.CreateClient(ctx, c))
	f := newFamily(ctx, t, s, "f1", "u1", "c1", in(3))
	f.LastUsedAt, f.ExpiresAt = in(4), in(5)
	tok := newToken("k1", "f1")
	tok.IssuedAt, tok.ExpiresAt = in(6), in(7)
	e := &storage.Event{Type: "issue", FamilyID: "f1", CreatedAt: in(8)}
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	mustOK(t, "CreateToken", s.CreateToken(ctx, tok))
	mustOK(t, "AppendEvent", s.AppendEvent(ctx, e))
	_, err := s.RevokeFamily(ctx, "f1", storage.ReasonAdmin, in(9))
	mustOK(t, "RevokeFamily", err)
	mustOK(t, "SpendToken", s.SpendToken(ctx, "k1", in(10), nil))

	gc, err := s.GetClient(ctx, "c1")
	mustOK(t, "GetClient", err)
	gu, err := s.GetUser(ctx, "u1")
	mustOK(t, "GetUser", err)
	gf, err := s.GetFamily(ctx, "f1")
	mustOK(t, "GetFamily", err)
	gt, err := s.GetToken(ctx, "k1")
	mustOK(t, "GetToken", err)
	ge, err := s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	if len(ge) != 1 {
		t.Fatalf("ListEvents returned %d events, want 1", len(ge))
	}
	for _, tc := range []struct {
		name string
		got  time.Time
		want time.Time
	}{
		{"Client.CreatedAt", gc.CreatedAt, micro(0)},
		{"User.CreatedAt", gu.CreatedAt, micro(1)},
		{"User.PasswordChangedAt", gu.PasswordChangedAt, micro(2)},
		{"Family.CreatedAt", gf.CreatedAt, micro(3)},
		{"Family.LastUsedAt", gf.LastUsedAt, micro(4)},
		{"Family.ExpiresAt", gf.ExpiresAt, micro(5)},
		{"Token.IssuedAt", gt.IssuedAt, micro(6)},
		{"Token.ExpiresAt", gt.ExpiresAt, micro(7)},
		{"Event.CreatedAt", ge[0].CreatedAt, micro(8)},
		{"Family.RevokedAt", gf.RevokedAt, micro(9)},
		{"Token.SpentAt", gt.SpentAt, micro(10)},
	} {
		if !tc.got.Equal(tc.want) || tc.got.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC", tc.name, tc.got, tc.want.UTC())
		}
	}
}

func testListLiveFamilies(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(48 * time.Hour)
	live := func(id, user, client string, created time.Time) *storage.Family {
		f := newFamily(ctx, t, s, id, user, client, created)
		f.ExpiresAt = now.Add(30 * 24 * time.Hour)
		return f
	}
	f1 := live("f1", "u1", "c1", at(time.Hour))
	f2 := live("f2", "u1", "c2", at(3*time.Hour))
	edge := live("f3", "u1", "c1", at(2*time.Hour))
	edge.ExpiresAt = now.Add(time.Microsecond) // live by one microsecond
	expired := live("f4", "u1", "c1", at(4*time.Hour))
	expired.ExpiresAt = now // expired exactly now
	longGone := live("f5", "u1", "c1", at(5*time.Hour))
	longGone.ExpiresAt = now.Add(-400 * 24 * time.Hour)
	revoked := live("f6", "u1", "c1", at(6*time.Hour))
	revoked.RevokedAt, revoked.RevokeReason = at(7*time.Hour), storage.ReasonAdmin
	other := live("f7", "u2", "c1", at(8*time.Hour))
	for _, f := range []*storage.Family{f1, f2, edge, expired, longGone, revoked, other} {
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	}

	for _, tc := range []struct {
		name   string
		filter storage.FamilyFilter
		want   []storage.Family
	}{
		{"user", storage.FamilyFilter{UserID: "u1"}, []storage.Family{*f2, *edge, *f1}},
		{"client", storage.FamilyFilter{ClientID: "c1"}, []storage.Family{*other, *edge, *f1}},
		{"user and client", storage.FamilyFilter{UserID: "u1", ClientID: "c1"}, []storage.Family{*edge, *f1}},
		{"nobody", storage.FamilyFilter{UserID: "u9"}, nil},
	} {
		got, err := s.ListLiveFamilies(ctx, tc.filter, now)
		mustOK(t, "ListLiveFamilies("+tc.name+")", err)
		checkEqual(t, "ListLiveFamilies("+tc.name+")", got, tc.want)
	}
	// A non-UTC now means the same instant.
	got, err := s.ListLiveFamilies(ctx, storage.FamilyFilter{UserID: "u1"}, now.In(time.FixedZone("UTC-8", -8*3600)))
	mustOK(t, "ListLiveFamilies(non-UTC now)", err)
	checkEqual(t, "ListLiveFamilies(non-UTC now)", got, []storage.Family{*f2, *edge, *f1})
}

func testRevokeFamilies(ctx context.Context, t *testing.T, s storage.Store) {
	now := at(time.Hour)
	fams := []*storage.Family{
		newFamily(ctx, t, s, "f1", "u1", "c1", at(0)),
		newFamily(ctx, t, s, "f2", "u1", "c2", at(0)),
		newFamily(ctx, t, s, "f3", "u1", "c1", at(0)),             // revoked before
		newFamily(ctx, t, s, "f4", "u1", "c1", at(-48*time.Hour)), // expired
		newFamily(ctx, t, s, "f5", "u2", "c1", at(0)),
		newFamily(ctx, t, s, "f6", "u2", "c2", at(0)),
		newFamily(ctx, t, s, "f7", "", "c3", at(0)),
	}
	fams[2].RevokedAt, fams[2].RevokeReason = at(-time.Minute), storage.ReasonReuse
	for _, f := range fams {
		mustOK(t, "CreateFamily", s.CreateFamily(ctx, f))
	}

	ids, err := s.RevokeFamilies(ctx, storage.FamilyFilter{UserID: "u1"}, storage.ReasonLogoutAll, now)
	mustOK(t, "RevokeFamilies(user)", err)
	checkEqual(t, "RevokeFamilies(user)", sorted(ids), []string{"f1", "f2"})
	ids, err = s.RevokeFamilies(ctx, storage.FamilyFilter{ClientID: "c1"}, storage.ReasonClientDeleted, now)
	mustOK(t, "RevokeFamilies(client)", err)
	checkEqual(t, "RevokeFamilies(client)", sorted(ids), []string{"f5"})
	ids, err = s.RevokeFamilies(ctx, storage.FamilyFilter{ClientID: "c1"}, storage.ReasonClientDeleted, now)
	mustOK(t, "RevokeFamilies(client, again)", err)
	if len(ids) != 0 {
		t.Errorf("RevokeFamilies(client, again) = %v, want none", ids)
	}
	if _, err := s.RevokeFamilies(ctx, storage.FamilyFilter{}, storage.ReasonAdmin, now); err == nil {
		t.Error("RevokeFamilies(empty filter) succeeded, want an error")
	}

	for _, want := range []struct {
		id, reason string
	}{
		{"f1", storage.ReasonLogoutAll}, {"f2", storage.ReasonLogoutAll}, {"f3", storage.ReasonReuse},
		{"f4", ""}, {"f5", storage.ReasonClientDeleted}, {"f6", ""}, {"f7", ""},
	} {
		f, err := s.GetFamily(ctx, want.id)
		mustOK(t, "GetFamily", err)
		if f.RevokeReason != want.reason || f.Revoked() != (want.reason != "") {
			t.Errorf("family %s: revoked %v reason %q, want reason %q", want.id, f.Revoked(), f.RevokeReason, want.reason)
		}
	}
	live, err := s.ListLiveFamilies(ctx, storage.FamilyFilter{UserID: "u2"}, now)
	mustOK(t, "ListLiveFamilies", err)
	if len(live) != 1 || live[0].ID != "f6" {
		t.Errorf("live families of u2 = %v, want [f6]", live)
	}
}

func testEvents(ctx context.Context, t *testing.T, s storage.Store) {
	want := []storage.Event{
		{Type: "issue", FamilyID: "f1", ClientID: "c1", UserID: "u1", Address: "192.0.2.1", UserAgent: "curl/8", CreatedAt: at(time.Second)},
		{Type: "refresh", FamilyID: "f1", ClientID: "c1", UserID: "u1", Address: "2001:db8::1", CreatedAt: at(2 * time.Second)},
		{Type: "revoke", FamilyID: "f1", ClientID: "c1", UserID: "u1", Reason: storage.ReasonReuse, CreatedAt: at(3 * time.Second)},
		{Type: "reuse", FamilyID: "f1", ClientID: "c1", UserID: "u1", Enforced: true, CreatedAt: at(4 * time.Second)},
		{Type: "reuse", FamilyID: "f1", ClientID: "c1", UserID: "u1", Enforced: false, CreatedAt: at(5 * time.Second)},
		{Type: "refresh", FamilyID: "f1", ClientID: "c1", UserID: "u1", Signals: []string{"user_agent_changed", "refresh_burst"}, CreatedAt: at(6 * time.Second)},
	}
	var lastID int64
	for i := range want {
		mustOK(t, "AppendEvent", s.AppendEvent(ctx, &want[i]))
		if want[i].ID <= lastID {
			t.Errorf("AppendEvent set ID %d after %d, want increasing", want[i].ID, lastID)
		}
		lastID = want[i].ID
		other := &storage.Event{Type: "issue", FamilyID: "f2", CreatedAt: at(0)}
		mustOK(t, "AppendEvent(other family)", s.AppendEvent(ctx, other))
	}
	got, err := s.ListEvents(ctx, "f1")
	mustOK(t, "ListEvents", err)
	checkEqual(t, "ListEvents", got, want)
	got, err = s.ListEvents(ctx, "missing")
	mustOK(t, "ListEvents(missing)", err)
	if len(got) != 0 {
		t.Errorf("ListEvents(missing) = %v, want none", got)
	}
}

func testTxCommit(ctx context.Context, t *testing.T, s storage.Store) {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateClient(ctx, newClient("c1")); err != nil {
			return err
		}
		// The transaction sees its own write.
		_, err := s.GetClient(ctx, "c1")
		return err
	})
	mustOK(t, "InTx", err)
	_, err = s.GetClient(ctx, "c1")
	mustOK(t, "GetClient after commit", err)
}

var errTest = errors.New("storagetest: planned failure")

func testTxRollback(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateToken", s.CreateToken(ctx, newToken("k1", "f1")))
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateClient(ctx, newClient("c1")); err != nil {
			return err
		}
		if err := s.SpendToken(ctx, "k1", at(time.Minute), []byte("replay")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errTest)
	})
	wantErr(t, "InTx", err, errTest)
	_, err = s.GetClient(ctx, "c1")
	wantErr(t, "GetClient after rollback", err, storage.ErrNotFound)
	tok, err := s.GetToken(ctx, "k1")
	mustOK(t, "GetToken after rollback", err)
	if !tok.SpentAt.IsZero() || tok.Replay != nil {
		t.Error("token spent in a rolled back transaction is spent")
	}
}

func testTxNested(ctx context.Context, t *testing.T, s storage.Store) {
	// The inner InTx joins the outer one: the outer failure undoes both.
	err := s.InTx(ctx, func(ctx context.Context) error {
		mustOK(t, "CreateClient(outer)", s.CreateClient(ctx, newClient("outer")))
		err := s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateClient(ctx, newClient("inner"))
		})
		mustOK(t, "InTx(inner)", err)
		// The inner write is visible before the outer commit.
		if _, err := s.GetClient(ctx, "inner"); err != nil {
			return err
		}
		return errTest
	})
	wantErr(t, "InTx(outer)", err, errTest)
	for _, id := range []string{"outer", "inner"} {
		_, err := s.GetClient(ctx, id)
		wantErr(t, "GetClient("+id+") after rollback", err, storage.ErrNotFound)
	}

	// Both commit together.
	err = s.InTx(ctx, func(ctx context.Context) error {
		return s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateUser(ctx, newUser("u1", "alice"))
		})
	})
	mustOK(t, "InTx(nested commit)", err)
	_, err = s.GetUser(ctx, "u1")
	mustOK(t, "GetUser after nested commit", err)
}

func testTxPanic(ctx context.Context, t *testing.T, s storage.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Error("InTx swallowed the panic of fn")
			}
		}()
		_ = s.InTx(ctx, func(ctx context.Context) error {
			mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
			panic("storagetest: planned panic")
		})
	}()
	// The transaction was rolled back and its connection released.
	_, err := s.GetClient(ctx, "c1")
	wantErr(t, "GetClient after panic", err, storage.ErrNotFound)
	mustOK(t, "CreateClient after panic", s.CreateClient(ctx, newClient("c2")))
}

// testConcurrentSpend runs the refresh sequence (lock the family, read the
// token, spend it) in 16 transactions at once: exactly one spends the token,
// the others see it spent or lose with ErrConflict.
func testConcurrentSpend(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0))))
	mustOK(t, "CreateToken", s.CreateToken(ctx, newToken("k1", "f1")))
	errSeenSpent := errors.New("seen spent")

	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.InTx(ctx, func(ctx context.Context) error {
				if _, err := s.LockFamily(ctx, "f1"); err != nil {
					return err
				}
				tok, err := s.GetToken(ctx, "k1")
				if err != nil {
					return err
				}
				if !tok.SpentAt.IsZero() {
					return errSeenSpent
				}
				return s.SpendToken(ctx, "k1", at(time.Duration(i+1)*time.Second), []byte{byte(i)})
			})
		})
	}
	wg.Wait()

	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, errSeenSpent), errors.Is(err, storage.ErrConflict):
		default:
			t.Errorf("transaction %d: %v, want nil, spent or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d transactions spent the token, want exactly 1", won)
	}
	tok, err := s.GetToken(ctx, "k1")
	mustOK(t, "GetToken", err)
	if tok.SpentAt.IsZero() {
		t.Error("token is not spent")
	}
	// SpentAt and Replay come from the same, winning transaction.
	for i, err := range errs {
		if err == nil && (!tok.SpentAt.Equal(at(time.Duration(i+1)*time.Second)) || !slices.Equal(tok.Replay, []byte{byte(i)})) {
			t.Errorf("token spent at %v with replay %x, want the values of transaction %d", tok.SpentAt, tok.Replay, i)
		}
	}
}

func mustOK(t testing.TB, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func wantErr(t testing.TB, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", op, err, target)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// checkEqual compares got and want field by field: times with Equal (and got
// must be in UTC), nil and empty slices alike, pointers by what they point to.
func checkEqual(t testing.TB, op string, got, want any) {
	t.Helper()
	if diff := compare(reflect.ValueOf(got), reflect.ValueOf(want), ""); diff != "" {
		t.Errorf("%s: %s\ngot  %+v\nwant %+v", op, diff, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func compare(got, want reflect.Value, path string) string {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		switch {
		case !g.Equal(w):
			return fmt.Sprintf("%s = %v, want %v", path, g, w)
		case g.Location() != time.UTC:
			return fmt.Sprintf("%s = %v, want it in UTC", path, g)
		}
		return ""
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return fmt.Sprintf("%s: nil mismatch", path)
			}
			return ""
		}
		return compare(got.Elem(), want.Elem(), path)
	case reflect.Slice:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s has %d elements, want %d", path, got.Len(), want.Len())
		}
		for i := range got.Len() {
			if d := compare(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Struct:
		for i := range got.NumField() {
			if d := compare(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return fmt.Sprintf("%s = %v, want %v", path, got.Interface(), want.Interface())
	}
	return ""
}
