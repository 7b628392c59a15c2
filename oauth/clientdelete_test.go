package oauth

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// svcID is the client the tests of this file delete and recreate: it may
// use every grant, and is confidential.
const svcID = "svc"

// newSvcClient registers svcID on f with secret (generated when empty) and
// returns the secret.
func newSvcClient(t testing.TB, f *fixture, secret string) string {
	t.Helper()
	_, secret, err := f.p.CreateClient(context.Background(), ClientSpec{
		ID: svcID, Secret: secret, Scope: "read write",
		GrantTypes: []string{GrantClientCredentials, GrantPassword, GrantRefreshToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

var (
	ccForm       = url.Values{"grant_type": {GrantClientCredentials}}
	passwordForm = url.Values{"grant_type": {GrantPassword}, "username": {"alice"}, "password": {"correct horse"}}
)

// survivors counts, of the tokens, those that introspect active, and of
// the refresh tokens those that refresh with 200 as client svcID with
// secret (each is then spent).
func survivors(t *testing.T, f *fixture, secret string, access, refresh []string) (active, refreshed int) {
	t.Helper()
	for _, tok := range append(append([]string(nil), access...), refresh...) {
		if f.active(t, tok) {
			active++
		}
	}
	for _, rt := range refresh {
		r, err := f.tryTokenAs(context.Background(), svcID, secret, url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.status == http.StatusOK:
			refreshed++
		case r.status >= 500:
			t.Fatalf("refresh after the delete: %d %q", r.status, r.Error)
		}
	}
	return active, refreshed
}

// TestDeleteClientRacingGrants: client_credentials and password grants
// stream in on two nodes while the client is deleted (issue 14, item 4).
// No token issued around the delete may outlive it: none introspects
// active afterwards, none refreshes, and none comes back to life when the
// client is recreated with the same id and secret. Every grant that lost
// the race answers 401 invalid_client, never a 5xx. The counts are logged
// (go test -v -run TestDeleteClientRacingGrants ./oauth).
func TestDeleteClientRacingGrants(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	nodeA := newFixtureOn(t, a, func(c *Config) { c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 1<<20, 1<<20 })
	nodes := []*fixture{nodeA, nodeA.node(t, b)}
	const rounds, workers = 4, 8
	var issued, activeAfterDelete, activeAfterRecreate, refreshedAfterRecreate int
	for round := range rounds {
		secret := newSvcClient(t, nodeA, "svc-secret-for-the-race-test")
		var (
			mu      sync.Mutex
			access  []string
			refresh []string
			bad     []tokenResponse
			errs    []error
			stop    atomic.Bool
			wg      sync.WaitGroup
		)
		for w := range workers {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					form := ccForm
					if (w+i)%2 == 1 {
						form = passwordForm
					}
					r, err := nodes[w%2].tryTokenAs(context.Background(), svcID, secret, form)
					mu.Lock()
					switch {
					case err != nil:
						errs = append(errs, err)
					case r.status == http.StatusOK:
						access = append(access, r.AccessToken)
						if r.RefreshToken != "" {
							refresh = append(refresh, r.RefreshToken)
						}
					case r.status != http.StatusUnauthorized || r.Error != "invalid_client":
						bad = append(bad, r)
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(100+20*round) * time.Millisecond)
		if err := nodes[round%2].p.DeleteClient(context.Background(), svcID); err != nil {
			t.Fatalf("round %d: delete: %v", round, err)
		}
		// Grants already past client authentication finish; later ones
		// fail it.
		time.Sleep(30 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		for _, err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, r := range bad {
			t.Errorf("round %d: a grant racing the delete got %d %q, want 200 or 401 invalid_client", round, r.status, r.Error)
		}
		issued += len(access) + len(refresh)
		for _, tok := range append(append([]string(nil), access...), refresh...) {
			if nodes[1].active(t, tok) {
				activeAfterDelete++
			}
		}
		newSvcClient(t, nodeA, secret)
		active, refreshed := survivors(t, nodes[round%2], secret, access, refresh)
		activeAfterRecreate += active
		refreshedAfterRecreate += refreshed
		if err := nodeA.p.DeleteClient(context.Background(), svcID); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d tokens (access and refresh) issued around %d deletes; active after the delete: %d; after recreating the client: %d active, %d refresh tokens refreshed",
		issued, rounds, activeAfterDelete, activeAfterRecreate, refreshedAfterRecreate)
	if activeAfterDelete+activeAfterRecreate+refreshedAfterRecreate > 0 {
		t.Fatal("tokens of a deleted client outlived the delete")
	}
}

// deleteAfterGetClient is a store on which, once armed, reading client
// svcID deletes it and recreates it under the same id and secret right
// after the read: a grant that authenticated the client is still in
// flight when the client is deleted and another takes its id.
type deleteAfterGetClient struct {
	storage.Store
	armed  atomic.Bool
	during func()
}

func (s *deleteAfterGetClient) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.Store.GetClient(ctx, id)
	if err == nil && id == svcID && s.armed.CompareAndSwap(true, false) {
		s.during()
	}
	return c, err
}

// TestClientDeletedDuringGrant: a grant whose client is deleted, and
// recreated under the same id and secret, after it authenticated the
// client answers 401 invalid_client and leaves nothing live; a refresh
// token issued before the delete answers invalid_grant, its access token
// introspects inactive, and the recreated client works.
func TestClientDeletedDuringGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"client_credentials", ccForm},
		{"password", passwordForm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &deleteAfterGetClient{Store: sqlstoretest.New(t)}
			f := newFixtureOn(t, store, nil)
			secret := newSvcClient(t, f, "svc-secret-for-the-in-flight-test")
			ctx := context.Background()
			store.during = func() {
				if err := f.p.DeleteClient(ctx, svcID); err != nil {
					t.Error(err)
				}
				newSvcClient(t, f, secret)
			}
			before, err := f.tryTokenAs(ctx, svcID, secret, passwordForm)
			if err != nil || before.status != http.StatusOK {
				t.Fatalf("login before the delete: %+v, %v", before, err)
			}

			store.armed.Store(true)
			r, err := f.tryTokenAs(ctx, svcID, secret, tc.form)
			if err != nil {
				t.Fatal(err)
			}
			if store.armed.Load() {
				t.Fatal("the grant did not read its client")
			}
			if r.status != http.StatusUnauthorized || r.Error != "invalid_client" {
				t.Errorf("grant in flight during the delete: %d %q, want 401 invalid_client", r.status, r.Error)
			}
			access, refresh := []string{before.AccessToken}, []string{before.RefreshToken}
			if r.status == http.StatusOK {
				access = append(access, r.AccessToken)
				if r.RefreshToken != "" {
					refresh = append(refresh, r.RefreshToken)
				}
			}
			if active, refreshed := survivors(t, f, secret, access, refresh); active+refreshed > 0 {
				t.Errorf("after the client was recreated, %d tokens of the deleted one introspect active and %d refresh", active, refreshed)
			}

			// The recreated client itself is served.
			after, err := f.tryTokenAs(ctx, svcID, secret, tc.form)
			if err != nil || after.status != http.StatusOK || !f.active(t, after.AccessToken) {
				t.Fatalf("grant of the recreated client: %+v, %v", after, err)
			}
		})
	}
}

// TestDeleteClientRacingRefresh: a stream of refreshes of one login racing
// the deletion of its client (on two nodes) leaves no token of the login
// live, before or after the client is recreated under its id and secret.
// The refresh locks the family and DeleteClient's revocation updates it,
// so one waits for the other.
func TestDeleteClientRacingRefresh(t *testing.T) {
	t.Parallel()
	a, b := sqlstoretest.NewPair(t)
	nodeA := newFixtureOn(t, a, func(c *Config) { c.RefreshGrace = 0 })
	nodeB := nodeA.node(t, b)
	for round := range 3 {
		r0 := nodeA.login(t)
		ref := startRefresher(nodeB, r0.RefreshToken)
		time.Sleep(time.Duration(round) * 5 * time.Millisecond)
		if err := nodeA.p.DeleteClient(context.Background(), "app"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		close(ref.stop)
		ref.wg.Wait()
		if ref.lastErr != nil || ref.last.status != 0 && ref.last.Error != "invalid_grant" && ref.last.Error != "invalid_client" {
			t.Fatalf("round %d: a refresh racing the delete got %d %q (%v)", round, ref.last.status, ref.last.Error, ref.lastErr)
		}
		if _, _, err := nodeA.p.CreateClient(context.Background(), ClientSpec{
			ID: "app", Secret: nodeA.secret, GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read write", CanIntrospect: true,
		}); err != nil {
			t.Fatal(err)
		}
		for _, tok := range append(append(ref.access, ref.refresh...), r0.AccessToken, r0.RefreshToken) {
			if nodeA.active(t, tok) {
				t.Fatalf("round %d: a token of the deleted client's login is live", round)
			}
		}
		for _, rt := range append(ref.refresh, r0.RefreshToken) {
			if r := nodeA.refresh(t, rt); r.status == http.StatusOK {
				t.Fatalf("round %d: a refresh token of the deleted client refreshed for the recreated one", round)
			}
		}
	}
}
