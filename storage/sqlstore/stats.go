package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// CountEvents counts the audit events of q's types in q's window per
// bucket and type (and reason), in one grouped query. It reads the index
// audit_events_type_created_at_idx (version 9), one range of created_at per
// type, and, without ByReason, nothing else: the database reads the
// window's index entries and no table row (an index-only scan on
// PostgreSQL, a covering index on SQLite), so the cost follows the events
// of the window, not of the table, and the answer is a few hundred rows.
// With ByReason each event's row is read for its reason: the console asks
// for it over the last hour only. With Signaled it reads the partial index
// of the events that carry signals (version 10), which are few.
func (s *Store) CountEvents(ctx context.Context, q storage.EventCountQuery) ([]storage.EventCount, error) {
	if q.Step <= 0 || len(q.Types) == 0 {
		return nil, fmt.Errorf("sqlstore: count events: step %s and %d types: want a positive step and a type", q.Step, len(q.Types))
	}
	// The bucket is computed from the distance to since in microseconds,
	// so that no rounding moves an event across a bucket's edge.
	bucket := `CAST(FLOOR(EXTRACT(EPOCH FROM (created_at - CAST(? AS TIMESTAMPTZ))) * 1000000 / ?) AS BIGINT)`
	if s.dialect == migrations.SQLite {
		// julianday keeps milliseconds; events are stored to the
		// microsecond, and an event within a millisecond of a bucket's
		// edge may be counted in its neighbour.
		bucket = `CAST(ROUND((julianday(created_at) - julianday(?)) * 86400000000.0) / ? AS INTEGER)`
	}
	reason, groups := `''`, `1, 2`
	if q.ByReason {
		reason, groups = `reason`, `1, 2, 3`
	}
	signaled := ``
	if q.Signaled {
		// The partial index audit_events_signaled_idx holds just these.
		signaled = ` AND signals <> ''`
	}
	sql := `SELECT ` + bucket + ` AS bucket, type, ` + reason + ` AS reason, COUNT(*)
		FROM audit_events
		WHERE type IN ? AND created_at >= ? AND created_at < ?` + signaled + `
		GROUP BY ` + groups + `
		ORDER BY ` + groups
	rows, err := s.read(ctx).Raw(sql, ts(q.Since), q.Step.Microseconds(), q.Types, ts(q.Since), ts(q.Until)).Rows()
	if err != nil {
		return nil, mapErr("count events", err)
	}
	defer rows.Close()
	var out []storage.EventCount
	for rows.Next() {
		var c storage.EventCount
		if err := rows.Scan(&c.Bucket, &c.Type, &c.Reason, &c.Count); err != nil {
			return nil, mapErr("count events", err)
		}
		out = append(out, c)
	}
	return out, mapErr("count events", rows.Err())
}

// CountLiveFamilies counts the families neither revoked nor expired at now,
// from the partial index families_live_idx (migration 0010).
func (s *Store) CountLiveFamilies(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.read(ctx).Raw(`SELECT COUNT(*) FROM families WHERE revoked_at IS NULL AND expires_at > ?`, ts(now)).Row().Scan(&n)
	return n, mapErr("count live families", err)
}

// ListUsers returns at most limit users whose username starts with prefix,
// ordered by username. The prefix is compared as text of its own length,
// not with LIKE: SQLite's LIKE ignores ASCII case, and neither needs an
// escape for % and _ this way.
func (s *Store) ListUsers(ctx context.Context, prefix string, limit int) ([]storage.User, error) {
	if !holdable(prefix) {
		return nil, nil
	}
	var rows []userRow
	db := s.read(ctx)
	if prefix != "" {
		db = db.Where("substr(username, 1, length(CAST(? AS TEXT))) = ?", prefix, prefix)
	}
	if err := db.Order("username").Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr("list users", err)
	}
	us := make([]storage.User, len(rows))
	for i := range rows {
		us[i] = *rows[i].user()
	}
	return us, nil
}

// SetClientSecret replaces the client's secret hash, or returns an error
// wrapping [storage.ErrNotFound]. Every client authentication reads the
// client from the database, so the old secret fails from the next request.
func (s *Store) SetClientSecret(ctx context.Context, id, hash string) error {
	op := fmt.Sprintf("set secret of client %q", id)
	if !holdable(id) {
		return noSuch(op)
	}
	res := s.conn(ctx).Model(&clientRow{}).Where("id = ?", id).Update("secret_hash", hash)
	return affectedOne(op, res.RowsAffected, res.Error)
}
