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

// testFamilyOfDeletedClient: CreateFamily stores a login only for a client
// that exists with the family's client generation; for a client that never
// existed, was deleted, or was deleted and created again under its id, it
// answers ErrNotFound and stores nothing (issue 14: a recreated client id
// must not take over a login granted to the one before).
func testFamilyOfDeletedClient(ctx context.Context, t *testing.T, s storage.Store) {
	// refused checks that a family of c, with and without a token, is
	// refused with ErrNotFound and nothing is stored, outside and inside a
	// transaction.
	refused := func(op, id string, c *storage.Client) {
		t.Helper()
		f, tok := clientFamily(id, c)
		wantErr(t, op, s.CreateFamily(ctx, f), storage.ErrNotFound)
		wantErr(t, op+" with a token", s.CreateFamily(ctx, f, tok), storage.ErrNotFound)
		wantErr(t, op+" in a transaction", s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateFamily(ctx, f, tok)
		}), storage.ErrNotFound)
		_, err := s.GetFamily(ctx, f.ID)
		wantErr(t, "GetFamily after "+op, err, storage.ErrNotFound)
		_, err = s.GetToken(ctx, tok.Key)
		wantErr(t, "GetToken after "+op, err, storage.ErrNotFound)
	}

	refused("CreateFamily(no such client)", "f0", newClient("nobody"))

	c := newClient("c1")
	mustOK(t, "CreateClient", s.CreateClient(ctx, c))
	old := *c
	if old.Generation == "" {
		t.Fatal("CreateClient set no generation")
	}
	got, err := s.GetClient(ctx, "c1")
	mustOK(t, "GetClient", err)
	checkEqual(t, "GetClient", got, c)
	f1, tok1 := clientFamily("f1", c)
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, f1, tok1))
	_, fam, err := s.GetTokenFamily(ctx, tok1.Key)
	mustOK(t, "GetTokenFamily", err)
	checkEqual(t, "GetTokenFamily family", fam, f1)
	wrong := *c
	wrong.Generation = "another"
	refused("CreateFamily(another generation)", "f2", &wrong)

	mustOK(t, "DeleteClient", s.DeleteClient(ctx, "c1"))
	refused("CreateFamily(deleted client)", "f3", &old)

	mustOK(t, "CreateClient(again)", s.CreateClient(ctx, c))
	if c.Generation == old.Generation || c.Generation == "" {
		t.Fatalf("the recreated client has generation %q, its predecessor %q: want a new one", c.Generation, old.Generation)
	}
	refused("CreateFamily(the deleted generation of a recreated client)", "f4", &old)
	f5, tok5 := clientFamily("f5", c)
	mustOK(t, "CreateFamily(recreated client)", s.CreateFamily(ctx, f5, tok5))
}

// testConcurrentDeleteClient: a client deleted (and its families revoked,
// in one transaction, as package oauth does) on store a while grants on a
// and b keep creating families for it leaves no live family of it: each
// CreateFamily either came first, and the revocation ended its family, or
// answers ErrNotFound. The client's generation is checked too: the client
// is created again under its id at the end, which must revive nothing.
func testConcurrentDeleteClient(ctx context.Context, t *testing.T, a, b storage.Store) {
	c := newClient("c1")
	mustOK(t, "CreateClient", a.CreateClient(ctx, c))
	const workers = 8
	var (
		created, refused atomic.Int64
		deleting, over   atomic.Bool
		wg               sync.WaitGroup
		errs             = make(chan error, workers)
	)
	for w := range workers {
		s := []storage.Store{a, b}[w%2]
		wg.Go(func() {
			// Go on until a family is refused, which it must be soon
			// after the delete: grants that started before it land,
			// or wait and are refused.
			after := 0
			for i := 0; ; i++ {
				if over.Load() {
					if after++; after > 4 {
						errs <- fmt.Errorf("CreateFamily on store %d: stored after the delete", w%2)
						return
					}
				}
				id := fmt.Sprintf("f-%d-%d", w, i)
				f, tok := clientFamily(id, c)
				tokens := []*storage.Token{tok}[:i%2] // with a token and without
				err := s.CreateFamily(ctx, f, tokens...)
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, storage.ErrNotFound):
					refused.Add(1)
					if !deleting.Load() {
						errs <- fmt.Errorf("CreateFamily %s refused before the delete began: %w", id, err)
					}
					return
				default:
					errs <- fmt.Errorf("CreateFamily %s: %w", id, err)
					return
				}
			}
		})
	}
	// Let some families land first.
	for created.Load() < 2*workers && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	var revoked []string
	deleting.Store(true)
	mustOK(t, "delete client and revoke its families", a.InTx(ctx, func(ctx context.Context) error {
		if err := a.DeleteClient(ctx, c.ID); err != nil {
			return err
		}
		var err error
		revoked, err = a.RevokeFamilies(ctx, storage.FamilyFilter{ClientID: c.ID}, storage.ReasonClientDeleted, at(time.Minute))
		return err
	}))
	over.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustOK(t, "CreateClient(again)", b.CreateClient(ctx, newClient("c1")))
	live, err := b.ListLiveFamilies(ctx, storage.FamilyFilter{ClientID: c.ID}, at(2*time.Minute))
	mustOK(t, "ListLiveFamilies", err)
	if len(live) > 0 || int64(len(revoked)) != created.Load() {
		t.Errorf("%d families created, %d refused, %d revoked by the delete; %d live after it, want none",
			created.Load(), refused.Load(), len(revoked), len(live))
	}
}

// clientFamily returns a family of client c, with the client's current
// generation, and a refresh token of it.
func clientFamily(id string, c *storage.Client) (*storage.Family, *storage.Token) {
	f := &storage.Family{
		ID: id, ClientID: c.ID, ClientGeneration: c.Generation, Scopes: []string{"read"},
		CreatedAt: at(0), LastUsedAt: at(0), ExpiresAt: at(time.Hour),
	}
	tok := newToken("k-"+id, id)
	tok.ClientID = c.ID
	return f, tok
}
