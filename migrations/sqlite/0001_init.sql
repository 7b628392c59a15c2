-- Latch schema, version 1 (SQLite).
-- Lists (grant types, scopes, audiences) are one space-separated TEXT column.
-- Times are DATETIME: the driver (glebarez/go-sqlite) writes them as text in
-- one format ("2006-01-02 15:04:05.999999999-07:00") and sqlstore always
-- writes UTC, so text order is time order and "expires_at > ?" is correct.
-- No foreign keys from families/tokens to clients/users: clients and users are
-- hard-deleted while their families are kept, revoked, for the audit trail.

-- +goose Up
CREATE TABLE clients (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    secret_hash    TEXT NOT NULL DEFAULT '',
    grant_types    TEXT NOT NULL DEFAULT '',
    scopes         TEXT NOT NULL DEFAULT '',
    auth_method    TEXT NOT NULL DEFAULT '',
    can_introspect BOOLEAN NOT NULL DEFAULT FALSE,
    audience       TEXT NOT NULL DEFAULT '',
    created_at     DATETIME NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL DEFAULT '',
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          DATETIME NOT NULL,
    password_changed_at DATETIME NOT NULL
);

CREATE TABLE families (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    user_id       TEXT NOT NULL DEFAULT '',
    username      TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL DEFAULT '',
    audience      TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL,
    revoked_at    DATETIME NULL,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX families_user_id_idx ON families (user_id);
CREATE INDEX families_client_id_idx ON families (client_id);
CREATE INDEX families_expires_at_idx ON families (expires_at);

CREATE TABLE tokens (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '',
    issued_at  DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    spent_at   DATETIME NULL,
    parent_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_family_id_idx ON tokens (family_id);
CREATE INDEX tokens_expires_at_idx ON tokens (expires_at);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    family_id  TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL DEFAULT '',
    user_id    TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    address    TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);
CREATE INDEX audit_events_family_id_idx ON audit_events (family_id);
