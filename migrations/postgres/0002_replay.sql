-- Latch schema, version 2 (PostgreSQL).
-- tokens.replay holds the sealed response of a refresh token's rotation
-- during the grace window (see storage.Token.Replay); NULL when there is none.
-- Purge wipes it once the token was spent long enough ago: the partial index
-- finds those tokens by spent_at among the few that still hold a replay.
-- Purge also finds revoked families: the partial index on revoked_at holds
-- just them (revoked families are deleted once their tokens are gone), while
-- families_expires_at_idx (version 1) finds the expired ones.

-- +goose Up
ALTER TABLE tokens ADD COLUMN replay BYTEA NULL;
CREATE INDEX tokens_replay_spent_at_idx ON tokens (spent_at) WHERE replay IS NOT NULL;
CREATE INDEX families_revoked_at_idx ON families (revoked_at) WHERE revoked_at IS NOT NULL;
