package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// The rule for GORM: a statement that runs on every grant, refresh,
// introspection or revocation goes straight to database/sql or pgx
// (queryRow and exec below): GetClient, CreateFamily, CreateToken,
// GetTokenFamily, LockTokenFamily, LookupClientToken, SpendToken,
// TouchFamily, RevokeFamily, Rotate, RevokeByToken and AppendEvent.
// Everything else goes through GORM (s.conn), with the row structs of
// rows.go as models. GORM's reflection cost more than the hot statements
// themselves (SQLite, refresh at c=32: 1,242 -> 1,403
// req/s, one run each). pgx caches prepared statements per connection. The
// SQLite driver parses every statement on every execution, prepared or not
// (its stmt.exec calls sqlite3_prepare_v2), so a cache of prepared
// statements would save nothing there. The hot statements take their
// column lists, values and scan destinations from the tables of rows.go
// (columns.go), so that they and GORM read one description of a table.

// hotSQL holds the text of the hot statements in the store's dialect.
type hotSQL struct {
	getClient, tokenFamily, spendToken, touchFamily, revokeFamily string
	// stepFamily is a rotation's touch of the family on SQLite: its last
	// use and its step.
	stepFamily                string
	insertFamily, insertEvent string
	// familyHasClient is the condition of a family's insert, over its
	// values' placeholders, that its client exists with its generation.
	familyHasClient string
	// lookupClientToken is introspection's one query (PostgreSQL).
	lookupClientToken string
	// insertTokens[n-1] stores n tokens; grants store one to three.
	insertTokens [3]string
}

// tokenFamilyColumns reads a token and its family in one row, in the order
// tokenFamilyDests scans it.
var tokenFamilyColumns = tokenTable.selects + ", " + familyTable.selects

func newHotSQL(dialect string) hotSQL {
	p := placeholders(dialect)
	hasClient := `c.id = ` + p(familyTable.insertPosition("client_id")) + ` AND c.generation = ` + p(familyTable.insertPosition("client_generation"))
	h := hotSQL{
		getClient:       `SELECT ` + clientTable.selects + ` FROM clients c WHERE c.id = ` + p(1),
		tokenFamily:     `SELECT ` + tokenFamilyColumns + ` FROM tokens t JOIN families f ON f.id = t.family_id WHERE t."key" = ` + p(1),
		spendToken:      `UPDATE tokens SET spent_at = ` + p(1) + `, replay = ` + p(2) + ` WHERE "key" = ` + p(3) + ` AND spent_at IS NULL`,
		touchFamily:     `UPDATE families SET last_used_at = ` + p(1) + ` WHERE id = ` + p(2),
		stepFamily:      `UPDATE families SET last_used_at = ` + p(1) + `, ` + stepSet(p, 2) + ` WHERE id = ` + p(6),
		revokeFamily:    `UPDATE families SET revoked_at = ` + p(1) + `, revoke_reason = ` + p(2) + ` WHERE id = ` + p(3) + ` AND revoked_at IS NULL`,
		familyHasClient: hasClient,
		// insertFamily is SQLite's: PostgreSQL's is built with the
		// family's tokens (CreateFamily).
		insertFamily: `INSERT INTO families (` + familyTable.inserts + `) SELECT ` + list(p, 1, len(familyTable.insert)) + `
	WHERE EXISTS (SELECT 1 FROM clients c WHERE ` + hasClient + `)`,
		lookupClientToken: `SELECT ` + clientTable.selects + `, ` + tokenFamilyColumns + `
	FROM clients c LEFT JOIN tokens t ON t."key" = ` + p(2) + ` LEFT JOIN families f ON f.id = t.family_id
	WHERE c.id = ` + p(1),
		insertEvent: `INSERT INTO audit_events (` + eventTable.inserts + `)
	VALUES (` + list(p, 1, len(eventTable.insert)) + `) RETURNING id`,
	}
	for n := range h.insertTokens {
		h.insertTokens[n] = insertTokensSQL(p, n+1)
	}
	return h
}

// stepSet assigns a family's step (storage.Step) from four placeholders
// from first on, in the order of stepValues.
func stepSet(p func(int) string, first int) string {
	return `step_address = ` + p(first) + `, step_user_agent = ` + p(first+1) +
		`, burst_start = ` + p(first+2) + `, burst_count = ` + p(first+3)
}

// stepValues are the bound values of stepSet.
func stepValues(st storage.Step) []any {
	return []any{st.Address, st.UserAgent, nullTS(st.BurstStart), st.BurstCount}
}

func insertTokensSQL(p func(int) string, n int) string {
	rows := make([]string, n)
	width := len(tokenTable.insert)
	for i := range rows {
		rows[i] = "(" + list(p, i*width+1, width) + ")"
	}
	return `INSERT INTO tokens (` + tokenTable.inserts + `) VALUES ` + strings.Join(rows, ", ")
}

// tokenFamilyDests is where a row of tokenFamilyColumns scans to, with
// room for extra destinations after it.
func tokenFamilyDests(t *tokenRow, f *familyRow, extra int) []any {
	dests := make([]any, 0, len(tokenTable.columns)+len(familyTable.columns)+extra)
	return familyTable.appendDests(tokenTable.appendDests(dests, t), f)
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
