package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/latchhq/latch/storage"
)

// searchEventsOrder is the order of SearchEvents, newest first. Every
// index of migration 9 ends in (created_at, id), so that each filter
// combination reads its rows in this order and stops at the limit.
const searchEventsOrder = " ORDER BY e.created_at DESC, e.id DESC"

// SearchEvents returns the events that match f, newest first, at most
// f.Limit of them. A filter no row can hold (text that is not UTF-8 or
// holds NUL) matches nothing.
func (s *Store) SearchEvents(ctx context.Context, f storage.EventFilter) ([]storage.Event, error) {
	if f.Limit < 1 || !holdable(f.Type, f.UserID) {
		return nil, nil
	}
	q, args := searchEventsSQL(f)
	var rows []eventRow
	if err := s.read(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, mapErr("search events", err)
	}
	es := make([]storage.Event, len(rows))
	for i := range rows {
		es[i] = rows[i].event()
	}
	return es, nil
}

// searchEventsSQL is SearchEvents' query of f and its arguments.
func searchEventsSQL(f storage.EventFilter) (string, []any) {
	where, args := searchEventsWhere(f)
	return "SELECT " + eventTable.selects + " FROM audit_events e" + where + searchEventsOrder + " LIMIT ?", append(args, f.Limit)
}

// searchEventsWhere is the WHERE clause of f (empty for no filter) and its
// arguments.
func searchEventsWhere(f storage.EventFilter) (string, []any) {
	var conds []string
	var args []any
	if f.Type != "" {
		conds, args = append(conds, "e.type = ?"), append(args, f.Type)
	}
	if f.UserID != "" {
		conds, args = append(conds, "e.user_id = ?"), append(args, f.UserID)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "e.created_at >= ?"), append(args, ts(f.Since))
	}
	if f.After != nil {
		// Spelled out rather than as a row value, (e.created_at, e.id) <
		// (?, ?): both databases read the index range from the first
		// comparison.
		at := ts(f.After.CreatedAt)
		conds = append(conds, "(e.created_at < ? OR (e.created_at = ? AND e.id < ?))")
		args = append(args, at, at, f.After.ID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// purgeEventsSelect picks the events PurgeEvents deletes.
const purgeEventsSelect = `SELECT id FROM audit_events WHERE created_at < ? ORDER BY created_at, id LIMIT ?`

// PurgeEvents deletes at most limit events created before before, oldest
// first, on audit_events_created_at_idx, and returns how many it deleted.
// A limit below 1 deletes nothing.
func (s *Store) PurgeEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit < 1 {
		return 0, nil
	}
	res := s.conn(ctx).Exec(`DELETE FROM audit_events WHERE id IN (`+purgeEventsSelect+`)`, ts(before), limit)
	if res.Error != nil {
		return 0, mapErr(fmt.Sprintf("purge events before %s", before.UTC().Format(time.RFC3339)), res.Error)
	}
	return res.RowsAffected, nil
}
