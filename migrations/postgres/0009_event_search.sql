-- Latch schema, version 9 (PostgreSQL): the event search (GET /admin/events)
-- and the event retention (LATCH_EVENT_RETENTION).
-- The search lists events newest first (created_at, then id, descending),
-- optionally of one type, of one user, since a time. Each index below
-- ends in (created_at, id), so that every filter combination reads its
-- rows in that order from an index and stops at the page's limit, however
-- many events there are:
--   no filter, since:        audit_events_created_at_idx
--   type (and since):        audit_events_type_created_at_idx
--   user_id (and since):     audit_events_user_id_created_at_idx
--   type and user_id:        audit_events_user_id_created_at_idx, reading
--                            the one user's events and keeping the type
-- The janitor deletes events older than the retention by created_at, on
-- audit_events_created_at_idx.
-- audit_events can hold millions of rows: the indexes are built
-- CONCURRENTLY, which does not block the writes of a running Latch, and
-- so outside a transaction, one statement at a time. A build that fails
-- leaves an INVALID index behind and the version unrecorded; the next run
-- drops it and builds it again, so each index is dropped first.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS audit_events_created_at_idx;
CREATE INDEX CONCURRENTLY audit_events_created_at_idx ON audit_events (created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS audit_events_type_created_at_idx;
CREATE INDEX CONCURRENTLY audit_events_type_created_at_idx ON audit_events (type, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS audit_events_user_id_created_at_idx;
CREATE INDEX CONCURRENTLY audit_events_user_id_created_at_idx ON audit_events (user_id, created_at, id);
