-- Latch schema, version 11 (PostgreSQL): indexes for GET /admin/stats.
-- audit_events_stats_idx: the console's counts per time bucket read a
-- window of created_at and group by type and reason: with both in the
-- index, PostgreSQL answers from the index alone (an index-only scan of the
-- window), however many million events the table holds. (Version 9's
-- audit_events_created_at_idx, on (created_at, id), orders the event
-- search; it would send the counts to the table for type and reason.)
-- families_live_idx: the live logins are the families not revoked and not
-- expired; the partial index holds only the unrevoked ones.
-- Both tables are hot and can be big: the indexes are built CONCURRENTLY,
-- which does not block a running Latch's writes, and so outside a
-- transaction, one statement at a time. A build that fails leaves an
-- INVALID index behind and the version unrecorded; the next run drops it
-- and builds it again, so each index is dropped first.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS audit_events_stats_idx;
CREATE INDEX CONCURRENTLY audit_events_stats_idx ON audit_events (created_at, type, reason);
DROP INDEX CONCURRENTLY IF EXISTS families_live_idx;
CREATE INDEX CONCURRENTLY families_live_idx ON families (expires_at) WHERE revoked_at IS NULL;
