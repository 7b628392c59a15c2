-- +goose Up
-- Latch schema, version 5 (PostgreSQL).
-- audit_events.enforced: whether a reuse_detected event ended its login
-- (LATCH_REUSE_DETECTION=enforce) or only reported the reuse (report, the
-- shadow mode). Other events hold false. Every reuse before this version
-- ended its login.

ALTER TABLE audit_events ADD COLUMN enforced BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE audit_events SET enforced = TRUE WHERE type = 'reuse_detected';
