package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

func (f *fixture) password(t testing.TB, ctx context.Context, username, password string) tokenResponse {
	t.Helper()
	return f.tokenCtx(t, ctx, url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}})
}

// guessAtOnce makes 64 wrong attempts at once, guess(i) for each i, and
// fails t if the nodes checked more than limit passwords in all or an
// answer is not 400 invalid_grant.
func guessAtOnce(t *testing.T, limit int64, guess func(i int) tokenResponse, nodes ...*fixture) {
	t.Helper()
	checks := func() (n int64) {
		for _, f := range nodes {
			n += f.p.pw.checks.Load()
		}
		return n
	}
	before := checks()
	results := atOnce(64, guess, nil)
	if n := checks() - before; n > limit {
		t.Fatalf("%d password checks ran, want at most %d", n, limit)
	}
	for _, r := range results {
		if r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Fatalf("got %d %q, want 400 invalid_grant", r.status, r.Error)
		}
	}
}

// TestLockoutIsExactUnderConcurrency: 64 parallel wrong attempts for one
// username never get more than the limit of real password checks; the rest
// are refused without hashing, and so is the right password afterwards.
func TestLockoutIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures = 5; c.LoginLockout = time.Minute })
	guessAtOnce(t, 5, func(int) tokenResponse { return f.password(t, context.Background(), "alice", "wrong") }, f)
	if r := f.password(t, context.Background(), "alice", "correct horse"); r.status == http.StatusOK {
		t.Fatal("the right password got through a lockout")
	}
	f.clock.Advance(61 * time.Second)
	if r := f.password(t, context.Background(), "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("after the lockout: %d %q", r.status, r.Error)
	}
}

// TestAddressLockoutIsExactUnderConcurrency: 64 parallel wrong attempts
// from one address, for 64 usernames, never get more than the address's
// limit of real password checks. Each attempt counts its username and the
// address in one transaction; none may fail on the other's row locks.
func TestAddressLockoutIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailuresPerAddress = 5; c.LoginLockout = time.Minute })
	addr := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.9"})
	guessAtOnce(t, 5, func(i int) tokenResponse { return f.password(t, addr, fmt.Sprintf("user%d", i), "wrong") }, f)
	if r := f.password(t, addr, "alice", "correct horse"); r.status == http.StatusOK {
		t.Fatal("the right password got through an address lockout")
	}
}

// TestLockoutIsExactAcrossNodes: 64 parallel wrong attempts spread over two
// nodes on one database get no more password checks between them than the
// limit, for a username and for an address.
func TestLockoutIsExactAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	nodeA := newFixtureOn(t, a, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress, c.LoginLockout = 5, 7, time.Minute
	})
	nodes := []*fixture{nodeA, nodeA.node(t, b)}
	guessAtOnce(t, 5, func(i int) tokenResponse {
		return nodes[i%2].password(t, context.Background(), "alice", "wrong")
	}, nodes...)
	addr := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.30"})
	guessAtOnce(t, 7, func(i int) tokenResponse {
		return nodes[i%2].password(t, addr, fmt.Sprintf("user%d", i), "wrong")
	}, nodes...)
	for i, n := range nodes {
		if r := n.password(t, addr, "bob", "x"); r.status == http.StatusOK || r.Error != "invalid_grant" {
			t.Errorf("node %d let a locked-out address try: %d %q", i, r.status, r.Error)
		}
	}
}

// TestLockoutReportedOncePerWindow: a lockout is one audit event, one log
// line and one count of latch_login_lockouts_total per node, however many
// attempts it refuses, and again after it has ended; the log line names
// neither the username nor its hash.
func TestLockoutReportedOncePerWindow(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	f := newFixture(t, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress, c.LoginLockout = 2, 3, time.Minute
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.Registerer = prometheus.NewRegistry()
	})
	reported := func(reason string) (events, lockouts float64, lines int) {
		for line := range strings.Lines(logs.String()) {
			var l struct{ Msg, Event, Reason string }
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if l.Msg == "audit" && l.Event == EventLockout && l.Reason == reason {
				lines++
			}
		}
		return testutil.ToFloat64(f.p.metrics.events.WithLabelValues(EventLockout, reason)),
			testutil.ToFloat64(f.p.metrics.lockouts.WithLabelValues(reason)), lines
	}
	want := func(reason string, n int) {
		t.Helper()
		if events, lockouts, lines := reported(reason); events != float64(n) || lockouts != float64(n) || lines != n {
			t.Fatalf("%s lockouts: %v events, %v counted, %d log lines; want %d of each", reason, events, lockouts, lines, n)
		}
	}
	ctx := context.Background()
	for round := 1; round <= 2; round++ {
		for range 2 {
			f.password(t, ctx, "alice", "wrong")
		}
		want("username", round-1)
		for range 4 {
			f.password(t, ctx, "alice", "wrong")
		}
		want("username", round)
		f.clock.Advance(61 * time.Second)
	}
	addr := WithRequestInfo(ctx, RequestInfo{Address: "192.0.2.31"})
	for i := range 6 {
		f.password(t, addr, fmt.Sprintf("user%d", i), "wrong")
	}
	want("address", 1)
	if strings.Contains(logs.String(), "alice") || strings.Contains(logs.String(), f.p.usernameKey("alice")) {
		t.Errorf("a lockout log names the username or its key:\n%s", logs.String())
	}
}

// TestLockedOutAnswersAlike: a locked-out username that exists and one
// that does not get the same bytes and the same Retry-After.
func TestLockedOutAnswersAlike(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures, c.LoginLockout = 2, 15*time.Minute })
	ctx := context.Background()
	for range 2 {
		for _, name := range []string{"alice", "nobody"} {
			f.password(t, ctx, name, "wrong")
		}
		f.clock.Advance(time.Minute)
	}
	answer := func(name string) (string, time.Duration) {
		form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {"correct horse"}}
		ar, _, err := f.p.Token(ctx, tokenRequest(ctx, f, form))
		if err == nil {
			t.Fatalf("%s got tokens through a lockout", name)
		}
		w := httptest.NewRecorder()
		f.p.WriteAccessError(ctx, w, ar, err)
		d, _ := RetryAfter(err)
		return fmt.Sprintf("%d %s", w.Code, w.Body.String()), d
	}
	known, knownWait := answer("alice")
	unknown, unknownWait := answer("nobody")
	if known != unknown || knownWait != unknownWait || knownWait <= 0 {
		t.Errorf("locked out:\n exists:  %s (retry after %v)\n unknown: %s (retry after %v)", known, knownWait, unknown, unknownWait)
	}
}

// guardWrites counts the guard's writes to a store.
type guardWrites struct {
	storage.Store
	n atomic.Int64
}

func (s *guardWrites) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	s.n.Add(1)
	return s.Store.ReserveAttempt(ctx, key, now, window)
}

func (s *guardWrites) ReleaseAttempt(ctx context.Context, key string) error {
	s.n.Add(1)
	return s.Store.ReleaseAttempt(ctx, key)
}

func (s *guardWrites) ResetAttempts(ctx context.Context, key string) error {
	s.n.Add(1)
	return s.Store.ResetAttempts(ctx, key)
}

// TestLockedOutAttemptsWriteNothing: past a lockout, for a username or for
// an address, guessing on is refused from a read: no password check and no
// write to the counters, whatever the password.
func TestLockedOutAttemptsWriteNothing(t *testing.T) {
	t.Parallel()
	store := &guardWrites{Store: sqlstoretest.New(t)}
	f := newFixtureOn(t, store, func(c *Config) { c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 2, 3 })
	ctx := context.Background()
	addr := WithRequestInfo(ctx, RequestInfo{Address: "192.0.2.11"})
	for i, name := range []string{"alice", "alice", "u1"} {
		if r := f.password(t, addr, name, "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("failure %d: %q", i, r.Error)
		}
	}
	writes, checks := store.n.Load(), f.p.pw.checks.Load()
	for i, tc := range []struct {
		ctx      context.Context
		username string
	}{{ctx, "alice"}, {addr, "bob"}, {addr, "nobody"}} {
		for _, password := range []string{"wrong", "correct horse"} {
			r := f.password(t, tc.ctx, tc.username, password)
			if r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
				t.Fatalf("attempt %d: got %d %q, want 400 invalid_grant", i, r.status, r.Error)
			}
		}
	}
	if n := store.n.Load() - writes; n != 0 {
		t.Errorf("refused attempts wrote %d times to the counters, want 0", n)
	}
	if n := f.p.pw.checks.Load() - checks; n != 0 {
		t.Errorf("refused attempts ran %d password checks, want 0", n)
	}
}

// TestGuessingDoesNotProlongALockout: guesses refused during a lockout are
// not counted, so the lockout ends LoginLockout after the last failure
// counted, however long the guessing goes on.
func TestGuessingDoesNotProlongALockout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures = 2; c.LoginLockout = 15 * time.Minute })
	ctx := context.Background()
	for range 2 {
		if r := f.password(t, ctx, "alice", "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("failure: %q", r.Error)
		}
	}
	for range 14 {
		f.clock.Advance(time.Minute)
		if r := f.password(t, ctx, "alice", "correct horse"); r.status == http.StatusOK {
			t.Fatal("a lockout let the right password in before its end")
		}
	}
	f.clock.Advance(time.Minute)
	if r := f.password(t, ctx, "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("15 minutes after the last failure: %d %q", r.status, r.Error)
	}
}

// TestRetryAfterSaysWhatIsLeft: a refusal says to retry when the lockout
// ends, LoginLockout after the last failure counted, for a username and for
// an address alike; waiting that long is enough.
func TestRetryAfterSaysWhatIsLeft(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress, c.LoginLockout = 2, 3, 15*time.Minute
	})
	user := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.20"})
	addr := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.21"})
	for _, step := range []struct {
		ctx      context.Context
		username string
	}{{user, "alice"}, {user, "alice"}, {addr, "u1"}, {addr, "u2"}} {
		f.clock.Advance(time.Minute)
		if r := f.password(t, step.ctx, step.username, "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("failure for %s: %d %q", step.username, r.status, r.Error)
		}
	}
	f.clock.Advance(time.Minute)
	if r := f.password(t, addr, "u3", "wrong"); r.Error != "invalid_grant" {
		t.Fatalf("the address's third failure: %d %q", r.status, r.Error)
	}
	// carol fails from a third address, later, so that her lockout
	// outlasts the address's.
	carol := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.22"})
	f.clock.Advance(9 * time.Minute)
	for range 2 {
		if r := f.password(t, carol, "carol", "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("carol's failure: %d %q", r.status, r.Error)
		}
	}
	// Now alice's last failure is 13 minutes old, the address's 10,
	// carol's 1.
	f.clock.Advance(time.Minute)
	for _, c := range []struct {
		name string
		ctx  context.Context
		user string
		want time.Duration
	}{
		{"username", user, "alice", 2 * time.Minute},
		{"address", addr, "bob", 5 * time.Minute},
		{"both, the address's the longer", addr, "alice", 5 * time.Minute},
		{"both, the username's the longer", addr, "carol", 14 * time.Minute},
	} {
		_, _, err := f.p.Token(c.ctx, tokenRequest(c.ctx, f, url.Values{"grant_type": {"password"}, "username": {c.user}, "password": {"correct horse"}}))
		if got, ok := RetryAfter(err); !ok || got != c.want {
			t.Errorf("%s lockout: Retry-After %v (%v), want %v", c.name, got, err, c.want)
		}
	}
	f.clock.Advance(2 * time.Minute)
	if r := f.password(t, user, "alice", "correct horse"); r.status != http.StatusOK {
		t.Errorf("alice after her Retry-After: %d %q", r.status, r.Error)
	}
	f.clock.Advance(3 * time.Minute)
	if r := f.password(t, addr, "alice", "correct horse"); r.status != http.StatusOK {
		t.Errorf("the address after its Retry-After: %d %q", r.status, r.Error)
	}
}

// TestLockoutCountsUnknownUsernamesAndAddresses: unknown usernames lock the
// same way, and one address is limited across usernames.
func TestLockoutCountsUnknownUsernamesAndAddresses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures = 2; c.LoginMaxFailuresPerAddress = 3 })
	ctx := context.Background()
	for range 2 {
		if r := f.password(t, ctx, "nobody", "x"); r.Error != "invalid_grant" {
			t.Fatalf("unknown user: %q", r.Error)
		}
	}
	before := f.p.pw.checks.Load()
	if r := f.password(t, ctx, "nobody", "x"); r.Error != "invalid_grant" || f.p.pw.checks.Load() != before {
		t.Fatal("the third attempt for an unknown username was checked, not refused")
	}
	addr := WithRequestInfo(ctx, RequestInfo{Address: "192.0.2.7"})
	for i, name := range []string{"u1", "u2", "u3"} {
		if r := f.password(t, addr, name, "x"); r.Error != "invalid_grant" {
			t.Fatalf("attempt %d: %q", i, r.Error)
		}
	}
	before = f.p.pw.checks.Load()
	if r := f.password(t, addr, "alice", "correct horse"); r.status == http.StatusOK || f.p.pw.checks.Load() != before {
		t.Fatal("a locked-out address got a password check")
	}
	other := WithRequestInfo(ctx, RequestInfo{Address: "192.0.2.8"})
	if r := f.password(t, other, "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("another address: %d %q", r.status, r.Error)
	}
}

// TestSuccessSettlesTheAttempt: a right password clears the username's
// failures, and gives the address back the attempt it reserved: only
// failures count against an address.
func TestSuccessSettlesTheAttempt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 2, 3 })
	ctx := context.Background()
	for i := range 10 {
		if r := f.password(t, ctx, "alice", "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("round %d, wrong password: %d %q", i, r.status, r.Error)
		}
		before := f.p.pw.checks.Load()
		if r := f.password(t, ctx, "alice", "correct horse"); r.status != http.StatusOK || f.p.pw.checks.Load() != before+1 {
			t.Fatalf("round %d, right password: %d %q", i, r.status, r.Error)
		}
	}
	addr := WithRequestInfo(ctx, RequestInfo{Address: "192.0.2.10"})
	for i := range 10 {
		if r := f.password(t, addr, "alice", "correct horse"); r.status != http.StatusOK {
			t.Fatalf("login %d from one address: %d %q", i, r.status, r.Error)
		}
	}
	for i, name := range []string{"u1", "u2", "u3"} {
		if r := f.password(t, addr, name, "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("failure %d: %q", i, r.Error)
		}
	}
	before := f.p.pw.checks.Load()
	if r := f.password(t, addr, "alice", "correct horse"); r.status == http.StatusOK || f.p.pw.checks.Load() != before {
		t.Fatalf("the address's fourth attempt after three failures was not refused: %d %q", r.status, r.Error)
	}
}

// cancelAtLockUser cancels the request's context when the login is about
// to be recorded, as a client hanging up then would.
type cancelAtLockUser struct {
	storage.Store
	cancel context.CancelFunc
}

func (s *cancelAtLockUser) LockUser(ctx context.Context, id string) (*storage.User, error) {
	s.cancel()
	return s.Store.LockUser(ctx, id)
}

// TestCancelledLoginSettlesItsAttempt: a right password whose request ends
// before the login is recorded gets no tokens, but its attempt is settled
// all the same, outside the ended request: it must not count as a failure.
func TestCancelledLoginSettlesItsAttempt(t *testing.T) {
	t.Parallel()
	store := &cancelAtLockUser{Store: sqlstoretest.New(t)}
	f := newFixtureOn(t, store, nil)
	ctx, cancel := context.WithCancel(WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.12"}))
	store.cancel = cancel
	if r := f.password(t, ctx, "alice", "correct horse"); r.status == http.StatusOK {
		t.Fatal("a login whose request ended got tokens")
	}
	keys := []string{f.p.usernameKey("alice"), "addr:192.0.2.12"}
	counts, err := store.CountAttempts(context.Background(), f.clock.Now(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0].Count != 0 || counts[1].Count != 0 {
		t.Errorf("counters after a cancelled right password: %v, want none", counts)
	}
}

// TestUnknownUserCostsLikeWrongPassword: a login with an unknown username
// runs exactly the work of a wrong password, one argon2id verification
// against a hash of the configured cost, so neither answer nor time tells
// them apart. It counts the work instead of timing it: a timed unit test
// fails on a loaded machine (the wall-clock comparison lives in
// BenchmarkUnknownUserAgainstWrongPassword).
func TestUnknownUserCostsLikeWrongPassword(t *testing.T) {
	t.Parallel()
	params := Argon2Params{MemoryKiB: 1024, Time: 3, Threads: 1}
	f := newFixture(t, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 1000, 1000
		c.Argon2 = params
	})
	ctx := context.Background()
	for _, user := range []string{"alice", "nobody-at-all", "nobody-at-all"} {
		before := f.p.pw.checks.Load()
		if r := f.password(t, ctx, user, "wrong"); r.Error != "invalid_grant" {
			t.Fatalf("%s: %q, want invalid_grant", user, r.Error)
		}
		if n := f.p.pw.checks.Load() - before; n != 1 {
			t.Errorf("%s: %d verifications, want 1", user, n)
		}
	}
	got, _, key, err := parseArgon2id(f.p.pw.dummy)
	if err != nil {
		t.Fatalf("the unknown user's hash: %v", err)
	}
	got.keyLen = uint32(len(key))
	if want := params.orDefault(); got != want {
		t.Errorf("the unknown user is checked at cost %+v, a user at %+v", got, want)
	}
}

// BenchmarkUnknownUserAgainstWrongPassword times both refusals side by side
// (go test -bench UnknownUser ./oauth): their ns/op should match.
func BenchmarkUnknownUserAgainstWrongPassword(b *testing.B) {
	for _, user := range []string{"alice", "nobody-at-all"} {
		b.Run(user, func(b *testing.B) {
			f := newFixture(b, func(c *Config) {
				c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 1<<30, 1<<30
			})
			ctx := context.Background()
			for b.Loop() {
				if r := f.password(b, ctx, user, "wrong"); r.Error != "invalid_grant" {
					b.Fatalf("%s: %q", user, r.Error)
				}
			}
		})
	}
}

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	u, err := f.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// An imported bcrypt hash and an argon2id hash of another cost are both
	// upgraded at the next login.
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	oldArgon, err := hashArgon2id("correct horse", argon2Params{memory: 32, time: 1, threads: 1, keyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{string(bcryptHash), oldArgon} {
		if err := f.store.SetPassword(ctx, u.ID, old, u.PasswordChangedAt); err != nil {
			t.Fatal(err)
		}
		if r := f.password(t, ctx, "alice", "correct horse"); r.status != http.StatusOK {
			t.Fatalf("login with %q: %d %q", old[:10], r.status, r.Error)
		}
		got, err := f.store.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if needsRehash(got.PasswordHash, f.p.pw.params) {
			t.Fatalf("hash %q was not upgraded", got.PasswordHash[:20])
		}
	}
}

// TestBusyLoginsCountNoFailure: a login answered 503 because hashing is
// saturated judged no password, so it must not count toward a lockout (a
// 10-minute load run had locked its own address out this way).
func TestBusyLoginsCountNoFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 2, 2
		c.HashConcurrency, c.HashQueueWait = 1, time.Millisecond
	})
	ctx := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.9"})
	f.p.pw.slots <- struct{}{} // the one hashing slot is taken
	for range 5 {
		if r := f.password(t, ctx, "alice", "correct horse"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("with hashing saturated: %d %q, want 503", r.status, r.Error)
		}
	}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}
	if _, _, err := f.p.Token(ctx, tokenRequest(ctx, f, form)); err == nil {
		t.Fatal("a login got through a full hashing pool")
	} else if d, ok := RetryAfter(err); !ok || d <= 0 {
		t.Fatalf("busy answer %v says no Retry-After", err)
	}
	<-f.p.pw.slots
	if r := f.password(t, ctx, "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("after the busy spell: %d %q; busy answers must not count as failures", r.status, r.Error)
	}
}

// TestHashingPoolIsSizedToTheCPUs: by default, as many hashes run at once
// as there are CPUs, and no more; a setting replaces that.
func TestHashingPoolIsSizedToTheCPUs(t *testing.T) {
	t.Parallel()
	if got := cap(newFixture(t, nil).p.pw.slots); got != runtime.NumCPU() {
		t.Errorf("default hashing pool: %d slots, want runtime.NumCPU() = %d", got, runtime.NumCPU())
	}
	if got := cap(newFixture(t, func(c *Config) { c.HashConcurrency = 3 }).p.pw.slots); got != 3 {
		t.Errorf("HashConcurrency 3: %d slots", got)
	}
}

// TestOperatorsQueueForHashing: while logins are refused for a full hashing
// pool, an operator creating a user waits for a slot instead of failing.
func TestOperatorsQueueForHashing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.HashConcurrency, c.HashQueueWait = 1, time.Millisecond })
	f.p.pw.slots <- struct{}{} // the one hashing slot is taken
	done := make(chan error, 1)
	go func() {
		_, err := f.p.CreateUser(context.Background(), "bob", "pw")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("CreateUser did not wait for the slot: %v", err)
	default:
	}
	<-f.p.pw.slots
	if err := <-done; err != nil {
		t.Fatalf("CreateUser after the slot freed: %v", err)
	}
}

// TestUsernameCountersAreKeyedBySecret: people type passwords into the
// username field, so the guard keys a username's counter with an HMAC under
// the server secret, never a bare hash a dictionary reverses. No counter
// lies under SHA-256 of the name, and a node with another secret counts the
// name apart: a lockout on one is none on the other.
func TestUsernameCountersAreKeyedBySecret(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	nodeA := newFixtureOn(t, a, func(c *Config) { c.LoginMaxFailures = 1 })
	cfgB := nodeA.cfg
	cfgB.Secret = make([]byte, 32)
	_, _ = rand.Read(cfgB.Secret)
	nodeB := nodeA.nodeWith(t, b, cfgB)
	ctx := context.Background()

	const typo = "correct horse" // a password, typed as a username
	wantGrantError(t, nodeA.password(t, ctx, typo, "x"))
	keyA, keyB := nodeA.p.usernameKey(typo), nodeB.p.usernameKey(typo)
	if keyA == keyB {
		t.Errorf("two secrets give %q the same counter key", typo)
	}
	counts, err := a.CountAttempts(ctx, nodeA.clock.Now(), "user:"+tokenKey(typo), keyA, keyB)
	if err != nil {
		t.Fatal(err)
	}
	if counts[0].Count != 0 {
		t.Error("the failure is counted under the unsalted SHA-256 of the username")
	}
	if counts[1].Count != 1 || counts[2].Count != 0 {
		t.Errorf("counters under the keys of the two secrets: %d and %d, want 1 and 0", counts[1].Count, counts[2].Count)
	}

	wantGrantError(t, nodeA.password(t, ctx, "alice", "wrong"))
	if r := nodeA.password(t, ctx, "alice", "correct horse"); r.status == http.StatusOK {
		t.Fatal("alice is not locked out on the node that counted her failure")
	}
	if r := nodeB.password(t, ctx, "alice", "correct horse"); r.status != http.StatusOK {
		t.Errorf("a node with another secret shares the lockout: %d %q", r.status, r.Error)
	}
}

// TestOperatorLiftsALockout: a user locked out by failed logins is let back
// in by an operator, at once, with a password reset or an unlock; without
// one the right password is refused until the lockout ends.
func TestOperatorLiftsALockout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		lift     func(ctx context.Context, p *Provider, id string) error
		password string // the right password afterwards
	}{
		{"password reset", func(ctx context.Context, p *Provider, id string) error {
			return p.SetPassword(ctx, id, "battery staple")
		}, "battery staple"},
		{"unlock", func(ctx context.Context, p *Provider, id string) error {
			return p.UnlockUser(ctx, id)
		}, "correct horse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.LoginMaxFailures = 3 })
			ctx := context.Background()
			u, err := f.p.UserByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				wantGrantError(t, f.password(t, ctx, "alice", "wrong"))
			}
			if r := f.password(t, ctx, "alice", "correct horse"); r.status == http.StatusOK {
				t.Fatal("the right password got through a lockout")
			}
			if err := tc.lift(ctx, f.p, u.ID); err != nil {
				t.Fatal(err)
			}
			if r := f.password(t, ctx, "alice", tc.password); r.status != http.StatusOK {
				t.Errorf("after the %s: %d %q", tc.name, r.status, r.Error)
			}
		})
	}
	f := newFixture(t, nil)
	if err := f.p.UnlockUser(context.Background(), "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UnlockUser(unknown) = %v, want storage.ErrNotFound", err)
	}
}
