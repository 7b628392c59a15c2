package sqlstore_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestReserveAttemptAcrossStores reserves one key from two stores on the same
// database at once, as two nodes do: every count comes once.
func TestReserveAttemptAcrossStores(t *testing.T) {
	a, b := sqlstoretest.NewPair(t)
	stores := []*sqlstore.Store{a, b}
	const n = 64
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	counts := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = stores[i%2].ReserveAttempt(t.Context(), "k", now, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted counts = %v, want 1..%d each once", counts, n)
		}
	}
}
