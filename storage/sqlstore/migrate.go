package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"path"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"github.com/latchhq/latch/migrations"
)

// versionTable is goose's record of the applied migrations.
const versionTable = goose.DefaultTablename

// legacyTable is where Latch recorded applied versions (1 to 3) before it
// used goose. Migrate copies them into versionTable once and then leaves
// the table as it is, so a binary of that time still runs on the database
// until a later version is applied.
const legacyTable = "schema_migrations"

// ErrSchemaNewer and ErrSchemaOlder say, through [errors.Is], why
// [Store.Migrate] or [Store.CheckSchema] refused a database: its schema is
// of a later Latch, or it lacks migrations of this one (a new database
// lacks all).
var (
	ErrSchemaNewer = errors.New("sqlstore: database schema is newer than this latch")
	ErrSchemaOlder = errors.New("sqlstore: database schema is older than this latch")
)

// schemaError is the error of a database whose schema version is not the
// latest this binary embeds.
type schemaError struct{ current, latest int64 }

func (e *schemaError) Error() string {
	switch {
	case e.current > e.latest:
		return fmt.Sprintf("sqlstore: database schema version %d is newer than this latch (%d); upgrade latch", e.current, e.latest)
	case e.current == 0:
		return fmt.Sprintf("sqlstore: database has no schema yet (this latch has version %d); run latch migrate", e.latest)
	default:
		return fmt.Sprintf("sqlstore: database schema version %d is older than this latch (%d); run latch migrate", e.current, e.latest)
	}
}

func (e *schemaError) Is(target error) bool {
	return target == ErrSchemaNewer && e.current > e.latest ||
		target == ErrSchemaOlder && e.current < e.latest
}

// Migrate brings the schema to the latest version embedded in package
// migrations, applying the missing versions in order with goose, each in
// its own transaction unless its file says otherwise. It is idempotent. It
// refuses, changing nothing, a database whose schema is newer than this
// binary's (the error wraps [ErrSchemaNewer]).
//
// Several processes may migrate one database at once. On PostgreSQL they
// take turns under a session-level advisory lock, keyed by the schema, that
// a waiting process polls for rather than blocks on: blocked in
// pg_advisory_lock it would hold a snapshot that a CREATE INDEX
// CONCURRENTLY of the lock holder waits for, a deadlock. On SQLite, where
// every transaction takes the write lock as it begins, a process that loses
// the race for a version finds it applied when its own attempt fails, and
// goes on.
//
// A database made before Latch used goose has its versions adopted, not
// run again (see legacyTable).
func (s *Store) Migrate(ctx context.Context) error {
	var locker lock.SessionLocker
	if s.dialect == migrations.Postgres {
		var err error
		if locker, err = s.migrateLocker(ctx); err != nil {
			return err
		}
	}
	p, err := s.provider(locker)
	if err != nil {
		return err
	}
	current, err := s.schemaVersion(ctx)
	if err != nil {
		return err
	}
	latest := latestVersion(p)
	if current > latest {
		return &schemaError{current, latest}
	}
	if err := s.initVersionTable(ctx, locker); err != nil {
		return err
	}
	// Each lost race on SQLite leaves one more version applied, so there
	// are at most as many retries as versions.
	for range latest + 1 {
		results, err := p.Up(ctx)
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			results = partial.Applied
		}
		for _, r := range results {
			s.log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", path.Base(r.Source.Path), "duration", r.Duration)
		}
		switch {
		case err == nil:
			return nil
		case partial == nil:
			return fmt.Errorf("sqlstore: migrate: %w", err)
		case !s.lostRace(ctx, partial):
			return fmt.Errorf("sqlstore: migrate %s/%s: %w", s.dialect, path.Base(partial.Failed.Source.Path), partial.Err)
		}
	}
	return errors.New("sqlstore: migrate: no progress")
}

// lostRace reports whether a failed SQLite migration failed because another
// process applied the same version meanwhile.
func (s *Store) lostRace(ctx context.Context, failed *goose.PartialError) bool {
	if s.dialect != migrations.SQLite {
		return false
	}
	_, err := s.versions().GetMigration(ctx, s.sqlDB, failed.Failed.Source.Version)
	return err == nil
}

// CheckSchema returns nil if the database's schema is at the latest version
// this binary embeds, and otherwise an error that wraps [ErrSchemaNewer] or
// [ErrSchemaOlder] and says what to do. It changes nothing: commands that
// only read use it instead of [Store.Migrate].
func (s *Store) CheckSchema(ctx context.Context) error {
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current != latest {
		return &schemaError{current, latest}
	}
	return nil
}

// SchemaVersion returns the version of the database's schema (0 for an
// empty database) and the latest version this binary embeds. It changes
// nothing.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.provider(nil)
	if err != nil {
		return 0, 0, err
	}
	current, err = s.schemaVersion(ctx)
	return current, latestVersion(p), err
}

// provider returns a goose provider of the embedded migrations on s,
// serialized by locker if that is not nil.
func (s *Store) provider(locker lock.SessionLocker) (*goose.Provider, error) {
	fsys, err := migrations.FS(s.dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	if s.migrationFiles != nil {
		fsys = s.migrationFiles
	}
	opts := []goose.ProviderOption{
		// Only the embedded files; no Go migration registered elsewhere.
		goose.WithDisableGlobalRegistry(true),
		// Applied migrations are logged by Migrate itself.
		goose.WithSlog(s.log),
	}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.gooseDialect(), s.sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return p, nil
}

// latestVersion returns the highest version of p's migrations.
func latestVersion(p *goose.Provider) int64 {
	sources := p.ListSources() // sorted by version; never empty
	return sources[len(sources)-1].Version
}

func (s *Store) gooseDialect() goose.Dialect {
	if s.dialect == migrations.Postgres {
		return goose.DialectPostgres
	}
	return goose.DialectSQLite3
}

// versions returns goose's access to its version table.
func (s *Store) versions() database.Store {
	store, err := database.NewStore(s.gooseDialect(), versionTable)
	if err != nil {
		panic("sqlstore: goose has no store for " + s.dialect) // both are goose's own dialects
	}
	return store
}

// migrateLocker returns the PostgreSQL advisory lock of Migrate, keyed by
// the current schema: Latches sharing a schema take turns, Latches (and
// tests) in different schemas of one database do not wait for each other.
// A waiting process checks every second, for up to an hour, or until ctx
// ends.
func (s *Store) migrateLocker(ctx context.Context) (lock.SessionLocker, error) {
	var schema sql.NullString
	if err := s.sqlDB.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, mapErr("migrate: current schema", err)
	}
	h := fnv.New64a()
	h.Write([]byte("latch migrate " + schema.String))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 3600))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return locker, nil
}

// initVersionTable creates goose's version table unless it exists, and
// fills it in the same transaction: with version 0, as goose does, and with
// the versions in legacyTable, if any, so that goose does not run them
// again. It runs under locker (PostgreSQL) or in a transaction that holds
// the write lock from its start (SQLite), so that no other process's goose
// creates the table first and then finds the legacy versions missing.
func (s *Store) initVersionTable(ctx context.Context, locker lock.SessionLocker) (err error) {
	// Once the table is there, it stays: no need to wait for the lock.
	if ok, err := s.tableExists(ctx, s.sqlDB, versionTable); err != nil || ok {
		return err
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return mapErr("migrate: connect", err)
	}
	defer conn.Close()
	if locker != nil {
		if err := locker.SessionLock(ctx, conn); err != nil {
			return fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
		defer func() {
			if uerr := locker.SessionUnlock(context.WithoutCancel(ctx), conn); uerr != nil && err == nil {
				err = fmt.Errorf("sqlstore: migrate: unlock: %w", uerr)
			}
		}()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return mapErr("migrate: begin", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if ok, err := s.tableExists(ctx, tx, versionTable); err != nil || ok {
		return err
	}
	store := s.versions()
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return mapErr("migrate: create "+versionTable, err)
	}
	versions := []int64{0}
	if ok, err := s.tableExists(ctx, tx, legacyTable); err != nil {
		return err
	} else if ok {
		legacy, err := legacyVersions(ctx, tx)
		if err != nil {
			return err
		}
		versions = append(versions, legacy...)
	}
	for _, v := range versions {
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return mapErr("migrate: record version", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return mapErr("migrate: commit", err)
	}
	if len(versions) > 1 {
		s.log.InfoContext(ctx, "migration versions adopted from "+legacyTable, "versions", versions[1:])
	}
	return nil
}

// legacyVersions returns the versions recorded in legacyTable, in order.
func legacyVersions(ctx context.Context, q database.DBTxConn) ([]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT version FROM "+legacyTable+" ORDER BY version")
	if err != nil {
		return nil, mapErr("migrate: read "+legacyTable, err)
	}
	defer rows.Close()
	var versions []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, mapErr("migrate: read "+legacyTable, err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("migrate: read "+legacyTable, err)
	}
	return versions, nil
}

// schemaVersion returns the highest version applied to the database: from
// goose's table or, in a database that no goose has touched yet, from
// legacyTable; 0 when there is neither.
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	if ok, err := s.tableExists(ctx, s.sqlDB, versionTable); err != nil {
		return 0, err
	} else if ok {
		v, err := s.versions().GetLatestVersion(ctx, s.sqlDB)
		if errors.Is(err, database.ErrVersionNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, mapErr("migrate: read schema version", err)
		}
		return v, nil
	}
	if ok, err := s.tableExists(ctx, s.sqlDB, legacyTable); err != nil || !ok {
		return 0, err
	}
	versions, err := legacyVersions(ctx, s.sqlDB)
	if err != nil || len(versions) == 0 {
		return 0, err
	}
	return versions[len(versions)-1], nil
}

// tableExists reports whether the current schema has the table name. On
// PostgreSQL it asks as goose does, so the two agree.
func (s *Store) tableExists(ctx context.Context, q database.DBTxConn, name string) (bool, error) {
	query := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
	if s.dialect == migrations.Postgres {
		query = "SELECT COUNT(*) FROM pg_tables WHERE (current_schema() IS NULL OR schemaname = current_schema()) AND tablename = $1"
	}
	var n int
	if err := q.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, mapErr("migrate: look for table "+name, err)
	}
	return n > 0, nil
}
