package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
	"github.com/latchhq/latch/storage/storagetest"
)

// TestReserveAttemptAcrossStores reserves one key from two stores on the same
// database at once, as two nodes do: every count comes once.
func TestReserveAttemptAcrossStores(t *testing.T) {
	a, b := sqlstoretest.NewPair(t)
	storagetest.ReserveConcurrently(t.Context(), t, time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), 64, a, b)
}

// TestPurgeSkipsHeldAttempts: a login holds its username's and its
// address's counters in one transaction. The janitor's purge must not wait
// for such a login (on PostgreSQL, where rows are locked one by one): the
// login may be waiting for a counter the purge holds, and PostgreSQL would
// end that deadlock by failing one of them.
func TestPurgeSkipsHeldAttempts(t *testing.T) {
	s := sqlstoretest.NewPostgres(t)
	ctx := t.Context()
	start, window := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC), time.Minute
	for _, key := range []string{"user:a", "addr:b"} {
		if _, err := s.ReserveAttempt(ctx, key, start, window); err != nil {
			t.Fatal(err)
		}
	}
	now := start.Add(time.Hour) // both counters expired
	held, purged := make(chan struct{}), make(chan struct{})
	login := make(chan error, 1)
	var second int
	go func() {
		login <- s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.ReserveAttempt(ctx, "user:a", now, window); err != nil {
				return err
			}
			close(held)
			select {
			case <-purged:
			case <-time.After(5 * time.Second):
				return errors.New("the purge waited for the login's counter")
			}
			var err error
			second, err = s.ReserveAttempt(ctx, "addr:b", now, window)
			return err
		})
	}()
	<-held
	n, err := s.Purge(ctx, now, now, 100)
	close(purged)
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if err := <-login; err != nil {
		t.Fatalf("login: %v", err)
	}
	if n.Attempts != 1 {
		t.Errorf("purged %d counters, want 1: the expired one no login held", n.Attempts)
	}
	if second != 1 {
		t.Errorf("the address's count after the purge = %d, want 1", second)
	}
}
