package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// CountEvents counts the audit events of [since, until) per bucket of step,
// type and reason, in one grouped query. The range on created_at is read
// from the index audit_events_stats_idx (migration 0011), which also
// holds type and reason, so the database reads the window's index entries
// and no table row; the answer is a few hundred rows whatever the table
// holds.
func (s *Store) CountEvents(ctx context.Context, since, until time.Time, step time.Duration) ([]storage.EventCount, error) {
	if step <= 0 {
		return nil, fmt.Errorf("sqlstore: count events: step %s is not positive", step)
	}
	// The bucket is computed from the distance to since in microseconds,
	// as an integer, so that no rounding moves an event across a bucket's
	// edge.
	bucket := `CAST(FLOOR(EXTRACT(EPOCH FROM (created_at - CAST(? AS TIMESTAMPTZ))) * 1000000 / ?) AS BIGINT)`
	if s.dialect == migrations.SQLite {
		// julianday keeps milliseconds; events are stored to the
		// microsecond, and an event within a millisecond of a bucket's
		// edge may be counted in its neighbour.
		bucket = `CAST(ROUND((julianday(created_at) - julianday(?)) * 86400000000.0) / ? AS INTEGER)`
	}
	q := `SELECT ` + bucket + ` AS bucket, type, reason, COUNT(*)
		FROM audit_events
		WHERE created_at >= ? AND created_at < ?
		GROUP BY 1, 2, 3
		ORDER BY 1, 2, 3`
	rows, err := s.read(ctx).Raw(q, ts(since), step.Microseconds(), ts(since), ts(until)).Rows()
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
// from the partial index families_live_idx (migration 0011).
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
