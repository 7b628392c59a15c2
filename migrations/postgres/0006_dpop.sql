-- +goose Up
-- Latch schema, version 6 (PostgreSQL): DPoP (RFC 9449).
-- clients.dpop_bound_access_tokens: RFC 9449 §5.2's client metadata; such a
-- client must send a DPoP proof with every token request.
-- families.dpop_jkt: the RFC 7638 thumbprint of the key a login's tokens are
-- bound to; '' for a login without DPoP, as every login before this version.
-- dpop_jtis: the proofs accepted within LATCH_DPOP_MAX_AGE, keyed by
-- SHA-256(jkt || jti), so that a proof is accepted once across every node
-- (RFC 9449 §11.1); the janitor deletes them by expires_at.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE families ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

CREATE TABLE dpop_jtis (
    key        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dpop_jtis_expires_at_idx ON dpop_jtis (expires_at);
