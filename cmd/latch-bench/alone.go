package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite", as sqlstore's
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/latchhq/latch/storage/sqlstore"
)

// The "alone" measurements (--alone URL) time the database without Latch:
// the statements Latch's server runs for each endpoint, at the same
// concurrency and for the same duration, on a scratch database of the same
// schema with --rows logins in it. They are the ceiling each endpoint is
// held against (issue 16; --ratios prints the comparison). On PostgreSQL
// pgbench runs them (pgbench.go); on SQLite this process does, through
// database/sql with the driver and pragmas of sqlstore: one writer
// connection for the writes, a pool of query-only readers for the reads.
//
// What each stands for:
//
//	refresh             the rotation transaction: the locked read of the
//	                    token with its family, then the spend, the touch,
//	                    two new tokens and the audit event (on PostgreSQL
//	                    Rotate's one statement, on SQLite its four)
//	client_credentials  the insert of a family with its access token
//	introspect          the read of the client and of the token with its
//	                    family (one join on PostgreSQL, two reads on SQLite)
//	revoke              the primary-key update that ends a family
var aloneScenarios = []string{"refresh", "client_credentials", "introspect", "revoke"}

// aloneClient is the one client of the scratch database, and
// aloneGeneration its generation, which a new family must name.
const (
	aloneClient     = "bench-client"
	aloneGeneration = "bench-generation"
)

// The keys of the scratch database, 43 characters as Latch's (Base64 of a
// SHA-256). The PostgreSQL scripts build the same keys in SQL.
func seededFamily(i int) string { return fmt.Sprintf("f%042d", i) }
func seededAccess(i int) string { return fmt.Sprintf("a%042d", i) }
func chainFamily(w int) string  { return fmt.Sprintf("g%042d", w) }

// chainKey is the k-th refresh token of worker w's login, and chainAccess
// the access token issued with it; newKey is the k-th key of kind c (family
// or token) that worker w inserts.
func chainKey(w, k int) string       { return fmt.Sprintf("r%08d%034d", w, k) }
func chainAccess(w, k int) string    { return fmt.Sprintf("x%08d%034d", w, k) }
func newKey(c byte, w, k int) string { return fmt.Sprintf("%c%08d%034d", c, w, k) }
func aloneDialect(url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return "sqlite"
	}
	return "postgres"
}

// replayBytes stands for the sealed response a rotation stores for the
// refresh grace window (about 200 bytes with Latch's tokens).
var replayBytes = []byte(strings.Repeat("r", 200))

// aloneSQL holds the statements in one dialect's placeholders.
type aloneSQL struct {
	getClient, tokenFamily, spend, touch, revoke          string
	insertFamily, insertToken, insertTokens2, insertEvent string
}

const (
	aloneTokenFamilyColumns = `t."key", t.kind, t.family_id, t.client_id, t.scopes, t.issued_at, t.expires_at, t.spent_at, t.parent_key, t.replay,
	f.id, f.client_id, f.user_id, f.username, f.scopes, f.audience, f.created_at, f.last_used_at, f.expires_at, f.revoked_at, f.revoke_reason`
	aloneClientColumns = `c.id, c.name, c.secret_hash, c.grant_types, c.scopes, c.auth_method, c.can_introspect, c.audience, c.created_at`
	aloneFamilyInsert  = `INSERT INTO families (id, client_id, client_generation, user_id, username, scopes, audience, created_at, last_used_at, expires_at, revoked_at, revoke_reason)`
	aloneTokenInsert   = `INSERT INTO tokens ("key", kind, family_id, client_id, scopes, issued_at, expires_at, parent_key, spent_at, replay)`
	aloneEventInsert   = `INSERT INTO audit_events (type, family_id, client_id, user_id, reason, address, user_agent, created_at)`
)

func newAloneSQL(p func(int) string) aloneSQL {
	list := func(first, n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = p(first + i)
		}
		return "(" + strings.Join(ps, ", ") + ")"
	}
	return aloneSQL{
		getClient:   `SELECT ` + aloneClientColumns + ` FROM clients c WHERE c.id = ` + p(1),
		tokenFamily: `SELECT ` + aloneTokenFamilyColumns + ` FROM tokens t JOIN families f ON f.id = t.family_id WHERE t."key" = ` + p(1),
		spend:       `UPDATE tokens SET spent_at = ` + p(1) + `, replay = ` + p(2) + ` WHERE "key" = ` + p(3) + ` AND spent_at IS NULL`,
		touch:       `UPDATE families SET last_used_at = ` + p(1) + ` WHERE id = ` + p(2),
		revoke:      `UPDATE families SET revoked_at = ` + p(1) + `, revoke_reason = ` + p(2) + ` WHERE id = ` + p(3) + ` AND revoked_at IS NULL`,
		// A family is stored only while its client, of that generation,
		// exists (sqlstore's CreateFamily on SQLite).
		insertFamily: aloneFamilyInsert + ` SELECT ` + strings.Trim(list(1, 12), "()") +
			` WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = ` + p(2) + ` AND c.generation = ` + p(3) + `)`,
		insertToken:   aloneTokenInsert + ` VALUES ` + list(1, 10),
		insertTokens2: aloneTokenInsert + ` VALUES ` + list(1, 10) + `, ` + list(11, 10),
		insertEvent:   aloneEventInsert + ` VALUES ` + list(1, 8) + ` RETURNING id`,
	}
}

func familyArgs(id string, now time.Time) []any {
	return []any{id, aloneClient, aloneGeneration, "", "", "read write", "https://api.example", now, now, now.Add(24 * time.Hour), nil, ""}
}

func tokenArgs(key, kind, family, parent string, now time.Time) []any {
	return []any{key, kind, family, aloneClient, "read write", now, now.Add(time.Hour), parent, nil, nil}
}

// runAlone prepares the scratch database at url and runs every alone
// scenario on it.
func runAlone(ctx context.Context, cfg *config, stderr io.Writer) (report, error) {
	rep := report{URL: aloneDialect(cfg.alone) + " alone", Concurrency: cfg.concurrency, DurationSeconds: cfg.duration.Seconds()}
	if err := createSchema(ctx, cfg.alone); err != nil {
		return rep, err
	}
	dialect := aloneDialect(cfg.alone)
	fmt.Fprintf(stderr, "latch-bench: alone: %s: seeding %d logins\n", dialect, cfg.rows)
	if dialect == "postgres" {
		db, err := sql.Open("pgx", cfg.alone)
		if err != nil {
			return rep, errors.New("latch-bench: alone: cannot open the PostgreSQL database")
		}
		defer db.Close()
		if err := seed(ctx, db, dialect, cfg.rows, cfg.concurrency); err != nil {
			return rep, err
		}
		for _, name := range aloneScenarios {
			if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
				return rep, fmt.Errorf("latch-bench: alone: vacuum: %w", err)
			}
			if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
				return rep, fmt.Errorf("latch-bench: alone: checkpoint: %w", err)
			}
			res, err := runPgbench(ctx, cfg, name, stderr)
			if err != nil {
				return rep, err
			}
			rep.Results = append(rep.Results, res)
		}
		return rep, nil
	}

	s, err := openSQLiteAlone(strings.TrimPrefix(cfg.alone, "sqlite:"))
	if err != nil {
		return rep, err
	}
	defer s.close()
	if err := seed(ctx, s.writer, dialect, cfg.rows, cfg.concurrency); err != nil {
		return rep, err
	}
	for _, name := range aloneScenarios {
		if _, err := s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return rep, fmt.Errorf("latch-bench: alone: checkpoint: %w", err)
		}
		rep.Results = append(rep.Results, s.run(ctx, cfg, name, stderr))
	}
	return rep, nil
}

// createSchema applies Latch's own migrations to the scratch database.
func createSchema(ctx context.Context, url string) error {
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	if err != nil {
		return fmt.Errorf("latch-bench: alone: %w", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("latch-bench: alone: %w", err)
	}
	return nil
}

// seed fills the scratch database: the client, rows families each with an
// access token (introspect reads them at random, revoke ends them one by
// one), and one refresh token per worker to start its chain of rotations.
// Each table takes one INSERT ... SELECT over a series of numbers.
func seed(ctx context.Context, db *sql.DB, dialect string, rows, workers int) error {
	series, key := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) `, func(c string) string {
		return `'` + c + `' || printf('%042d', i)`
	}
	from, p := ` FROM n`, func(n int) string { return fmt.Sprintf("?%d", n) }
	if dialect == "postgres" {
		series, key = ``, func(c string) string { return `'` + c + `' || lpad(i::text, 42, '0')` }
		from, p = ` FROM generate_series(1, $1::int) AS i`, func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	now := time.Now().UTC()
	later, soon := now.Add(24*time.Hour), now.Add(time.Hour)
	steps := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO clients (id, name, secret_hash, grant_types, scopes, auth_method, can_introspect, audience, created_at, generation)
		VALUES (` + p(1) + `, 'bench', 'sha256$c2VjcmV0', 'client_credentials refresh_token password', 'read write', 'client_secret_basic', TRUE, 'https://api.example', ` + p(2) + `, ` + p(3) + `)`,
			[]any{aloneClient, now, aloneGeneration}},
		{series + aloneFamilyInsert + ` SELECT ` + key("f") + `, ` + p(2) + `, ` + p(5) + `, '', '', 'read write', 'https://api.example', ` + p(3) + `, ` + p(3) + `, ` + p(4) + `, NULL, ''` + from,
			[]any{rows, aloneClient, now, later, aloneGeneration}},
		{series + aloneTokenInsert + ` SELECT ` + key("a") + `, 'access', ` + key("f") + `, ` + p(2) + `, 'read write', ` + p(3) + `, ` + p(4) + `, '', NULL, NULL` + from,
			[]any{rows, aloneClient, now, soon}},
	}
	for _, s := range steps {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return fmt.Errorf("latch-bench: alone: seed: %w", err)
		}
	}
	st := newAloneSQL(p)
	for w := range workers {
		if _, err := db.ExecContext(ctx, st.insertFamily, familyArgs(chainFamily(w), now)...); err != nil {
			return fmt.Errorf("latch-bench: alone: seed: %w", err)
		}
		if _, err := db.ExecContext(ctx, st.insertToken, tokenArgs(chainKey(w, 0), "refresh", chainFamily(w), "", now)...); err != nil {
			return fmt.Errorf("latch-bench: alone: seed: %w", err)
		}
	}
	return nil
}

// sqliteAlone is the SQLite scratch database, opened as sqlstore opens it.
type sqliteAlone struct {
	writer, readers *sql.DB
	st              aloneSQL
}

// openSQLiteAlone opens path with sqlstore's settings: a writer
// (sqliteDSN) and query-only readers (sqliteReaderDSN), each pool sized as
// there.
func openSQLiteAlone(path string) (*sqliteAlone, error) {
	w, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("latch-bench: alone: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	r, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("latch-bench: alone: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &sqliteAlone{writer: w, readers: r, st: newAloneSQL(func(n int) string { return fmt.Sprintf("?%d", n) })}, nil
}

func (s *sqliteAlone) close() {
	s.readers.Close()
	s.writer.Close()
}

// run times one scenario in a closed loop at cfg.concurrency.
func (s *sqliteAlone) run(ctx context.Context, cfg *config, name string, stderr io.Writer) result {
	workers := make([]samples, cfg.concurrency)
	var count, nextFamily atomic.Int64
	var wrapped atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(cfg.duration)
	prog := startProgress(isTerminal(stderr), stderr, "alone "+name, &count, cfg.duration, 0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			st := &workers[w]
			for k := 1; ctx.Err() == nil && time.Now().Before(deadline); k++ {
				var err error
				t0 := time.Now()
				switch name {
				case "refresh":
					err = s.rotate(ctx, w, k)
				case "client_credentials":
					err = s.insert(ctx, w, k)
				case "introspect":
					err = s.introspect(ctx, seededAccess(1+rand.IntN(cfg.rows)))
				case "revoke":
					i := nextFamily.Add(1)
					if i > int64(cfg.rows) {
						wrapped.Store(true)
						i = 1 + (i-1)%int64(cfg.rows)
					}
					_, err = s.writer.ExecContext(ctx, s.st.revoke, time.Now().UTC(), "revoked", seededFamily(int(i)))
				}
				if ctx.Err() != nil {
					return // interrupted: neither a sample nor an error
				}
				st.lat = append(st.lat, time.Since(t0))
				if err != nil {
					st.fail(errKey{code: shortDBError(err)})
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	prog.done()
	parts := make([]*samples, len(workers))
	for i := range workers {
		parts[i] = &workers[i]
	}
	res := summarize(name, elapsed, parts)
	res.Concurrency = cfg.concurrency
	if wrapped.Load() {
		res.Note = fmt.Sprintf("revoke went past the %d seeded families and updated some twice (no-ops); raise --rows", cfg.rows)
	}
	return res
}

// rotate is worker w's k-th refresh: its chain's token k-1 is spent, k
// issued.
func (s *sqliteAlone) rotate(ctx context.Context, w, k int) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now, fam := time.Now().UTC(), chainFamily(w)
	if err := scanTokenFamily(tx.QueryRowContext(ctx, s.st.tokenFamily, chainKey(w, k-1))); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.st.spend, now, replayBytes, chainKey(w, k-1)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.st.touch, now, fam); err != nil {
		return err
	}
	args := append(tokenArgs(chainAccess(w, k), "access", fam, "", now), tokenArgs(chainKey(w, k), "refresh", fam, chainKey(w, k-1), now)...)
	if _, err := tx.ExecContext(ctx, s.st.insertTokens2, args...); err != nil {
		return err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, s.st.insertEvent, "refreshed", fam, aloneClient, "", "", "127.0.0.1", "latch-bench", now).Scan(&id); err != nil {
		return err
	}
	return tx.Commit()
}

// insert is a client_credentials grant's write: a family and its token.
func (s *sqliteAlone) insert(ctx context.Context, w, k int) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now, fam := time.Now().UTC(), newKey('c', w, k)
	if _, err := tx.ExecContext(ctx, s.st.insertFamily, familyArgs(fam, now)...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.st.insertToken, tokenArgs(newKey('t', w, k), "access", fam, "", now)...); err != nil {
		return err
	}
	return tx.Commit()
}

// introspect reads the client and the token with its family, on readers.
func (s *sqliteAlone) introspect(ctx context.Context, key string) error {
	var v [9]any
	if err := s.readers.QueryRowContext(ctx, s.st.getClient, aloneClient).Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
		return err
	}
	return scanTokenFamily(s.readers.QueryRowContext(ctx, s.st.tokenFamily, key))
}

func scanTokenFamily(r *sql.Row) error {
	var v [21]any
	dest := make([]any, len(v))
	for i := range v {
		dest[i] = &v[i]
	}
	return r.Scan(dest...)
}

// shortDBError classifies a failed statement for the error column.
func shortDBError(err error) string {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "db: no rows"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "db: canceled"
	}
	msg := err.Error()
	if len(msg) > 40 {
		msg = msg[:40]
	}
	return "db: " + msg
}
