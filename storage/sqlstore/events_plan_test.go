package sqlstore_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// planEvents is how many events testSearchEventsPlan fills the table with:
// enough that a full scan or a sort costs a planner far more than an
// index. PostgreSQL inserts them in about a second; SQLite, pure Go under
// the race detector, takes a minute for as many, and its planner (after
// ANALYZE) chooses the same plans with fewer.
const (
	planEvents       = 100_000
	planEventsSQLite = 5_000
)

// TestSearchEventsPlanSQLite and TestSearchEventsPlanPostgres check that
// every filter combination of GET /admin/events, and the janitor's
// retention, read audit_events through an index in the order of the answer:
// no full scan and no sort, which with millions of events would read them
// all for one page. It asks the planner (EXPLAIN) rather than timing the
// queries, which a shared machine makes noisy.
func TestSearchEventsPlanSQLite(t *testing.T) {
	testSearchEventsPlan(t, sqlstoretest.NewSQLite(t), "sqlite")
}

func TestSearchEventsPlanPostgres(t *testing.T) {
	testSearchEventsPlan(t, sqlstoretest.NewPostgres(t), "postgres")
}

func testSearchEventsPlan(t *testing.T, s *sqlstore.Store, dialect string) {
	ctx := t.Context()
	// Six types, 5,000 users, one event a second back from now.
	fill := `INSERT INTO audit_events (type, family_id, client_id, user_id, created_at)
SELECT (ARRAY['issued','refreshed','refreshed','refreshed','replayed','reuse_detected'])[1 + i % 6],
	'f' || (i % 20000), 'c1', 'u' || (i % 5000), now() - i * interval '1 second'
FROM generate_series(1, ?) AS g(i)`
	if dialect == "sqlite" {
		fill = `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
INSERT INTO audit_events (type, family_id, client_id, user_id, created_at)
SELECT CASE i % 6 WHEN 0 THEN 'issued' WHEN 4 THEN 'replayed' WHEN 5 THEN 'reuse_detected' ELSE 'refreshed' END,
	'f' || (i % 20000), 'c1', 'u' || (i % 5000), strftime('%Y-%m-%d %H:%M:%f+00:00', 'now', '-' || i || ' seconds')
FROM g`
	}
	n := planEvents
	if dialect == "sqlite" {
		n = planEventsSQLite
	}
	if err := s.Exec(ctx, fill, n); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}

	since := time.Now().Add(-time.Hour)
	after := &storage.EventCursor{CreatedAt: time.Now().Add(-time.Minute), ID: 1000}
	for _, tc := range []struct {
		name   string
		filter storage.EventFilter
	}{
		{"none", storage.EventFilter{}},
		{"type", storage.EventFilter{Type: "reuse_detected"}},
		{"common type", storage.EventFilter{Type: "refreshed"}},
		{"user", storage.EventFilter{UserID: "u42"}},
		{"since", storage.EventFilter{Since: since}},
		{"type and user", storage.EventFilter{Type: "reuse_detected", UserID: "u42"}},
		{"type and since", storage.EventFilter{Type: "reuse_detected", Since: since}},
		{"user and since", storage.EventFilter{UserID: "u42", Since: since}},
		{"type, user and since", storage.EventFilter{Type: "issued", UserID: "u42", Since: since}},
		{"none, next page", storage.EventFilter{After: after}},
		{"type, next page", storage.EventFilter{Type: "issued", After: after}},
		{"user, next page", storage.EventFilter{UserID: "u42", After: after}},
		{"type and user, next page", storage.EventFilter{Type: "issued", UserID: "u42", After: after}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, limit := range []int{100, 1000} {
				tc.filter.Limit = limit
				q, args := sqlstore.SearchEventsSQL(tc.filter)
				plan, err := s.Explain(ctx, q, args...)
				if err != nil {
					t.Fatal(err)
				}
				checkIndexedPlan(t, dialect, plan, n)
			}
		})
	}
	t.Run("retention", func(t *testing.T) {
		plan, err := s.Explain(ctx, sqlstore.PurgeEventsSelect, time.Now().Add(-24*time.Hour), 500)
		if err != nil {
			t.Fatal(err)
		}
		checkIndexedPlan(t, dialect, plan, n)
	})
}

// checkIndexedPlan fails unless plan reads audit_events through one of
// the indexes of migration 9, of a table of n events: never a full scan.
// SQLite must also sort nothing: it reads in the answer's order and stops
// at the limit. PostgreSQL may instead fetch the rows an index condition
// selects and sort those, when it estimates them few (one user's events, a
// rare type in the last hour); the estimate must stay under a tenth of the
// table.
func checkIndexedPlan(t *testing.T, dialect, plan string, n int) {
	t.Helper()
	if !strings.Contains(plan, "audit_events_created_at_idx") && !strings.Contains(plan, "audit_events_type_created_at_idx") &&
		!strings.Contains(plan, "audit_events_user_id_created_at_idx") {
		t.Errorf("plan uses none of the search indexes:\n%s", plan)
	}
	if dialect == "sqlite" {
		for _, line := range strings.Split(plan, "\n") {
			if (strings.HasPrefix(line, "SCAN") || strings.HasPrefix(line, "SEARCH")) && !strings.Contains(line, "INDEX audit_events_") {
				t.Errorf("plan reads audit_events without a search index:\n%s", plan)
			}
		}
		if strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan sorts:\n%s", plan)
		}
		return
	}
	if strings.Contains(plan, "Seq Scan") {
		t.Errorf("plan scans the whole table:\n%s", plan)
	}
	if !strings.Contains(plan, "Sort") {
		return
	}
	for _, line := range strings.Split(plan, "\n") {
		if !strings.Contains(line, "Bitmap Heap Scan") {
			continue
		}
		_, rest, _ := strings.Cut(line, " rows=")
		rows, err := strconv.Atoi(strings.Fields(rest)[0])
		if err != nil || rows > n/10 {
			t.Errorf("plan sorts about %s rows of %d:\n%s", strings.Fields(rest)[0], n, plan)
		}
	}
}
