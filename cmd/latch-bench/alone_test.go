package main

import (
	"database/sql"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestAlone runs every alone scenario briefly and checks, in the database,
// that each timed transaction did its work: a rotation per refresh (so each
// worker's chain held), a family per client_credentials insert, a revoked
// family per revocation.
func TestAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
		// rows: enough that no revocation comes back to a family (the
		// seeding is slow under -race on SQLite, fast in PostgreSQL).
		rows int
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "alone.db") }, 2000},
		{"postgres", pgbenchURL, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config{alone: tc.url(t), rows: tc.rows, concurrency: 4, duration: time.Second, pgbench: "pgbench"}
			rep, err := runAlone(t.Context(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]result{}
			for _, r := range rep.Results {
				got[r.Scenario] = r
				if r.Requests == 0 || r.Errors != 0 || r.RPS <= 0 {
					t.Errorf("%s: %d requests, %d errors (%v), %.0f req/s", r.Scenario, r.Requests, r.Errors, r.ErrorsBy, r.RPS)
				}
			}
			driver, dsn := "sqlite", cfg.alone[len("sqlite:"):]
			if tc.name == "postgres" {
				driver, dsn = "pgx", cfg.alone
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, c := range []struct {
				scenario, query string
			}{
				{"refresh", `SELECT count(*) FROM audit_events WHERE type = 'refreshed'`},
				{"client_credentials", `SELECT count(*) FROM families WHERE id LIKE 'c%'`},
				{"revoke", `SELECT count(*) FROM families WHERE revoked_at IS NOT NULL`},
			} {
				var n int
				if err := db.QueryRowContext(t.Context(), c.query).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if got[c.scenario].Note != "" {
					t.Logf("%s: %s", c.scenario, got[c.scenario].Note)
					continue
				}
				if want := got[c.scenario].Requests; n != want {
					t.Errorf("%s: %d rows written, want one per request: %d", c.scenario, n, want)
				}
			}
		})
	}
}

// pgbenchURL is a fresh schema of the test PostgreSQL, in a URL that both
// pgx and pgbench (libpq) read: the schema goes in the options parameter.
// It skips the test without PostgreSQL or pgbench.
func pgbenchURL(t *testing.T) string {
	if _, err := exec.LookPath("pgbench"); err != nil {
		t.Skip("pgbench is not installed")
	}
	u, err := url.Parse(sqlstoretest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-csearch_path="+q.Get("search_path"))
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}
