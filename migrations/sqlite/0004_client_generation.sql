-- +goose Up
-- Latch schema, version 4 (SQLite).
-- clients.generation: a random value that CreateClient gives each client, so
-- that a client deleted and created again under the same id is another
-- client. families.client_generation: the generation of the client a login
-- was granted to. A login is stored only while its client exists with that
-- generation (sqlstore CreateFamily; SQLite's one writer at a time orders
-- it with a deletion). Rows from before this version hold '' on both sides
-- and go on working.
--
-- Before this version a grant racing the deletion of its client could store
-- a live login for a client that was gone, and a client created again under
-- that id took such a login over. Those logins end here, as the deletion
-- would have ended them: the live ones whose client is gone or was created
-- after them (logins made within the clock skew between processes of their
-- client's creation may end too; they log in again). Their unexpired
-- access tokens go on the denylist first, for JWT access tokens, and each
-- ended login gets a family_revoked event, as DeleteClient writes. Times
-- are written in the driver's format, in UTC (see version 1).

ALTER TABLE clients ADD COLUMN generation TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN client_generation TEXT NOT NULL DEFAULT '';

CREATE TEMPORARY TABLE orphaned_families AS
SELECT f.id, f.client_id, f.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00' AS ended_at FROM families f
WHERE f.revoked_at IS NULL AND f.expires_at > strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00'
AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = f.client_id AND c.created_at <= f.created_at);

INSERT INTO denylist ("key", expires_at)
SELECT t."key", t.expires_at FROM tokens t JOIN orphaned_families o ON o.id = t.family_id
WHERE t.kind = 'access' AND t.expires_at > o.ended_at
ON CONFLICT ("key") DO NOTHING;

UPDATE families SET revoked_at = (SELECT o.ended_at FROM orphaned_families o WHERE o.id = families.id), revoke_reason = 'client_deleted'
WHERE id IN (SELECT id FROM orphaned_families);

INSERT INTO audit_events (type, family_id, client_id, user_id, reason, created_at)
SELECT 'family_revoked', id, client_id, user_id, 'client_deleted', ended_at FROM orphaned_families;

DROP TABLE orphaned_families;
