package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// readBesideWriteTimeout bounds each read taken while a write transaction
// is open. It is no measure of speed: a read that waits for the transaction
// waits for ever, since the transaction ends only after the reads.
const readBesideWriteTimeout = 10 * time.Second

// testReadBesideWrite: reads outside a transaction neither wait for an open
// write transaction nor see its writes, and a read after a commit, or after
// a write outside a transaction, sees it. (On SQLite this needs readers
// beside the one writer connection.)
func testReadBesideWrite(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice")))
	mustOK(t, "CreateFamily", s.CreateFamily(ctx, newFamily(ctx, t, s, "f1", "u1", "c1", at(0)), newToken("k1", "f1")))

	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(ctx context.Context) error {
			if err := s.CreateClient(ctx, newClient("c2")); err != nil {
				return err
			}
			if err := s.SpendToken(ctx, "k1", at(time.Minute), nil); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	// commit ends the transaction, once, also when the test fails first.
	commit := sync.OnceValue(func() error {
		close(release)
		return <-done
	})
	defer commit()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("InTx ended before holding its writes: %v", err)
	}

	rctx, cancel := context.WithTimeout(ctx, readBesideWriteTimeout)
	defer cancel()
	_, err := s.GetClient(rctx, "c1")
	mustOK(t, "GetClient beside an open write", err)
	_, err = s.GetClient(rctx, "c2")
	wantErr(t, "GetClient(uncommitted)", err, storage.ErrNotFound)
	tok, _, err := s.GetTokenFamily(rctx, "k1")
	mustOK(t, "GetTokenFamily beside an open write", err)
	if !tok.SpentAt.IsZero() {
		t.Error("GetTokenFamily beside an open write sees its uncommitted spend")
	}
	c, tok, fam, err := s.LookupClientToken(rctx, "c1", "k1")
	mustOK(t, "LookupClientToken beside an open write", err)
	if c == nil || tok == nil || fam == nil || !tok.SpentAt.IsZero() {
		t.Errorf("LookupClientToken beside an open write = %v, %v, %v", c, tok, fam)
	}
	clients, err := s.ListClients(rctx)
	mustOK(t, "ListClients beside an open write", err)
	if len(clients) != 1 {
		t.Errorf("ListClients beside an open write: %d clients, want 1", len(clients))
	}
	_, err = s.GetUserByUsername(rctx, "alice")
	mustOK(t, "GetUserByUsername beside an open write", err)

	mustOK(t, "InTx", commit())
	_, err = s.GetClient(ctx, "c2")
	mustOK(t, "GetClient after commit", err)
	tok, _, err = s.GetTokenFamily(ctx, "k1")
	mustOK(t, "GetTokenFamily after commit", err)
	if !tok.SpentAt.Equal(at(time.Minute)) {
		t.Errorf("GetTokenFamily after commit: SpentAt = %v, want %v", tok.SpentAt, at(time.Minute))
	}
	mustOK(t, "CreateClient(outside a transaction)", s.CreateClient(ctx, newClient("c3")))
	_, err = s.GetClient(ctx, "c3")
	mustOK(t, "GetClient after a write outside a transaction", err)
}
