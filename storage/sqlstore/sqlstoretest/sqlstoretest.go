// Package sqlstoretest opens fresh, migrated [sqlstore.Store]s for tests:
// SQLite in a temporary directory, or a new schema in the PostgreSQL named by
// the LATCH_TEST_DATABASE_URL environment variable.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchhq/latch/storage/sqlstore"
)

// EnvDatabaseURL names the environment variable that holds the PostgreSQL
// URL tests run against, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvDatabaseURL = "LATCH_TEST_DATABASE_URL"

// New returns a fresh, migrated store: on PostgreSQL if LATCH_TEST_DATABASE_URL
// is set, else on SQLite. It is closed (and its schema dropped) at the end of
// the test.
func New(t testing.TB) *sqlstore.Store {
	t.Helper()
	if os.Getenv(EnvDatabaseURL) != "" {
		return NewPostgres(t)
	}
	return NewSQLite(t)
}

// NewPair returns two stores on one fresh database, as two Latch nodes (or
// processes) sharing it would have: PostgreSQL if LATCH_TEST_DATABASE_URL is
// set, else one SQLite file.
func NewPair(t testing.TB) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	if os.Getenv(EnvDatabaseURL) != "" {
		return NewPostgresPair(t)
	}
	return NewSQLitePair(t)
}

// NewSQLitePair is NewPair on one SQLite file in t.TempDir().
func NewSQLitePair(t testing.TB) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latch.db")
	return open(t, url), open(t, url)
}

// NewPostgresPair is NewPair on a new schema of the PostgreSQL database at
// LATCH_TEST_DATABASE_URL. It skips the test when the variable is unset.
func NewPostgresPair(t testing.TB) (*sqlstore.Store, *sqlstore.Store) {
	t.Helper()
	url := PostgresURL(t)
	return open(t, url), open(t, url)
}

// NewSQLite returns a fresh, migrated store on SQLite in t.TempDir().
func NewSQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	return open(t, "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
}

// NewPostgres returns a fresh, migrated store in a new schema of the
// PostgreSQL database at LATCH_TEST_DATABASE_URL, dropped at the end of the
// test. It skips the test when the variable is unset.
func NewPostgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	return open(t, PostgresURL(t))
}

// PostgresURL creates a new, empty schema in the PostgreSQL database at
// LATCH_TEST_DATABASE_URL, drops it at the end of the test, and returns a URL
// whose connections use it (search_path). It skips the test when the variable
// is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skipf("%s is not set", EnvDatabaseURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("sqlstoretest: %s is not a URL", EnvDatabaseURL)
	}
	schema := "latch_test_" + hex.EncodeToString(randomBytes(t, 8))
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("sqlstoretest: create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		if err := exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("sqlstoretest: drop schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	// pgx sends URL parameters it does not know to the server as run-time
	// settings of each connection.
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t testing.TB, databaseURL string) *sqlstore.Store {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := sqlstore.Open(t.Context(), databaseURL, sqlstore.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("sqlstoretest: close: %v", err)
		}
	})
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
