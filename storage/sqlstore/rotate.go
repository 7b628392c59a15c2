package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// Rotate writes a refresh's rotation. On PostgreSQL it is one statement —
// the spend, the family's last use, the new tokens and the audit event as
// data-modifying CTEs, each conditioned on the spend — because each round
// trip to the database was the largest cost of a refresh under load. On
// SQLite, where a statement is a function call, it is four statements.
func (s *Store) Rotate(ctx context.Context, r storage.Rotation) error {
	if s.dialect != migrations.Postgres {
		return s.InTx(ctx, func(ctx context.Context) error {
			if err := s.SpendToken(ctx, r.SpentKey, r.SpentAt, r.Replay); err != nil {
				return err
			}
			n, err := s.exec(ctx, s.hot.stepFamily, append([]any{ts(r.SpentAt)}, append(stepValues(r.Step), r.FamilyID)...)...)
			if err := affectedOne(fmt.Sprintf("touch family %q", r.FamilyID), n, err); err != nil {
				return err
			}
			if err := s.CreateToken(ctx, r.Issued...); err != nil {
				return err
			}
			return s.AppendEvent(ctx, r.Event)
		})
	}

	a := pgArgs{ts(r.SpentAt), nullBytesOf(r.Replay), r.SpentKey, r.FamilyID}
	for _, v := range stepValues(r.Step) {
		a.add(v)
	}
	issuedCTE := `SELECT 1 WHERE false`
	if len(r.Issued) > 0 {
		issuedCTE = insertTokens(&a, r.Issued, `WHERE EXISTS (SELECT 1 FROM spent)`) + ` RETURNING 1`
	}
	eventList := pgRow(&a, eventTable.insert, toEventRow(r.Event))
	q := `WITH spent AS (
	UPDATE tokens SET spent_at = $1, replay = $2 WHERE "key" = $3 AND spent_at IS NULL RETURNING 1
), touched AS (
	UPDATE families SET last_used_at = $1, ` + stepSet(placeholders(migrations.Postgres), 5) + `
	WHERE id = $4 AND EXISTS (SELECT 1 FROM spent) RETURNING 1
), issued AS (
	` + issuedCTE + `
), event AS (
	INSERT INTO audit_events (` + eventTable.inserts + `)
	SELECT ` + eventList + ` WHERE EXISTS (SELECT 1 FROM spent) RETURNING id
)
SELECT (SELECT count(*) FROM spent), (SELECT count(*) FROM touched), (SELECT count(*) FROM issued), COALESCE((SELECT id FROM event), 0)`
	var spent, touched, issued, eventID int64
	err := s.queryRow(ctx, q, a...).Scan(&spent, &touched, &issued, &eventID)
	if err != nil {
		return mapErr(fmt.Sprintf("rotate in family %q", r.FamilyID), err)
	}
	switch {
	case spent == 0:
		// Nothing was written; say why as SpendToken would.
		return s.SpendToken(ctx, r.SpentKey, r.SpentAt, r.Replay)
	case touched == 0:
		return fmt.Errorf("sqlstore: rotate: family %q: %w", r.FamilyID, storage.ErrNotFound)
	case issued != int64(len(r.Issued)):
		return fmt.Errorf("sqlstore: rotate: %d of %d tokens stored: %w", issued, len(r.Issued), storage.ErrConflict)
	}
	r.Event.ID = eventID
	return nil
}

// pgArgs collects the bound values of one PostgreSQL statement built from
// parts.
type pgArgs []any

// add binds v and returns its placeholder. A time.Time is stored as
// [ts] does and cast, because in a VALUES list outside an INSERT
// PostgreSQL would otherwise take it for text.
func (a *pgArgs) add(v any) string {
	cast := ""
	switch t := v.(type) {
	case time.Time:
		v, cast = ts(t), "::timestamptz"
	case *time.Time:
		cast = "::timestamptz"
	case nullBytes:
		cast = "::bytea"
	case bool:
		cast = "::boolean"
	case int64:
		cast = "::bigint"
	}
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a)) + cast
}

// pgRow binds the values of r's columns and returns their placeholders,
// comma-separated.
func pgRow[R any](a *pgArgs, columns []column[R], r *R) string {
	ps := make([]string, len(columns))
	for i, c := range columns {
		ps[i] = a.add(valueOf(c.field(r)))
	}
	return strings.Join(ps, ", ")
}

// insertTokens is an INSERT of the tokens' rows, each row kept only if the
// optional where clause (over the VALUES) holds.
func insertTokens(a *pgArgs, tokens []*storage.Token, where ...string) string {
	rows := make([]string, len(tokens))
	for i, t := range tokens {
		rows[i] = "(" + pgRow(a, tokenTable.insert, toTokenRow(t)) + ")"
	}
	return `INSERT INTO tokens (` + tokenTable.inserts + `)
	SELECT * FROM (VALUES ` + strings.Join(rows, ", ") + `) AS v ` + strings.Join(where, " ")
}
