package sqlstore_test

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestMigrationEventEnforced: version 5 marks every reuse_detected event
// written before it as enforced, since reuse detection could not report
// only, and leaves the other events unmarked.
func TestMigrationEventEnforced(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testMigrationEventEnforced(t, migrations.SQLite, "sqlite", filepath.Join(t.TempDir(), "latch.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testMigrationEventEnforced(t, migrations.Postgres, "pgx", sqlstoretest.PostgresURL(t))
	})
}

func testMigrationEventEnforced(t *testing.T, dialect, driver, dsn string) {
	db, ms, exec := openSchemaDB(t, dialect, driver, dsn)
	for _, m := range ms[:4] {
		exec(m)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, typ := range []string{"issued", "refreshed", "reuse_detected", "family_revoked"} {
		exec(`INSERT INTO audit_events (type, family_id, reason, created_at) VALUES (?, ?, ?, ?)`, typ, "f1", "", now)
	}
	exec(ms[4])

	rows, err := db.QueryContext(t.Context(), `SELECT type, enforced FROM audit_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var typ string
		var enforced bool
		if err := rows.Scan(&typ, &enforced); err != nil {
			t.Fatal(err)
		}
		got[typ] = enforced
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"issued": false, "refreshed": false, "reuse_detected": true, "family_revoked": false}
	if len(got) != len(want) {
		t.Fatalf("events after version 5: %v, want %v", got, want)
	}
	for typ, w := range want {
		if got[typ] != w {
			t.Errorf("%s event: enforced = %v, want %v", typ, got[typ], w)
		}
	}
}

// openSchemaDB opens an empty database for a test of one migration, which
// applies the schema file by file on database/sql (exec, with ? for
// placeholders), so that the test does not depend on the migration runner.
// The database is closed when the test ends.
func openSchemaDB(t *testing.T, dialect, driver, dsn string) (*sql.DB, []string, func(q string, args ...any)) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*.sql") // sorted, and the names begin with the version
	if err != nil {
		t.Fatal(err)
	}
	var ms []string
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, string(b))
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if dialect == migrations.Postgres {
			q = dollars(q)
		}
		if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	return db, ms, exec
}
