package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/latchhq/latch/storage"
)

// UseDPoPJTI records a DPoP proof's key until expiresAt with one upsert
// that takes over only an expired row:
//
//	INSERT ... ON CONFLICT (key) DO UPDATE SET expires_at = ... WHERE dpop_jtis.expires_at <= now
//
// No row written means the key is recorded and live: the proof is a
// replay, and the answer wraps [storage.ErrAlreadyExists]. The statement is
// atomic on its own, on any connection or node (see ReserveAttempt), so of
// two nodes given one proof at once exactly one accepts it. It runs on
// database/sql or pgx directly, like the other statements of a grant
// (hot.go). Errors never quote the key.
func (s *Store) UseDPoPJTI(ctx context.Context, key string, now, expiresAt time.Time) error {
	p := placeholders(s.dialect)
	q := `INSERT INTO dpop_jtis ("key", expires_at) VALUES (` + p(1) + `, ` + p(2) + `)
	ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_jtis.expires_at <= ` + p(3)
	n, err := s.exec(ctx, q, key, ts(expiresAt), ts(now))
	if err != nil {
		return mapErr("use dpop jti", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: use dpop jti: %w", storage.ErrAlreadyExists)
	}
	return nil
}

// PurgeDPoPJTIs deletes at most limit keys expired at now.
func (s *Store) PurgeDPoPJTIs(ctx context.Context, now time.Time, limit int) (int64, error) {
	if limit < 1 {
		return 0, nil
	}
	res := s.conn(ctx).Exec(`DELETE FROM dpop_jtis WHERE "key" IN (
		SELECT "key" FROM dpop_jtis WHERE expires_at <= ? LIMIT ?)`, ts(now), limit)
	if res.Error != nil {
		return 0, mapErr("purge dpop jtis", res.Error)
	}
	return res.RowsAffected, nil
}
