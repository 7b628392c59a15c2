package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/latchhq/latch/migrations"
)

// migrateLockID keys the PostgreSQL advisory lock that serializes Migrate
// across processes ("latchmig" in ASCII).
const migrateLockID = 0x6c617463686d6967

// Migrate applies the embedded migrations that schema_migrations does not
// list yet, in version order, each in its own transaction. It is idempotent,
// and two processes may run it at once: on PostgreSQL a transaction-level
// advisory lock serializes them, on SQLite BEGIN IMMEDIATE does.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrations.Load(s.dialect)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, m := range ms {
		if err := s.migrateOne(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) migrateOne(ctx context.Context, m migrations.Migration) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == migrations.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(migrateLockID)).Error; err != nil {
				return mapErr("migrate: lock", err)
			}
		}
		timeType := "DATETIME"
		if s.dialect == migrations.Postgres {
			timeType = "TIMESTAMPTZ"
		}
		if err := tx.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at " + timeType + " NOT NULL)").Error; err != nil {
			return mapErr("migrate: create schema_migrations", err)
		}
		var n int64
		if err := tx.Raw("SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n).Error; err != nil {
			return mapErr("migrate: read schema_migrations", err)
		}
		if n > 0 {
			return nil
		}
		if err := tx.Exec(m.SQL).Error; err != nil {
			return fmt.Errorf("sqlstore: migrate %s/%s: %w", s.dialect, m.Name, err)
		}
		if err := tx.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.Version, now()).Error; err != nil {
			return mapErr("migrate: record version", err)
		}
		return nil
	})
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
