-- +goose Up
-- Latch schema, version 7 (SQLite): Token Status Lists
-- (draft-ietf-oauth-status-list) for JWT access tokens.
-- tokens.status_list, tokens.status_idx: the list and index a JWT access
-- token's status claim names; '' and 0 for every other token. They are on
-- the token's own row, so issuing a token writes nothing more than before,
-- and a revocation finds the indexes of a login by tokens_family_id_idx.
-- status_lists: one row per list; next_idx is the first index no node has
-- reserved, expires_at is past every token given an index of it, when the
-- janitor drops the list.
-- status_list_bits: the list's bit array, materialised (size/8 bytes, bit
-- i = bit i%8 of byte i/8, least significant first), and version,
-- which counts its changes. A row of its own, so that a revocation setting
-- bits and a node reserving indexes never wait for each other.
ALTER TABLE tokens ADD COLUMN status_list TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN status_idx BIGINT NOT NULL DEFAULT 0;

CREATE TABLE status_lists (
    id         TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    next_idx   BIGINT NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX status_lists_expires_at_idx ON status_lists (expires_at);

CREATE TABLE status_list_bits (
    list_id TEXT PRIMARY KEY,
    bits    BLOB NOT NULL,
    version BIGINT NOT NULL
);
