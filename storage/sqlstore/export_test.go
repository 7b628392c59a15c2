package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// This file gives the tests of package sqlstore_test what only the package
// can reach.

// legacyLatest is the last version Latch's own runner applied before goose.
const legacyLatest = 3

// MigrateLegacy builds the schema as Latch did before it used goose: the
// files of versions 1 to 3 (their "-- +goose Up" part, the whole file at
// that time), each run as one statement in its own transaction and recorded
// in schema_migrations. Below is a copy of that runner's bookkeeping
// (migrate.go before goose), kept only to test the upgrade in place.
func (s *Store) MigrateLegacy(ctx context.Context) error {
	fsys, err := migrations.FS(s.dialect)
	if err != nil {
		return err
	}
	for v := int64(1); v <= legacyLatest; v++ {
		names, err := fs.Glob(fsys, fmt.Sprintf("%04d_*.sql", v))
		if err != nil || len(names) != 1 {
			return fmt.Errorf("version %d: files %v: %v", v, names, err)
		}
		b, err := fs.ReadFile(fsys, names[0])
		if err != nil {
			return err
		}
		up, _, _ := strings.Cut(string(b), "-- +goose Down")
		if err := s.legacyMigrateOne(ctx, v, names[0], up); err != nil {
			return err
		}
	}
	return nil
}

// legacyMigrateOne is the former migrateOne, unchanged but for its
// parameters (it took a migrations.Migration, a type that went with it) and
// its now(), inlined.
func (s *Store) legacyMigrateOne(ctx context.Context, version int64, name, sql string) error {
	const migrateLockID = 0x6c617463686d6967
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == migrations.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(migrateLockID)).Error; err != nil {
				return mapErr("migrate: lock", err)
			}
		}
		timeType := "DATETIME"
		if s.dialect == migrations.Postgres {
			timeType = "TIMESTAMPTZ"
		}
		if err := tx.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at " + timeType + " NOT NULL)").Error; err != nil {
			return mapErr("migrate: create schema_migrations", err)
		}
		var n int64
		if err := tx.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", version).Scan(&n).Error; err != nil {
			return mapErr("migrate: read schema_migrations", err)
		}
		if n > 0 {
			return nil
		}
		if err := tx.Exec(sql).Error; err != nil {
			return fmt.Errorf("sqlstore: migrate %s/%s: %w", s.dialect, name, err)
		}
		if err := tx.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, time.Now().UTC().Truncate(time.Microsecond)).Error; err != nil {
			return mapErr("migrate: record version", err)
		}
		return nil
	})
}

// InitVersionTable creates goose's version table at version 0, as in a
// database that a Latch without migrations made (there is none).
func (s *Store) InitVersionTable(ctx context.Context) error {
	return s.initVersionTable(ctx, nil)
}

// UseMigrations makes Migrate run the files of fsys instead of the
// embedded ones.
func (s *Store) UseMigrations(fsys fs.FS) { s.migrationFiles = fsys }

// Exec runs a statement on the store's database (placeholders: ?).
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	return s.db.WithContext(ctx).Exec(query, args...).Error
}

// Int64s runs a query whose rows are one integer each.
func (s *Store) Int64s(ctx context.Context, query string) ([]int64, error) {
	var got []int64
	err := s.db.WithContext(ctx).Raw(query).Scan(&got).Error
	return got, err
}

// SearchEventsSQL is SearchEvents' query of f and its arguments.
func SearchEventsSQL(f storage.EventFilter) (string, []any) { return searchEventsSQL(f) }

// PurgeEventsSelect is the select of the events PurgeEvents deletes.
const PurgeEventsSelect = purgeEventsSelect

// Explain returns the plan of query q with args, one line per row: EXPLAIN
// on PostgreSQL, EXPLAIN QUERY PLAN's details on SQLite.
func (s *Store) Explain(ctx context.Context, q string, args ...any) (string, error) {
	prefix := "EXPLAIN "
	if s.dialect == migrations.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := s.db.WithContext(ctx).Raw(prefix+q, args...).Rows()
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		if s.dialect == migrations.SQLite {
			var id, parent, unused int64
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return "", err
			}
			lines = append(lines, detail)
			continue
		}
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"), rows.Err()
}
