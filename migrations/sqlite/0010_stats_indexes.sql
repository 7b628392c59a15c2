-- +goose Up
-- Latch schema, version 10 (SQLite): the live logins of GET /admin/stats.
-- families_live_idx: the live logins are the families not revoked and not
-- expired; the partial index holds only the unrevoked ones. (The stats'
-- counts of events per bucket read version 9's
-- audit_events_type_created_at_idx.)
CREATE INDEX families_live_idx ON families (expires_at) WHERE revoked_at IS NULL;
-- audit_events_signaled_idx: the events that carry refresh-time signals,
-- for the stats' signals series; few, so the index is small.
CREATE INDEX audit_events_signaled_idx ON audit_events (created_at) WHERE signals <> '';
