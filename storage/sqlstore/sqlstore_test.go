package sqlstore_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"strings"
	"testing"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
	"github.com/latchhq/latch/storage/storagetest"
)

func TestConformanceSQLite(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storage.Store { return sqlstoretest.NewSQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	sqlstoretest.NewPostgres(t) // skips unless LATCH_TEST_DATABASE_URL is set
	storagetest.Run(t, func(t testing.TB) storage.Store { return sqlstoretest.NewPostgres(t) })
}

// TestConformancePairSQLite runs the cases of two nodes on one database:
// two stores (two connections) on one SQLite file.
func TestConformancePairSQLite(t *testing.T) {
	storagetest.RunPair(t, func(t testing.TB) (storage.Store, storage.Store) { return sqlstoretest.NewSQLitePair(t) })
}

func TestConformancePairPostgres(t *testing.T) {
	sqlstoretest.NewPostgres(t) // skips unless LATCH_TEST_DATABASE_URL is set
	storagetest.RunPair(t, func(t testing.TB) (storage.Store, storage.Store) { return sqlstoretest.NewPostgresPair(t) })
}

func TestOpenUnknownScheme(t *testing.T) {
	for _, u := range []string{"mysql://root:hunter2@localhost/db", "latch.db", ""} {
		_, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded, want an error", u)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error %q shows the password", u, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	for _, u := range []string{
		"postgres://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2&sslmode=disable",
		"postgresql://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2",
	} {
		_, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
		if err == nil {
			t.Fatalf("Open(unreachable) succeeded")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error shows the password: %v", err)
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("Open(unreachable) = %v, want ErrUnavailable", err)
		}
	}
}

func TestOpenMalformedPostgresURL(t *testing.T) {
	for _, u := range []string{
		"postgres://postgres:hunter2@127.0.0.1:1/test?connect_timeout=%zz",
		"postgres://postgres:hunter2@127.0.0.1:1/test?sslmode=bogus",
		"postgres://postgres:hunter2@127.0.0.1:99999/test",
	} {
		_, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
		if err == nil {
			t.Fatalf("Open(malformed) succeeded")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error shows the password: %v", err)
		}
		t.Log(err)
	}
}

func TestOpenSQLiteBadPath(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), "sqlite:"+t.TempDir()+"/missing/dir/latch.db", sqlstore.Options{})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open(bad path) = %v, want ErrUnavailable", err)
	}
}

// databases are those a test or benchmark runs on, by dialect name:
// SQLite always, PostgreSQL when LATCH_TEST_DATABASE_URL is set (NewPostgres
// skips otherwise).
var databases = []struct {
	name string
	new  func(testing.TB) *sqlstore.Store
}{
	{"sqlite", sqlstoretest.NewSQLite},
	{"postgres", sqlstoretest.NewPostgres},
}

func TestMigrateTwice(t *testing.T) {
	for _, tc := range databases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.new(t) // migrated once
			if s.Dialect() != tc.name {
				t.Errorf("Dialect() = %q, want %q", s.Dialect(), tc.name)
			}
			ctx := t.Context()
			if err := s.CreateClient(ctx, &storage.Client{ID: "c1", AuthMethod: storage.AuthMethodNone}); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if _, err := s.GetClient(ctx, "c1"); err != nil {
				t.Fatalf("GetClient after second Migrate: %v", err)
			}
		})
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s := sqlstoretest.NewSQLite(t)
	s.Close()
	_, err := s.GetClient(t.Context(), "c1")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("GetClient on a closed store = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping on a closed store = %v, want ErrUnavailable", err)
	}
}

// TestPostgresRecovers kills the store's connections on the server side, as a
// database restart does, and checks that the store recovers by itself: calls
// fail with ErrUnavailable (or not at all) and soon work again.
func TestPostgresRecovers(t *testing.T) {
	u, err := url.Parse(sqlstoretest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("latch_recover_%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	ctx := t.Context()
	s, err := sqlstore.Open(ctx, u.String(), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &storage.Client{ID: "c1", AuthMethod: storage.AuthMethodNone}); err != nil {
		t.Fatal(err)
	}

	admin, err := pgx.Connect(ctx, os.Getenv(sqlstoretest.EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("found no connection of the store to terminate")
	}

	for i := range 20 {
		_, err := s.GetClient(ctx, "c1")
		if err == nil {
			return
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("GetClient after the connections died: %v, want ErrUnavailable", err)
		}
		t.Logf("attempt %d: %v", i, err)
	}
	t.Fatal("the store did not recover")
}

// TestMigrateConcurrently starts two stores on one empty database at once, as
// two processes starting together do: both Migrate calls succeed.
func TestMigrateConcurrently(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite:" + t.TempDir() + "/latch.db" }},
		{"postgres", sqlstoretest.PostgresURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url(t)
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					s, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
					if err != nil {
						errs <- err
						return
					}
					defer s.Close()
					errs <- s.Migrate(t.Context())
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
