-- Latch schema, version 10 (PostgreSQL): the live logins of GET /admin/stats.
-- families_live_idx: the live logins are the families not revoked and not
-- expired; the partial index holds only the unrevoked ones, so counting
-- them reads that index alone. (The stats' counts of events per bucket
-- read version 9's audit_events_type_created_at_idx.)
-- families is hot and can be big: the index is built CONCURRENTLY, which
-- does not block a running Latch's writes, and so outside a transaction.
-- A build that fails leaves an INVALID index behind and the version
-- unrecorded; the next run drops it and builds it again, so it is dropped
-- first.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS families_live_idx;
CREATE INDEX CONCURRENTLY families_live_idx ON families (expires_at) WHERE revoked_at IS NULL;
-- audit_events_signaled_idx: the events that carry refresh-time signals,
-- for the stats' signals series; few, so the index is small.
DROP INDEX CONCURRENTLY IF EXISTS audit_events_signaled_idx;
CREATE INDEX CONCURRENTLY audit_events_signaled_idx ON audit_events (created_at) WHERE signals <> '';
