package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
)

// On SQLite every write, and every statement of a transaction, runs on the
// one writer connection (see Open). Reads outside a transaction run on a
// pool of read-only connections beside it: in WAL mode a reader works on the
// last committed state while the writer writes, so introspection and client
// lookups need not queue behind a refresh's transaction or behind each
// other. With every read on the writer, SQLite left 25–40% of the CPU idle
// under load (DESIGN.md, "Costs on the hot path").
//
// Each statement on a reader is its own read transaction, which sees every
// transaction committed before it started: a read after a write that
// returned sees that write, as on PostgreSQL at READ COMMITTED. A read
// inside a transaction stays on the transaction's connection, and so do the
// locking reads (LockFamily, LockTokenFamily, LockUser) anywhere.
//
// On PostgreSQL the readers are the pool itself.

// readerConns is the size of SQLite's reader pool. A read is CPU work in
// this process (the pages are in the OS cache, mostly), so a few
// connections per CPU keep every CPU busy; more would only queue inside
// SQLite.
func readerConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// readers is the handle of the reads outside a transaction.
type readers struct {
	db    *gorm.DB
	sqlDB *sql.DB
}

// openReaders replaces s's readers, the writer until then, with a pool of
// read-only connections to the SQLite file at path, the path Open was given.
// It leaves the writer as the reader when there is no file to share (an
// in-memory database, private to each connection) or when the file is not in
// WAL mode (a reader would then wait for the writer anyway, or fail with
// SQLITE_BUSY).
func (s *Store) openReaders(ctx context.Context, path string, cfg *gorm.Config) error {
	if path == ":memory:" || strings.Contains(path, "mode=memory") {
		return nil
	}
	var mode string
	if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil
	}
	db, err := gorm.Open(sqlite.Open(sqliteReaderDSN(path)), cfg)
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	n := readerConns()
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	s.readers = readers{db: db, sqlDB: sqlDB}
	return nil
}

// sqliteReaderDSN is sqliteDSN for a reader: query_only, so that a write
// routed here by mistake fails rather than competing with the writer, and
// no journal_mode, which the writer has set in the file. (mode=ro would
// need a file: URI, and a read-only connection cannot create the WAL index
// should the writer have none yet.)
func sqliteReaderDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
}

// closeReaders closes the reader pool, if it is not the writer.
func (s *Store) closeReaders() error {
	if s.readers.sqlDB == nil || s.readers.sqlDB == s.sqlDB {
		return nil
	}
	return s.readers.sqlDB.Close()
}

// read returns the handle of a GORM read: the transaction carried by ctx, if
// any, else a reader.
func (s *Store) read(ctx context.Context) *gorm.DB {
	if tx, ok := s.txOf(ctx); ok {
		return tx.WithContext(ctx)
	}
	return s.readers.db.WithContext(ctx)
}

// readRow is queryRow for a hot read: in ctx's transaction, if any, else on
// pgx (PostgreSQL) or a reader (SQLite).
func (s *Store) readRow(ctx context.Context, q string, args ...any) row {
	if _, ok := s.txOf(ctx); ok || s.pool != nil {
		return s.queryRow(ctx, q, args...)
	}
	return s.readers.sqlDB.QueryRowContext(ctx, q, args...)
}
