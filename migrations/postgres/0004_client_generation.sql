-- +goose Up
-- Latch schema, version 4 (PostgreSQL).
-- clients.generation: a random value that CreateClient gives each client, so
-- that a client deleted and created again under the same id is another
-- client. families.client_generation: the generation of the client a login
-- was granted to. A login is stored only while its client exists with that
-- generation, and the insert holds the client row (FOR KEY SHARE) so that
-- a deletion waits for it and then revokes it (sqlstore CreateFamily). Rows
-- from before this version hold '' on both sides and go on working.
--
-- Before this version a grant racing the deletion of its client could store
-- a live login for a client that was gone, and a client created again under
-- that id took such a login over. Those logins end here, as the deletion
-- would have ended them: the live ones whose client is gone or was created
-- after them (logins made within the clock skew between nodes of their
-- client's creation may end too; they log in again). Their unexpired
-- access tokens go on the denylist first, for JWT access tokens, and each
-- ended login gets a family_revoked event, as DeleteClient writes.

ALTER TABLE clients ADD COLUMN generation TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN client_generation TEXT NOT NULL DEFAULT '';

CREATE TEMPORARY TABLE orphaned_families ON COMMIT DROP AS
SELECT f.id, f.client_id, f.user_id FROM families f
WHERE f.revoked_at IS NULL AND f.expires_at > now()
AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = f.client_id AND c.created_at <= f.created_at);

INSERT INTO denylist ("key", expires_at)
SELECT t."key", t.expires_at FROM tokens t JOIN orphaned_families o ON o.id = t.family_id
WHERE t.kind = 'access' AND t.expires_at > now()
ON CONFLICT ("key") DO NOTHING;

UPDATE families SET revoked_at = now(), revoke_reason = 'client_deleted'
WHERE id IN (SELECT id FROM orphaned_families);

INSERT INTO audit_events (type, family_id, client_id, user_id, reason, created_at)
SELECT 'family_revoked', id, client_id, user_id, 'client_deleted', now() FROM orphaned_families;
