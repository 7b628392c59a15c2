package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/latchhq/latch/storage"
)

// ReserveAttempt adds one attempt to the counter of key and returns the
// count after it, with one upsert:
//
//	INSERT ... ON CONFLICT (key) DO UPDATE SET count = CASE ... END ... RETURNING count
//
// A counter expired at now (expires_at <= now) starts again at 1; the
// counter then expires at now+window. The statement is atomic on its own:
// on PostgreSQL, at READ COMMITTED or above, a conflicting insert waits for
// the row lock and updates the latest committed version (a concurrent first
// insert included); on SQLite the statement holds the write lock. So
// concurrent reservations, on any connection or node, each see a distinct
// count. Errors never quote the key.
func (s *Store) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	n := ts(now)
	var counts []int64
	res := s.conn(ctx).Raw(`INSERT INTO login_attempts ("key", count, expires_at) VALUES (?, 1, ?)
		ON CONFLICT ("key") DO UPDATE SET
			count = CASE WHEN login_attempts.expires_at <= ? THEN 1 ELSE login_attempts.count + 1 END,
			expires_at = excluded.expires_at
		RETURNING count`, key, ts(now.Add(window)), n).Scan(&counts)
	if res.Error != nil {
		return 0, mapErr("reserve attempt", res.Error)
	}
	if len(counts) != 1 {
		return 0, fmt.Errorf("sqlstore: reserve attempt: upsert returned %d rows, want 1: %w", len(counts), storage.ErrUnavailable)
	}
	return int(counts[0]), nil
}

// ReleaseAttempt takes one attempt back from the counter of key, never below
// zero. A missing counter is not an error.
func (s *Store) ReleaseAttempt(ctx context.Context, key string) error {
	err := s.conn(ctx).Exec(`UPDATE login_attempts SET count = count - 1 WHERE "key" = ? AND count > 0`, key).Error
	return mapErr("release attempt", err)
}

// ResetAttempts deletes the counter of key. A missing counter is not an
// error.
func (s *Store) ResetAttempts(ctx context.Context, key string) error {
	err := s.conn(ctx).Exec(`DELETE FROM login_attempts WHERE "key" = ?`, key).Error
	return mapErr("reset attempts", err)
}

// CountAttempts reads the counters of keys, live at now, in one query.
func (s *Store) CountAttempts(ctx context.Context, now time.Time, keys ...string) ([]storage.AttemptCount, error) {
	counts := make([]storage.AttemptCount, len(keys))
	if len(keys) == 0 {
		return counts, nil
	}
	var rows []struct {
		Key       string
		Count     int64
		ExpiresAt time.Time
	}
	err := s.read(ctx).Raw(`SELECT "key", count, expires_at FROM login_attempts WHERE "key" IN ? AND expires_at > ?`, keys, ts(now)).Scan(&rows).Error
	if err != nil {
		return nil, mapErr("count attempts", err)
	}
	for _, r := range rows {
		for i, k := range keys {
			if k == r.Key {
				counts[i] = storage.AttemptCount{Count: int(r.Count), ExpiresAt: r.ExpiresAt.UTC()}
			}
		}
	}
	return counts, nil
}

// CreateSigningKey stores k. Returns an error wrapping
// [storage.ErrAlreadyExists] if the id is taken.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	return mapErr(fmt.Sprintf("create signing key %q", k.ID), s.conn(ctx).Create(toSigningKeyRow(k)).Error)
}

// ListSigningKeys returns the keys that sign (retired_at NULL) or are still
// published at now (publish_until after now), newest first. A retired key
// without publish_until is not published.
func (s *Store) ListSigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	var rows []signingKeyRow
	err := s.read(ctx).
		Where("retired_at IS NULL OR publish_until > ?", ts(now)).
		Order("created_at DESC, id DESC").
		Find(&rows).Error
	if err != nil {
		return nil, mapErr("list signing keys", err)
	}
	ks := make([]storage.SigningKey, len(rows))
	for i := range rows {
		ks[i] = rows[i].signingKey()
	}
	return ks, nil
}

// RetireSigningKeys retires every key that still signs, except keepID:
// retired_at becomes at and publish_until publishUntil. Keys retired before
// keep their times.
func (s *Store) RetireSigningKeys(ctx context.Context, keepID string, at, publishUntil time.Time) error {
	err := s.conn(ctx).Exec("UPDATE signing_keys SET retired_at = ?, publish_until = ? WHERE retired_at IS NULL AND id <> ?",
		ts(at), nullTS(publishUntil), keepID).Error
	return mapErr(fmt.Sprintf("retire signing keys except %q", keepID), err)
}

// DenyFamilyAccessTokens copies the key and expiry of every access token of
// the family unexpired at now into the denylist, with one
//
//	INSERT INTO denylist ... SELECT ... FROM tokens ... ON CONFLICT DO NOTHING
//
// and returns how many entries it added; entries already there are kept as
// they are.
func (s *Store) DenyFamilyAccessTokens(ctx context.Context, familyID string, now time.Time) (int64, error) {
	res := s.conn(ctx).Exec(`INSERT INTO denylist ("key", expires_at)
		SELECT "key", expires_at FROM tokens
		WHERE family_id = ? AND kind = ? AND expires_at > ?
		ON CONFLICT ("key") DO NOTHING`, familyID, string(storage.KindAccess), ts(now))
	if res.Error != nil {
		return 0, mapErr(fmt.Sprintf("deny access tokens of family %q", familyID), res.Error)
	}
	return res.RowsAffected, nil
}

// IsDenied reports whether key is on the denylist (until Purge removes it,
// after its expiry).
func (s *Store) IsDenied(ctx context.Context, key string) (bool, error) {
	var keys []string
	if err := s.read(ctx).Raw(`SELECT "key" FROM denylist WHERE "key" = ?`, key).Scan(&keys).Error; err != nil {
		return false, mapErr("check denylist", err)
	}
	return len(keys) > 0, nil
}
