-- +goose NO TRANSACTION
-- Latch schema, version 11 (PostgreSQL): indexes for GET /admin/stats.
-- audit_events_created_at_idx: the console's counts per time bucket read a
-- window of created_at, and need type and reason besides: with both in the
-- index, PostgreSQL answers from the index alone (an index-only scan of the
-- window), however many million events the table holds.
-- families_live_idx: the live logins are the families not revoked and not
-- expired; the partial index holds only the unrevoked ones.
-- Both are built CONCURRENTLY, so that writes to these hot tables go on
-- while they build; an index left INVALID by a failed build is dropped
-- first, so that a second run builds it again.
-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('audit_events_created_at_idx') AND NOT indisvalid) THEN
        DROP INDEX audit_events_created_at_idx;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('families_live_idx') AND NOT indisvalid) THEN
        DROP INDEX families_live_idx;
    END IF;
END
$$;
-- +goose StatementEnd
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_created_at_idx ON audit_events (created_at, type, reason);
CREATE INDEX CONCURRENTLY IF NOT EXISTS families_live_idx ON families (expires_at) WHERE revoked_at IS NULL;
