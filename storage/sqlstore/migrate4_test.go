package sqlstore_test

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestMigrationEndsOrphanedLogins: version 4 ends the live logins that the
// race of issue 14 could leave (a login of a deleted client, or one older
// than the client that holds its id now), with their access tokens on the
// denylist and a family_revoked event, and leaves every other login alone.
// The schema is applied file by file, on database/sql, so that the test
// does not depend on the migration runner.
func TestMigrationEndsOrphanedLogins(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testMigrationEndsOrphanedLogins(t, migrations.SQLite, "sqlite", "sqlite:"+filepath.Join(t.TempDir(), "latch.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := sqlstoretest.PostgresURL(t)
		testMigrationEndsOrphanedLogins(t, migrations.Postgres, "pgx", url)
	})
}

func testMigrationEndsOrphanedLogins(t *testing.T, dialect, driver, url string) {
	ctx := t.Context()
	dsn := url
	if dialect == migrations.SQLite {
		dsn = url[len("sqlite:"):]
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := migrations.FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if dialect == migrations.Postgres {
			q = dollars(q)
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	for _, name := range files[:3] { // fs.Glob sorts, and the names begin with the version
		sql, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(sql))
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	created := now.Add(-time.Hour)
	exec(`INSERT INTO clients (id, created_at) VALUES (?, ?), (?, ?)`, "kept", created, "recreated", now.Add(-time.Minute))
	family := func(id, client string, revoked bool) {
		var revokedAt any
		if revoked {
			revokedAt = created
		}
		exec(`INSERT INTO families (id, client_id, created_at, last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, client, created, created, now.Add(time.Hour), revokedAt)
		exec(`INSERT INTO tokens ("key", kind, family_id, client_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			"access-"+id, "access", id, client, created, now.Add(time.Hour))
	}
	family("live", "kept", false)
	family("gone", "deleted", false)         // its client was deleted
	family("taken-over", "recreated", false) // older than its client
	family("ended", "deleted", true)         // ended by the delete already
	v4, err := fs.ReadFile(fsys, files[3])
	if err != nil {
		t.Fatal(err)
	}
	exec(string(v4))

	s, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		family       string
		ended, event bool
	}{
		{"live", false, false},
		{"gone", true, true},
		{"taken-over", true, true},
		{"ended", true, false},
	} {
		f, err := s.GetFamily(ctx, tc.family)
		if err != nil {
			t.Fatal(err)
		}
		if f.Revoked() != tc.ended {
			t.Errorf("family %s: revoked %v, want %v", tc.family, f.Revoked(), tc.ended)
		}
		if tc.event && (f.RevokeReason != storage.ReasonClientDeleted || f.RevokedAt.Before(now.Add(-time.Minute)) || f.RevokedAt.After(time.Now().Add(time.Minute))) {
			t.Errorf("family %s: revoked at %v for %q, want now for %q", tc.family, f.RevokedAt, f.RevokeReason, storage.ReasonClientDeleted)
		}
		denied, err := s.IsDenied(ctx, "access-"+tc.family)
		if err != nil {
			t.Fatal(err)
		}
		events, err := s.ListEvents(ctx, tc.family)
		if err != nil {
			t.Fatal(err)
		}
		if denied != tc.event || (len(events) == 1) != tc.event {
			t.Errorf("family %s: access token denied %v, %d events; want %v and one event each", tc.family, denied, len(events), tc.event)
		}
		if tc.event && len(events) == 1 && (events[0].Type != "family_revoked" || events[0].ClientID != f.ClientID || events[0].Reason != storage.ReasonClientDeleted) {
			t.Errorf("family %s: event %+v", tc.family, events[0])
		}
	}
}

// dollars numbers the ? placeholders of q as PostgreSQL's $1, $2, ...
func dollars(q string) string {
	out := make([]byte, 0, len(q)+8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$')
			out = append(out, strconv.Itoa(n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
