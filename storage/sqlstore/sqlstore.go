// Package sqlstore implements [storage.Store] with GORM on PostgreSQL
// (gorm.io/driver/postgres, pgx) and on pure-Go SQLite (github.com/glebarez/sqlite).
//
// It owns connecting, the connection pool, transactions (carried in the
// context), applying the embedded schema from package migrations, and turning
// database errors into the sentinel errors of package storage. What a stored
// row means (expiry, revocation, rotation) is left to package oauth.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

var _ storage.Store = (*Store)(nil)

// slowStatement is the duration past which a statement is logged as slow.
const slowStatement = 200 * time.Millisecond

// Options configure [Open].
type Options struct {
	// Logger receives GORM's warnings (slow queries, errors) with bound
	// values left out, and the migrations that [Store.Migrate] applies.
	// Nil discards them.
	Logger *slog.Logger
}

// Store is a [storage.Store] on PostgreSQL or SQLite. It is safe for
// concurrent use.
type Store struct {
	db    *gorm.DB
	sqlDB *sql.DB
	// readers serve reads outside a transaction (readers.go).
	readers readers
	// pool is PostgreSQL's connection pool, under sqlDB (nil on SQLite).
	pool    *pgxpool.Pool
	dialect string
	hot     hotSQL
	log     *slog.Logger
	// migrationFiles replaces the embedded files of package migrations in
	// tests; nil in Latch.
	migrationFiles fs.FS
}

// Open connects to databaseURL, which is either sqlite:PATH or a
// postgres:// (postgresql://) URL, and checks that the database answers. It
// neither reads nor changes the schema: call [Store.Migrate] to bring it to
// this binary's version, or [Store.CheckSchema] to check that it is.
//
// An unreachable database gives an error that wraps [storage.ErrUnavailable].
// Error messages never contain the URL's passwords (user info, password
// and sslpassword parameters).
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	cfg := &gorm.Config{
		TranslateError: true,
		Logger:         newQuietLogger(l),
		// We ping ourselves below, with the caller's context.
		DisableAutomaticPing: true,
	}

	var (
		dialector gorm.Dialector
		dialect   string
		pool      *pgxpool.Pool
		path      string // SQLite's
	)
	switch {
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("sqlstore: open: sqlite: URL has no path")
		}
		dialect = migrations.SQLite
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("sqlstore: open %s: %w: %w", dialect, storage.ErrUnavailable, err)
		}
		dialector = sqlite.Open(sqliteDSN(path))
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		if _, err := url.Parse(databaseURL); err != nil {
			// url.Parse quotes the whole URL, password included.
			return nil, errors.New("sqlstore: open: malformed postgres URL")
		}
		dialect = migrations.Postgres
		var err error
		if pool, err = openPool(databaseURL); err != nil {
			return nil, fmt.Errorf("sqlstore: open %s: %w", dialect, redact(err, databaseURL))
		}
		// GORM works through database/sql on the same pool; the hot
		// statements use the pool directly (hot.go).
		dialector = postgres.New(postgres.Config{Conn: stdlib.OpenDBFromPool(pool)})
	default:
		scheme, _, _ := strings.Cut(databaseURL, ":")
		if len(scheme) > 20 || strings.ContainsAny(scheme, "/@") {
			scheme = "?"
		}
		return nil, fmt.Errorf("sqlstore: open: unsupported database URL scheme %q (want sqlite: or postgres://)", scheme)
	}

	// No PrepareStmt: on SQLite's one connection, a statement being
	// prepared outside a transaction waits for the connection while the
	// transaction waits for that statement (a deadlock seen in tests); and
	// pgx caches PostgreSQL statements itself.
	db, err := gorm.Open(dialector, cfg)
	for wait := 10 * time.Millisecond; err != nil && dialect == migrations.SQLite && isConflict(err) && wait < 5*time.Second; wait *= 2 {
		// Two processes opening one new file race to switch it to WAL,
		// and the loser gets SQLITE_BUSY without the busy timeout being
		// applied; the switch is done once the winner has it. (gorm.Open
		// closed the failed connection.)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sqlstore: open %s: %w: %w", dialect, storage.ErrUnavailable, ctx.Err())
		case <-time.After(wait):
		}
		db, err = gorm.Open(dialector, cfg)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		if dialect == migrations.SQLite {
			// The SQLite dialector opens the file here.
			return nil, fmt.Errorf("sqlstore: open %s: %w: %w", dialect, storage.ErrUnavailable, err)
		}
		// The PostgreSQL dialector only parses the URL here.
		return nil, fmt.Errorf("sqlstore: open %s: %w", dialect, redact(err, databaseURL))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", dialect, redact(err, databaseURL))
	}
	if dialect == migrations.SQLite {
		// One writer connection: SQLite has one writer anyway, and a single
		// connection gave the best tail latency in our measurements. It also
		// serializes transactions, which LockFamily relies on. Reads outside
		// a transaction go to readers beside it (readers.go).
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
	}
	s := &Store{db: db, sqlDB: sqlDB, pool: pool, dialect: dialect, hot: newHotSQL(dialect), log: l}
	if err := sqlDB.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlstore: open %s: cannot reach database: %w: %w", dialect, storage.ErrUnavailable, redact(err, databaseURL))
	}
	s.readers = readers{db: db, sqlDB: sqlDB}
	if dialect == migrations.SQLite {
		if err := s.openReaders(ctx, path, cfg); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlstore: open %s: readers: %w: %w", dialect, storage.ErrUnavailable, err)
		}
	}
	return s, nil
}

// openPool makes the PostgreSQL connection pool; it connects lazily.
func openPool(databaseURL string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	// Our defaults, unless the URL sets pgxpool's own parameters. Old
	// connections are recycled so that none outlives a database restart or
	// a failover for long.
	if !strings.Contains(databaseURL, "pool_max_conns=") {
		cfg.MaxConns = 16
	}
	if !strings.Contains(databaseURL, "pool_max_conn_idle_time=") {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	if !strings.Contains(databaseURL, "pool_max_conn_lifetime=") {
		cfg.MaxConnLifetime = 30 * time.Minute
	}
	// A server that takes the connection and then says nothing (frozen,
	// overloaded, behind a black hole) would otherwise keep a request, and
	// a pool slot, until the client gives up; requests answer 503 instead.
	if !strings.Contains(databaseURL, "connect_timeout=") {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// A server that shuts down (a restart, a failover) ends every
	// connection with 57P01 or 57P02, and each idle one would fail the next
	// request it is handed: up to 16 failed requests per node once the
	// server is back. The first such error empties the pool instead, so
	// that the next requests connect anew.
	var created atomic.Pointer[pgxpool.Pool]
	onError := cfg.ConnConfig.OnPgError
	cfg.ConnConfig.OnPgError = func(c *pgconn.PgConn, err *pgconn.PgError) bool {
		if p := created.Load(); p != nil && (err.Code == "57P01" || err.Code == "57P02") {
			p.Reset()
		}
		return onError == nil || onError(c, err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	created.Store(pool)
	return pool, err
}

// createPrivate creates the SQLite file of path, when it does not exist,
// readable and writable by its owner only (0600): the database holds
// password hashes, client secret hashes and the audit trail, and SQLite
// would create it 0644 under the usual umask. SQLite gives the -wal and
// -shm files it makes beside it the main file's permissions. An existing
// file keeps the mode its operator chose. In-memory databases, file: URIs
// and read-only opens are left to SQLite.
func createPrivate(path string) error {
	file, query, _ := strings.Cut(path, "?")
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") || strings.Contains(query, "mode=") {
		return nil
	}
	f, err := os.OpenFile(file, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// sqliteDSN adds our connection settings to path: WAL so that readers do not
// wait for the writer, a busy timeout, foreign keys on, and BEGIN IMMEDIATE so
// that a transaction takes the write lock when it starts rather than failing
// with SQLITE_BUSY when it first writes.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Ping reports whether the database answers. The error wraps
// [storage.ErrUnavailable] when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w: %w", storage.ErrUnavailable, err)
	}
	return nil
}

// Close releases the database.
func (s *Store) Close() error {
	err := errors.Join(s.sqlDB.Close(), s.closeReaders())
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

// txKey is the context key of a transaction of store s.
type txKey struct{ s *Store }

// conn returns the handle of writes and locking reads: the transaction
// carried by ctx, if any, else the pool (on SQLite, the writer). Other reads
// use read (readers.go).
func (s *Store) conn(ctx context.Context) *gorm.DB {
	if tx, ok := s.txOf(ctx); ok {
		return tx.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}

// txOf returns the transaction of s that ctx carries, if any.
func (s *Store) txOf(ctx context.Context) (*gorm.DB, bool) {
	tx, ok := ctx.Value(txKey{s}).(*gorm.DB)
	return tx, ok
}

// InTx runs fn in a transaction carried by the context given to fn. A nested
// InTx joins the outer transaction. fn's error (or panic) rolls back, and
// fn's error is returned as is. A failing begin or commit gives an error that
// wraps [storage.ErrConflict] or [storage.ErrUnavailable].
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := s.txOf(ctx); ok {
		return fn(ctx)
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return mapErr("begin transaction", tx.Error)
	}
	done := false
	rollback := func() {
		if !done {
			done = true
			// The error is of no use: the transaction is over either way
			// (an aborted connection is discarded by the pool).
			_ = tx.Rollback().Error
		}
	}
	defer rollback() // also on panic
	if err := fn(context.WithValue(ctx, txKey{s}, tx)); err != nil {
		rollback()
		return err
	}
	done = true
	if err := tx.Commit().Error; err != nil {
		return mapErr("commit", err)
	}
	return nil
}

// mapErr is the one place database errors become storage errors. op names
// the operation and may carry ids, never secrets; the cause is kept (wrapped)
// except for not-found and duplicates, whose causes can quote values.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey), isDuplicate(err):
		return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrAlreadyExists)
	case isConflict(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrConflict, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller's context ended: its decision, not an outage.
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", op, storage.ErrUnavailable, err)
}

// holdable reports whether every key is text a row can hold: UTF-8 without
// NUL bytes, as PostgreSQL's text type requires. Keys from requests (client
// ids, usernames, ids in admin paths) may be anything, and a statement
// naming text PostgreSQL cannot hold fails, aborting the transaction it is
// in. No row holds such text, so the store answers without asking: nothing
// by that name, on SQLite and PostgreSQL alike.
func holdable(keys ...string) bool {
	for _, k := range keys {
		if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
			return false
		}
	}
	return true
}

// noSuch is the ErrNotFound of op, for a key no row can hold.
func noSuch(op string) error {
	return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
}

// isDuplicate reports a unique violation in an error that did not pass
// through GORM's translation (statements run on the connection directly).
func isDuplicate(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// isConflict reports a serialization failure or deadlock (PostgreSQL) or a
// locked database (SQLite): the transaction may succeed if tried again.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code() & 0xff // primary result code
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}
