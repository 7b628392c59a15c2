-- Latch schema, version 3 (SQLite).
-- login_attempts: per-key counters of the brute-force guard (the key is a
-- hashed username or a client address). One upsert reserves an attempt
-- (INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING, SQLite >= 3.35); the
-- statement holds the database's write lock, so concurrent reservations, on
-- any connection, each see a distinct count. Purge deletes expired counters
-- by expires_at.
-- signing_keys: JWT signing keys, the private key sealed by package oauth.
-- retired_at and publish_until are NULL while the key signs. The table holds
-- a handful of rows: it needs no index besides its primary key.
-- denylist: keys of revoked JWT access tokens until they expire; Purge
-- deletes them by expires_at.

-- +goose Up
CREATE TABLE login_attempts (
    key        TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX login_attempts_expires_at_idx ON login_attempts (expires_at);

CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    public_key     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     DATETIME NOT NULL,
    retired_at     DATETIME NULL,
    publish_until  DATETIME NULL
);

CREATE TABLE denylist (
    key        TEXT PRIMARY KEY,
    expires_at DATETIME NOT NULL
);
CREATE INDEX denylist_expires_at_idx ON denylist (expires_at);
