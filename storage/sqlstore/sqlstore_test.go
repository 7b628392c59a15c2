package sqlstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// TestSQLiteFilesPrivate checks that a new SQLite database and the -wal
// and -shm files beside it are readable by their owner only, as the
// secret file is, whatever the umask lets through (0644 under the usual
// 022): they hold password and secret hashes and the audit trail.
func TestSQLiteFilesPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := sqlstore.Open(t.Context(), "sqlite:"+path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(t.Context(), &storage.Client{ID: "c1", AuthMethod: storage.AuthMethodNone}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("after a write: %v", err)
			continue
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), perm)
		}
	}
}

func TestMigrateTwice(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(testing.TB) *sqlstore.Store
	}{
		{"sqlite", sqlstoretest.NewSQLite},
		{"postgres", sqlstoretest.NewPostgres},
	} {
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
	s, app := mustOpenNamed(t)
	ctx := t.Context()
	if err := s.CreateClient(ctx, &storage.Client{ID: "c1", AuthMethod: storage.AuthMethodNone}); err != nil {
		t.Fatal(err)
	}

	if terminateBackends(t, app) == 0 {
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

// TestMigrateConcurrently starts two stores on one database at once, as two
// processes starting together do: both Migrate calls succeed, and each
// version is applied once. The database is empty, or has goose's version
// table, as when a release with new migrations starts on several nodes at
// once: then nothing makes the two wait for each other but the lock around
// goose's run.
func TestMigrateConcurrently(t *testing.T) {
	for _, tc := range emptyDatabases {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("empty", func(t *testing.T) { testMigrateConcurrently(t, tc.url(t), false) })
			t.Run("version table", func(t *testing.T) { testMigrateConcurrently(t, tc.url(t), true) })
		})
	}
}

func testMigrateConcurrently(t *testing.T, u string, withTable bool) {
	if withTable {
		if err := mustOpen(t, u).InitVersionTable(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	migrateAtOnce(t, u, nil)
	s := mustOpen(t, u)
	_, latest := mustVersions(t, s)
	if got := mustInt64s(t, s, "SELECT version_id FROM goose_db_version ORDER BY version_id"); !slices.Equal(got, upTo(latest)) {
		t.Errorf("goose_db_version holds %v, want %v", got, upTo(latest))
	}
}
