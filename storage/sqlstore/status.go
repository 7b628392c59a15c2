package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// statusListRow is a row of status_lists: what reservations write.
type statusListRow struct {
	ID        string `gorm:"primaryKey"`
	Size      int64
	NextIdx   int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (statusListRow) TableName() string { return "status_lists" }

// statusBitsRow is a row of status_list_bits: what revocations write.
type statusBitsRow struct {
	ListID  string `gorm:"primaryKey"`
	Bits    []byte
	Version int64
}

func (statusBitsRow) TableName() string { return "status_list_bits" }

// ReserveStatusRange reserves count indexes (see [storage.StatusListStore]):
// one UPDATE of the newest list with room, or, when there is none, the
// INSERT of a new list and its bits. Only reservations write a list's row
// in status_lists, only revocations its bits in status_list_bits, so
// neither waits for the other; the tokens issued from a range write
// nothing but their own rows.
func (s *Store) ReserveStatusRange(ctx context.Context, newID string, size, count int64, now, createdAfter, expiresAt time.Time) (storage.StatusRange, error) {
	if count < 1 || size < count {
		return storage.StatusRange{}, fmt.Errorf("sqlstore: reserve status range: %d indexes of a list of %d", count, size)
	}
	greatest := "max" // SQLite's scalar max
	if s.dialect == migrations.Postgres {
		greatest = "GREATEST"
	}
	var got storage.StatusRange
	err := s.InTx(ctx, func(ctx context.Context) error {
		var rows []struct {
			ID    string
			First int64
		}
		// The subquery picks a list; the UPDATE checks the room again on
		// the row it locked, which a concurrent reservation may have
		// filled meanwhile (PostgreSQL re-evaluates the WHERE clause on
		// the newest version of a row it waited for).
		err := s.conn(ctx).Raw(`UPDATE status_lists SET next_idx = next_idx + ?, expires_at = `+greatest+`(expires_at, ?)
			WHERE id = (SELECT id FROM status_lists WHERE next_idx + ? <= size AND created_at > ? ORDER BY created_at DESC, id LIMIT 1)
			AND next_idx + ? <= size
			RETURNING id, next_idx - ? AS first`,
			count, ts(expiresAt), count, ts(createdAfter), count, count).Scan(&rows).Error
		if err != nil {
			return mapErr("reserve status range", err)
		}
		if len(rows) == 1 {
			got = storage.StatusRange{List: rows[0].ID, First: rows[0].First, Count: count}
			return nil
		}
		op := fmt.Sprintf("create status list %q", newID)
		row := statusListRow{ID: newID, Size: size, NextIdx: count, CreatedAt: ts(now), ExpiresAt: ts(expiresAt)}
		if err := s.conn(ctx).Create(&row).Error; err != nil {
			return mapErr(op, err)
		}
		bits := statusBitsRow{ListID: newID, Bits: make([]byte, (size+7)/8), Version: 1}
		if err := s.conn(ctx).Create(&bits).Error; err != nil {
			return mapErr(op, err)
		}
		got = storage.StatusRange{List: newID, First: 0, Count: count}
		return nil
	})
	return got, err
}

// StatusListVersion returns a list's version: the one read a status list
// request makes while its cached token is current.
func (s *Store) StatusListVersion(ctx context.Context, id string) (int64, error) {
	op := fmt.Sprintf("status list %q version", id)
	if !holdable(id) {
		return 0, noSuch(op)
	}
	var v int64
	if err := s.readRow(ctx, `SELECT version FROM status_list_bits WHERE list_id = `+placeholders(s.dialect)(1), id).Scan(&v); err != nil {
		return 0, mapErr(op, err)
	}
	return v, nil
}

// GetStatusList returns a list with its bits.
func (s *Store) GetStatusList(ctx context.Context, id string) (*storage.StatusList, error) {
	op := fmt.Sprintf("get status list %q", id)
	if !holdable(id) {
		return nil, noSuch(op)
	}
	var l statusListRow
	var b statusBitsRow
	err := s.read(ctx).Where("id = ?", id).Take(&l).Error
	if err == nil {
		// Two reads, not one snapshot: nothing of the list's row
		// (size, times) changes what the bits say.
		err = s.read(ctx).Where("list_id = ?", id).Take(&b).Error
	}
	if err != nil {
		return nil, mapErr(op, err)
	}
	return &storage.StatusList{
		ID: l.ID, Size: l.Size, Bits: b.Bits, Version: b.Version,
		CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(),
	}, nil
}

// ListStatusLists returns the ids of the lists unexpired at now.
func (s *Store) ListStatusLists(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := s.read(ctx).Model(&statusListRow{}).Where("expires_at > ?", ts(now)).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, mapErr("list status lists", err)
	}
	return ids, nil
}

// statusBatch bounds the families of one read of their tokens' indexes,
// and the bits one PostgreSQL UPDATE sets, well under both databases'
// limits on bound parameters.
const statusBatch = 500

// setStatusBits sets the status bit of every access token of the families
// unexpired at now, in ctx's transaction: the revocations call it right
// after they revoked the families, holding their rows, so no refresh can
// add a token to them meanwhile, and this read (a statement of its own,
// with a snapshot that began after the families were locked) sees every
// token a refresh committed before. Each list's bits row is updated once per
// batch: on PostgreSQL by set_bit, which numbers bits as the draft does
// (bit i%8 of byte i/8, least significant first), without moving the
// array between database and node; on SQLite, where the one writer runs
// beside no other, by a read and a write of the array.
func (s *Store) setStatusBits(ctx context.Context, familyIDs []string, now time.Time) error {
	byList := map[string][]int64{}
	for ids := range slices.Chunk(familyIDs, statusBatch) {
		var rows []struct {
			StatusList string
			StatusIdx  int64
		}
		err := s.conn(ctx).Raw(`SELECT status_list, status_idx FROM tokens
			WHERE family_id IN ? AND kind = ? AND expires_at > ? AND status_list <> ''`,
			ids, string(storage.KindAccess), ts(now)).Scan(&rows).Error
		if err != nil {
			return mapErr("read status indexes", err)
		}
		for _, r := range rows {
			byList[r.StatusList] = append(byList[r.StatusList], r.StatusIdx)
		}
	}
	lists := make([]string, 0, len(byList))
	for l := range byList {
		lists = append(lists, l)
	}
	// One order of locking across revocations, so that two of them
	// touching the same lists never wait for each other in a cycle.
	slices.Sort(lists)
	for _, l := range lists {
		idx := byList[l]
		slices.Sort(idx)
		for batch := range slices.Chunk(idx, statusBatch) {
			if err := s.setBits(ctx, l, batch); err != nil {
				return err
			}
		}
	}
	return nil
}

// setBits sets the bits idx of list and counts a new version of it.
func (s *Store) setBits(ctx context.Context, list string, idx []int64) error {
	op := fmt.Sprintf("set status bits of list %q", list)
	if s.dialect == migrations.Postgres {
		expr := "bits"
		args := []any{list}
		for _, i := range idx {
			args = append(args, i)
			expr = "set_bit(" + expr + ", $" + strconv.Itoa(len(args)) + "::bigint, 1)"
		}
		n, err := s.exec(ctx, `UPDATE status_list_bits SET bits = `+expr+`, version = version + 1 WHERE list_id = $1`, args...)
		if err != nil {
			return mapErr(op, err)
		}
		if n == 0 {
			return noSuch(op)
		}
		return nil
	}
	var r statusBitsRow
	if err := s.conn(ctx).Where("list_id = ?", list).Take(&r).Error; err != nil {
		return mapErr(op, err)
	}
	for _, i := range idx {
		if i < 0 || i/8 >= int64(len(r.Bits)) {
			return fmt.Errorf("sqlstore: %s: index %d out of range", op, i)
		}
		r.Bits[i/8] |= 1 << (i % 8)
	}
	err := s.conn(ctx).Exec(`UPDATE status_list_bits SET bits = ?, version = version + 1 WHERE list_id = ?`, r.Bits, list).Error
	return mapErr(op, err)
}

// purgeStatusLists deletes at most limit lists expired at now, with their
// bits.
func (s *Store) purgeStatusLists(ctx context.Context, now time.Time, limit int) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		var ids []string
		err := s.conn(ctx).Model(&statusListRow{}).Where("expires_at <= ?", ts(now)).Limit(limit).Pluck("id", &ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := s.conn(ctx).Exec(`DELETE FROM status_list_bits WHERE list_id IN ?`, ids).Error; err != nil {
			return err
		}
		res := s.conn(ctx).Exec(`DELETE FROM status_lists WHERE id IN ?`, ids)
		n = res.RowsAffected
		return res.Error
	})
	return n, mapErr("purge status lists", err)
}
