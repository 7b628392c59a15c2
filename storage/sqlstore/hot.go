package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/latchhq/latch/migrations"
)

// The statements of the hot paths (a grant, a refresh, an introspection, a
// revocation) run on database/sql, or on pgx directly, rather than through
// GORM, whose reflection cost more than the statements themselves (SQLite,
// refresh at c=32: 1,242 -> 1,403 req/s, one run each). pgx caches prepared
// statements per connection. The SQLite driver parses every statement on
// every execution, prepared or not (its stmt.exec calls sqlite3_prepare_v2),
// so a cache of prepared statements would save nothing there.

// hotSQL holds the text of the hot statements in the store's dialect.
type hotSQL struct {
	getClient, tokenFamily, spendToken, touchFamily, revokeFamily string
	insertFamily, insertEvent                                     string
	// lookupClientToken is introspection's one query (PostgreSQL).
	lookupClientToken string
	// insertTokens[n-1] stores n tokens; grants store one to three.
	insertTokens [3]string
}

func newHotSQL(dialect string) hotSQL {
	p := placeholders(dialect)
	h := hotSQL{
		getClient:    `SELECT ` + clientColumns + ` FROM clients c WHERE c.id = ` + p(1),
		tokenFamily:  `SELECT ` + tokenFamilyColumns + ` FROM tokens t JOIN families f ON f.id = t.family_id WHERE t."key" = ` + p(1),
		spendToken:   `UPDATE tokens SET spent_at = ` + p(1) + `, replay = ` + p(2) + ` WHERE "key" = ` + p(3) + ` AND spent_at IS NULL`,
		touchFamily:  `UPDATE families SET last_used_at = ` + p(1) + ` WHERE id = ` + p(2),
		revokeFamily: `UPDATE families SET revoked_at = ` + p(1) + `, revoke_reason = ` + p(2) + ` WHERE id = ` + p(3) + ` AND revoked_at IS NULL`,
		// insertFamily is SQLite's: PostgreSQL's is built with the
		// family's tokens (CreateFamily).
		insertFamily: `INSERT INTO families (` + familyInsertColumns + `) SELECT ` + list(p, 1, 12) + `
	WHERE EXISTS (SELECT 1 FROM clients c WHERE c.id = ` + p(2) + ` AND c.generation = ` + p(3) + `)`,
		lookupClientToken: `SELECT ` + clientColumns + `, ` + tokenFamilyColumns + `
	FROM clients c LEFT JOIN tokens t ON t."key" = ` + p(2) + ` LEFT JOIN families f ON f.id = t.family_id
	WHERE c.id = ` + p(1),
		insertEvent: `INSERT INTO audit_events (` + eventInsertColumns + `)
	VALUES (` + list(p, 1, 8) + `) RETURNING id`,
	}
	for n := range h.insertTokens {
		h.insertTokens[n] = insertTokensSQL(p, n+1)
	}
	return h
}

// tokenColumnCount is the number of values insertTokensSQL binds per token,
// in the order tokenValues gives them.
const tokenColumnCount = 10

func insertTokensSQL(p func(int) string, n int) string {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = "(" + list(p, i*tokenColumnCount+1, tokenColumnCount) + ")"
	}
	return `INSERT INTO tokens (` + tokenInsertColumns + `) VALUES ` + strings.Join(rows, ", ")
}

// The columns an insert gives, in the order of familyValues and
// eventValues.
const (
	familyInsertColumns = `id, client_id, client_generation, user_id, username, scopes, audience, created_at, last_used_at, expires_at, revoked_at, revoke_reason`
	eventInsertColumns  = `type, family_id, client_id, user_id, reason, address, user_agent, created_at`
)

func familyValues(r *familyRow) []any {
	return []any{r.ID, r.ClientID, r.ClientGeneration, r.UserID, r.Username, r.Scopes, r.Audience, r.CreatedAt, r.LastUsedAt, r.ExpiresAt, r.RevokedAt, r.RevokeReason}
}

func eventValues(r *eventRow) []any {
	return []any{r.Type, r.FamilyID, r.ClientID, r.UserID, r.Reason, r.Address, r.UserAgent, r.CreatedAt}
}

const tokenInsertColumns = `"key", kind, family_id, client_id, scopes, issued_at, expires_at, parent_key, spent_at, replay`

func tokenValues(r *tokenRow) []any {
	return []any{r.Key, r.Kind, r.FamilyID, r.ClientID, r.Scopes, r.IssuedAt, r.ExpiresAt, r.ParentKey, r.SpentAt, r.Replay}
}

// placeholders returns the n-th bind parameter of the dialect ($n on
// PostgreSQL, ?n on SQLite), so a statement may use them in any order.
func placeholders(dialect string) func(int) string {
	if dialect == migrations.Postgres {
		return func(n int) string { return "$" + strconv.Itoa(n) }
	}
	return func(n int) string { return "?" + strconv.Itoa(n) }
}

// list is count placeholders from first on, comma-separated.
func list(p func(int) string, first, count int) string {
	ps := make([]string, count)
	for i := range ps {
		ps[i] = p(first + i)
	}
	return strings.Join(ps, ", ")
}

// row is the one row of a query: *sql.Row or pgx.Row.
type row interface{ Scan(dest ...any) error }

// queryRow runs a hot query in ctx's transaction, if any: a statement made
// with such a context must run in it, never on the pool beside it. Outside
// one, on PostgreSQL, it runs on pgx directly: database/sql's conversion of
// each column was 40% of introspection's allocations. On SQLite it runs on
// the writer; a read outside a transaction uses readRow (readers.go).
func (s *Store) queryRow(ctx context.Context, q string, args ...any) row {
	if tx, ok := s.txOf(ctx); ok {
		return tx.Statement.ConnPool.QueryRowContext(ctx, q, args...)
	}
	if s.pool != nil {
		return s.pool.QueryRow(ctx, q, args...)
	}
	return s.sqlDB.QueryRowContext(ctx, q, args...)
}

// exec runs a hot statement like queryRow and returns the number of rows
// it affected.
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if tx, ok := s.txOf(ctx); ok {
		return rowsAffected(tx.Statement.ConnPool.ExecContext(ctx, q, args...))
	}
	if s.pool != nil {
		tag, err := s.pool.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}
	return rowsAffected(s.sqlDB.ExecContext(ctx, q, args...))
}

// rowsAffected is the row count of a statement's result, or its error.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
