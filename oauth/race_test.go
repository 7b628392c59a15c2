package oauth

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestTwoNodesRefreshExactlyOnce: concurrent refreshes of one token spread
// over two Latch nodes sharing one database make exactly one rotation.
// Without grace the losers are reuse; with grace they all get the one
// response.
func TestTwoNodesRefreshExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"no grace", 0}, {"grace", 10 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := sqlstoretest.NewPair(t)
			nodeA := newFixtureOn(t, a, func(c *Config) { c.RefreshGrace = tc.grace })
			nodes := []*fixture{nodeA, nodeA.node(t, b)}
			for _, n := range []int{2, 8, 32} {
				r0 := nodeA.login(t)
				results := atOnce(n, func(i int) tokenResponse { return nodes[i%2].refresh(t, r0.RefreshToken) }, nil)
				ok := 0
				for _, r := range results {
					switch {
					case r.status >= 500:
						t.Fatalf("n=%d: %d %q", n, r.status, r.Error)
					case r.status == http.StatusOK:
						ok++
						if tc.grace > 0 && (r.AccessToken != results[0].AccessToken || r.RefreshToken != results[0].RefreshToken) {
							t.Fatalf("n=%d: a second rotation within grace", n)
						}
					case r.Error != "invalid_grant":
						t.Fatalf("n=%d: loser got %d %q, want invalid_grant", n, r.status, r.Error)
					}
				}
				switch {
				case tc.grace > 0 && ok != n:
					t.Fatalf("n=%d: %d of %d got the response within grace", n, ok, n)
				case tc.grace == 0 && ok != 1:
					t.Fatalf("n=%d: %d rotations, want exactly 1", n, ok)
				}
				if rotations := countEvents(t, nodeA, r0.RefreshToken, EventRefreshed); rotations != 1 {
					t.Fatalf("n=%d: %d rotations recorded, want 1", n, rotations)
				}
			}
		})
	}
}

// refresher rotates a login's refresh token, off the test goroutine,
// until stopped or refused, and keeps every token it got.
type refresher struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	access  []string
	refresh []string
	last    tokenResponse // the refusal that ended it, if one did
	lastErr error
}

func startRefresher(f *fixture, rt string) *refresher {
	r := &refresher{stop: make(chan struct{})}
	r.wg.Go(func() {
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			a, err := f.tryToken(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			if err != nil || a.status != http.StatusOK {
				r.last, r.lastErr = a, err
				return
			}
			r.access = append(r.access, a.AccessToken)
			r.refresh = append(r.refresh, a.RefreshToken)
			rt = a.RefreshToken
		}
	})
	return r
}

// halt stops the refresher and checks that a refusal, if any, was the one
// a revoked login gets: 400 invalid_grant.
func (r *refresher) halt(t *testing.T) {
	t.Helper()
	close(r.stop)
	r.wg.Wait()
	if r.lastErr != nil || r.last.status != 0 && (r.last.status != http.StatusBadRequest || r.last.Error != "invalid_grant") {
		t.Fatalf("a refresh racing the revocation got %d %q (%v), want 200 or 400 invalid_grant", r.last.status, r.last.Error, r.lastErr)
	}
}

// TestRevocationRacingRefresh: however a revocation interleaves with a
// stream of refreshes, no token minted for the login is live once the
// revocation has answered.
func TestRevocationRacingRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.RefreshGrace = 0 })
	for round := range 5 {
		r0 := f.login(t)
		ref := startRefresher(f, r0.RefreshToken)
		time.Sleep(time.Duration(round) * 3 * time.Millisecond)
		if err := f.p.RevokeSession(context.Background(), familyOf(t, f, r0.RefreshToken)); err != nil {
			t.Fatal(err)
		}
		// Whatever the refresher gets from here on, and whatever it got
		// before, is dead.
		time.Sleep(20 * time.Millisecond)
		ref.halt(t)
		for _, tok := range append(append(ref.access, ref.refresh...), r0.AccessToken, r0.RefreshToken) {
			if f.active(t, tok) {
				t.Fatalf("round %d: a token of the revoked login is live", round)
			}
		}
	}
}

// TestDisableRacingLogins: logins that race a disable either fail or are
// ended by it; none survives.
func TestDisableRacingLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 1000, 1000 })
	ctx := context.Background()
	u, err := f.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var disableErr error
	results := atOnce(16, func(int) tokenResponse { return f.password(t, ctx, "alice", "correct horse") }, func() {
		time.Sleep(2 * time.Millisecond)
		_, disableErr = f.p.SetUserDisabled(ctx, u.ID, true)
	})
	if disableErr != nil {
		t.Fatal(disableErr)
	}
	live, err := f.store.ListLiveFamilies(ctx, storage.FamilyFilter{UserID: u.ID}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("%d logins of a disabled user are live", len(live))
	}
	for _, r := range results {
		if r.status == http.StatusOK && (f.active(t, r.AccessToken) || f.active(t, r.RefreshToken)) {
			t.Fatal("a login that raced the disable survived it")
		}
	}
}

func countEvents(t testing.TB, f *fixture, token, typ string) int {
	t.Helper()
	events, err := f.p.SessionEvents(context.Background(), familyOf(t, f, token))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestTokenRevocationRacingRefresh is TestRevocationRacingRefresh through
// RFC 7009: every token the refresher got is dead afterwards, and with JWT
// access tokens every one still unexpired is on the denylist, for resource
// servers that verify offline. The opaque case runs PostgreSQL's
// one-statement revocation, the JWT case its transaction of locked reads. On
// SQLite the one connection serializes the two, so the race needs
// LATCH_TEST_DATABASE_URL.
func TestTokenRevocationRacingRefresh(t *testing.T) {
	for _, format := range []string{FormatOpaque, FormatJWT} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.RefreshGrace, c.AccessTokenFormat = 0, format })
			for round := range 5 {
				r0 := f.login(t)
				ref := startRefresher(f, r0.RefreshToken)
				time.Sleep(time.Duration(round) * 3 * time.Millisecond)
				if err := f.revoke(context.Background(), r0.AccessToken); err != nil {
					t.Fatalf("round %d: revoke: %v", round, err)
				}
				time.Sleep(20 * time.Millisecond)
				ref.halt(t)
				for _, tok := range append(append(ref.access, ref.refresh...), r0.AccessToken, r0.RefreshToken) {
					if f.active(t, tok) {
						t.Fatalf("round %d: a token of the revoked login is live", round)
					}
				}
				if format == FormatJWT {
					for _, tok := range append(ref.access, r0.AccessToken) {
						parsed, _, ok, err := f.p.parseAccessJWT(context.Background(), tok)
						if err != nil || !ok {
							t.Fatalf("round %d: parse an issued JWT: ok=%v, %v", round, ok, err)
						}
						denied, err := f.store.IsDenied(context.Background(), parsed.key)
						if err != nil {
							t.Fatal(err)
						}
						if !denied {
							t.Fatalf("round %d: an access token of the revoked login is not on the denylist", round)
						}
					}
				}
			}
		})
	}
}
