package sqlstore_test

import (
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
