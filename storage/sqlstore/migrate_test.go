package sqlstore_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// emptyDatabases name a fresh, empty database of each backend (PostgreSQL
// when LATCH_TEST_DATABASE_URL is set, else skipped).
var emptyDatabases = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "latch.db") }},
	{"postgres", sqlstoretest.PostgresURL},
}

// mustOpen opens the database at url without migrating it, and closes it at
// the end of the test.
func mustOpen(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustVersions returns the schema version of s and the latest one.
func mustVersions(t *testing.T, s *sqlstore.Store) (current, latest int64) {
	t.Helper()
	current, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return current, latest
}

// mustInt64s returns the rows of a query of one integer column.
func mustInt64s(t *testing.T, s *sqlstore.Store, query string) []int64 {
	t.Helper()
	got, err := s.Int64s(t.Context(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return got
}

// migrateAtOnce migrates the database at u from two stores at once, as two
// nodes starting together do, with files instead of the embedded migrations
// unless that is nil.
func migrateAtOnce(t *testing.T, u string, files fs.FS) {
	t.Helper()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := sqlstore.Open(t.Context(), u, sqlstore.Options{})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if files != nil {
				s.UseMigrations(files)
			}
			errs <- s.Migrate(t.Context())
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// upTo returns 0, 1, ..., n: goose's version table after n migrations.
func upTo(n int64) []int64 {
	var vs []int64
	for v := range n + 1 {
		vs = append(vs, v)
	}
	return vs
}

// TestMigrateAdoptsLegacySchema upgrades in place a database that Latch
// made before it used goose: schema and schema_migrations as the former
// runner left them, with data in it. The new code takes versions 1 to 3 as
// applied (running them again would fail: their tables exist), applies what
// follows, and keeps the data and schema_migrations.
func TestMigrateAdoptsLegacySchema(t *testing.T) {
	for _, tc := range emptyDatabases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			url := tc.url(t)
			old := mustOpen(t, url)
			if err := old.MigrateLegacy(ctx); err != nil {
				t.Fatal(err)
			}
			if got := mustInt64s(t, old, "SELECT version FROM schema_migrations ORDER BY version"); !slices.Equal(got, []int64{1, 2, 3}) {
				t.Fatalf("schema_migrations holds %v, want [1 2 3]", got)
			}
			created := time.Now().UTC().Truncate(time.Second)
			// Rows as version 3's code wrote them: today's store writes
			// columns that came later.
			if err := old.Exec(ctx, "INSERT INTO clients (id, auth_method, created_at) VALUES (?, ?, ?)", "c1", storage.AuthMethodNone, created); err != nil {
				t.Fatal(err)
			}
			if err := old.Exec(ctx, "INSERT INTO users (id, username, created_at, password_changed_at) VALUES (?, ?, ?, ?)", "u1", "alice", created, created); err != nil {
				t.Fatal(err)
			}
			old.Close()

			s := mustOpen(t, url)
			if current, _ := mustVersions(t, s); current != 3 {
				t.Errorf("before Migrate: SchemaVersion = %d, want 3 (from schema_migrations)", current)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			current, latest := mustVersions(t, s)
			if current != latest {
				t.Errorf("after Migrate: SchemaVersion = %d, latest %d", current, latest)
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema after Migrate: %v", err)
			}
			if got := mustInt64s(t, s, "SELECT version_id FROM goose_db_version ORDER BY id"); !slices.Equal(got, upTo(latest)) {
				t.Errorf("goose_db_version holds %v, want %v", got, upTo(latest))
			}
			if got := mustInt64s(t, s, "SELECT version FROM schema_migrations ORDER BY version"); !slices.Equal(got, []int64{1, 2, 3}) {
				t.Errorf("schema_migrations holds %v after Migrate, want it kept as [1 2 3]", got)
			}
			if c, err := s.GetClient(ctx, "c1"); err != nil || !c.CreatedAt.Equal(created) {
				t.Errorf("GetClient(c1) after the upgrade = %+v, %v", c, err)
			}
			if u, err := s.GetUser(ctx, "u1"); err != nil || u.Username != "alice" {
				t.Errorf("GetUser(u1) after the upgrade = %+v, %v", u, err)
			}
			// A second node, or the next start, finds nothing to do.
			if err := mustOpen(t, url).Migrate(ctx); err != nil {
				t.Errorf("second Migrate: %v", err)
			}
			if got := mustInt64s(t, s, "SELECT version_id FROM goose_db_version ORDER BY id"); !slices.Equal(got, upTo(latest)) {
				t.Errorf("after a second Migrate, goose_db_version holds %v, want %v", got, upTo(latest))
			}
		})
	}
}

// TestMigrateRefusesNewerSchema: a database that a later Latch migrated is
// refused by Migrate and CheckSchema, with what to do, and left as it is.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	for _, tc := range emptyDatabases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := mustOpen(t, tc.url(t))
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			_, latest := mustVersions(t, s)
			if err := s.Exec(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, ?)", latest+1, true); err != nil {
				t.Fatal(err)
			}
			want := "database schema version " + itoa(latest+1) + " is newer than this latch (" + itoa(latest) + "); upgrade latch"
			for name, err := range map[string]error{"Migrate": s.Migrate(ctx), "CheckSchema": s.CheckSchema(ctx)} {
				if !errors.Is(err, sqlstore.ErrSchemaNewer) || errors.Is(err, sqlstore.ErrSchemaOlder) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s = %v, want ErrSchemaNewer saying %q", name, err, want)
				}
			}
			if current, _ := mustVersions(t, s); current != latest+1 {
				t.Errorf("SchemaVersion = %d, want %d", current, latest+1)
			}
		})
	}
}

// TestCheckSchema: CheckSchema accepts the latest schema only, asks for
// latch migrate otherwise, and changes nothing: an empty database stays
// empty.
func TestCheckSchema(t *testing.T) {
	for _, tc := range emptyDatabases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := mustOpen(t, tc.url(t))
			err := s.CheckSchema(ctx)
			if !errors.Is(err, sqlstore.ErrSchemaOlder) || !strings.HasSuffix(err.Error(), "has no schema yet (this latch has version "+itoa(latestOf(t, s))+"); run latch migrate") {
				t.Errorf("CheckSchema on an empty database = %v, want ErrSchemaOlder, no schema yet", err)
			}
			if err := s.Exec(ctx, "SELECT 1 FROM goose_db_version"); err == nil {
				t.Error("CheckSchema created goose_db_version")
			}

			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema after Migrate = %v", err)
			}

			latest := latestOf(t, s)
			if err := s.Exec(ctx, "DELETE FROM goose_db_version WHERE version_id = ?", latest); err != nil {
				t.Fatal(err)
			}
			want := "database schema version " + itoa(latest-1) + " is older than this latch (" + itoa(latest) + "); run latch migrate"
			if err := s.CheckSchema(ctx); !errors.Is(err, sqlstore.ErrSchemaOlder) || !strings.HasSuffix(err.Error(), want) {
				t.Errorf("CheckSchema a version behind = %v, want ErrSchemaOlder saying %q", err, want)
			}
		})
	}
}

func latestOf(t *testing.T, s *sqlstore.Store) int64 {
	t.Helper()
	_, latest := mustVersions(t, s)
	return latest
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestMigrateWithoutTransaction runs a migration marked
// "-- +goose NO TRANSACTION", written as the doc of package migrations says:
// on PostgreSQL a CREATE INDEX CONCURRENTLY, which cannot run in a
// transaction and waits for every transaction with an older snapshot. Two
// stores migrate at once, so one waits for the lock while the other builds
// the index; waiting in a blocking pg_advisory_lock would hold such a
// snapshot, and the two would deadlock.
func TestMigrateWithoutTransaction(t *testing.T) {
	for _, tc := range emptyDatabases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			u := tc.url(t)
			s := mustOpen(t, u)
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			embedded, err := migrations.FS(s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			files := fstest.MapFS{}
			if err := fs.WalkDir(embedded, ".", func(name string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := fs.ReadFile(embedded, name)
				files[name] = &fstest.MapFile{Data: b}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			index := "CREATE INDEX CONCURRENTLY IF NOT EXISTS tokens_client_id_idx ON tokens (client_id);"
			if s.Dialect() == migrations.SQLite {
				index = "CREATE INDEX IF NOT EXISTS tokens_client_id_idx ON tokens (client_id);"
			}
			files["9000_tokens_client_id.sql"] = &fstest.MapFile{Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\n" + index + "\n")}

			migrateAtOnce(t, u, files)
			if got := mustInt64s(t, s, "SELECT MAX(version_id) FROM goose_db_version"); !slices.Equal(got, []int64{9000}) {
				t.Errorf("schema version %v, want 9000", got)
			}
			query := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'tokens_client_id_idx'"
			if s.Dialect() == migrations.Postgres {
				query = "SELECT COUNT(*) FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid WHERE relname = 'tokens_client_id_idx' AND indisvalid"
			}
			if got := mustInt64s(t, s, query); !slices.Equal(got, []int64{1}) {
				t.Errorf("valid indexes tokens_client_id_idx: %v, want 1", got)
			}
		})
	}
}
