-- +goose Up
-- Latch schema, version 11 (SQLite): indexes for GET /admin/stats.
-- audit_events_stats_idx: the console's counts per time bucket read a
-- window of created_at and group by type and reason: with both in the
-- index, SQLite answers from the index alone (a covering index), however
-- many million events the table holds. (Version 9's
-- audit_events_created_at_idx, on (created_at, id), orders the event
-- search.)
-- families_live_idx: the live logins are the families not revoked and not
-- expired; the partial index holds only the unrevoked ones.
CREATE INDEX audit_events_stats_idx ON audit_events (created_at, type, reason);
CREATE INDEX families_live_idx ON families (expires_at) WHERE revoked_at IS NULL;
