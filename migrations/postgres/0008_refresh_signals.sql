-- +goose Up
-- Latch schema, version 8 (PostgreSQL): refresh-time signals.
-- families.step_address, step_user_agent, burst_start, burst_count: the login's latest step (its grant or last refresh), which
-- the next refresh is compared with: the caller's address and User-Agent, and
-- the start and count of the current minute of refreshes. A NULL burst_start
-- says no step is recorded (every login before this version): its next
-- refresh raises no address or User-Agent signal and records one.
-- audit_events.signals: the signals a step raised, space-separated.
ALTER TABLE families ADD COLUMN step_address TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN step_user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN burst_start TIMESTAMPTZ NULL;
ALTER TABLE families ADD COLUMN burst_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN signals TEXT NOT NULL DEFAULT '';
