package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm/clause"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// CreateClient stores c with a new random generation, which it sets on c.
// Returns an error wrapping [storage.ErrAlreadyExists] if the id is taken.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	r := toClientRow(c)
	// 130 random bits: no two clients ever share one.
	r.Generation = rand.Text()
	if err := s.conn(ctx).Create(r).Error; err != nil {
		return mapErr(fmt.Sprintf("create client %q", c.ID), err)
	}
	c.Generation = r.Generation
	return nil
}

// GetClient returns the client, or an error wrapping [storage.ErrNotFound].
// Every authenticated request reads its client: a hot statement (hot.go).
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if !holdable(id) {
		return nil, noSuch("get client")
	}
	var r clientRow
	err := s.readRow(ctx, s.hot.getClient, id).Scan(clientTable.dests(&r)...)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get client %q", id), err)
	}
	c := r.client()
	return &c, nil
}

// ListClients returns every client, ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var rows []clientRow
	if err := s.read(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr("list clients", err)
	}
	cs := make([]storage.Client, len(rows))
	for i := range rows {
		cs[i] = rows[i].client()
	}
	return cs, nil
}

// DeleteClient removes the client, or returns an error wrapping
// [storage.ErrNotFound]. Its families and tokens stay. The DELETE locks the
// row until the transaction ends, and CreateFamily's FOR KEY SHARE of it
// conflicts with that lock: an insert that comes later waits and then finds
// no client; one that came first makes the DELETE wait until it has
// committed, so that the caller's next statement (READ COMMITTED: a new
// snapshot) sees its family. A single statement that deleted the client and
// revoked its families would read the families at the snapshot it started
// with, before waiting, and miss that one. On SQLite one writer at a time
// gives the same order.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete client %q", id)
	if !holdable(id) {
		return noSuch(op)
	}
	res := s.conn(ctx).Where("id = ?", id).Delete(&clientRow{})
	return affectedOne(op, res.RowsAffected, res.Error)
}

// CreateUser stores u. Returns an error wrapping [storage.ErrAlreadyExists]
// if the id or username is taken.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	return mapErr(fmt.Sprintf("create user %q", u.ID), s.conn(ctx).Create(toUserRow(u)).Error)
}

// GetUser returns the user, or an error wrapping [storage.ErrNotFound].
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	if !holdable(id) {
		return nil, noSuch("get user")
	}
	var r userRow
	if err := s.read(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, mapErr(fmt.Sprintf("get user %q", id), err)
	}
	return r.user(), nil
}

// LockUser is GetUser holding a write lock on the row until the
// transaction ends (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the one
// connection and immediate transactions already serialize writers).
func (s *Store) LockUser(ctx context.Context, id string) (*storage.User, error) {
	if !holdable(id) {
		return nil, noSuch("lock user")
	}
	var r userRow
	db := s.conn(ctx).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	if err := db.Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, mapErr(fmt.Sprintf("lock user %q", id), err)
	}
	return r.user(), nil
}

// GetUserByUsername returns the user with exactly that username (case
// matters), or an error wrapping [storage.ErrNotFound].
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	if !holdable(username) {
		return nil, noSuch("get user by username")
	}
	var r userRow
	if err := s.read(ctx).Where("username = ?", username).Take(&r).Error; err != nil {
		return nil, mapErr("get user by username", err)
	}
	return r.user(), nil
}

// SetPassword replaces the password hash and sets PasswordChangedAt. Returns
// an error wrapping [storage.ErrNotFound] if the user does not exist.
func (s *Store) SetPassword(ctx context.Context, id, hash string, at time.Time) error {
	if !holdable(id) {
		return noSuch("set password")
	}
	res := s.conn(ctx).Exec("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?", hash, ts(at), id)
	return affectedOne(fmt.Sprintf("set password of user %q", id), res.RowsAffected, res.Error)
}

// UpgradePasswordHash replaces the password hash with newHash if it is still
// oldHash, and reports whether it did; PasswordChangedAt stays. One
// conditional UPDATE: the comparison and the write cannot be split by a
// concurrent SetPassword on any backend.
func (s *Store) UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error) {
	if !holdable(id, oldHash) {
		return false, nil
	}
	res := s.conn(ctx).Exec("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", newHash, id, oldHash)
	if res.Error != nil {
		return false, mapErr(fmt.Sprintf("upgrade password hash of user %q", id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetDisabled sets the disabled flag. Returns an error wrapping
// [storage.ErrNotFound] if the user does not exist.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if !holdable(id) {
		return noSuch("set disabled")
	}
	res := s.conn(ctx).Exec("UPDATE users SET disabled = ? WHERE id = ?", disabled, id)
	return affectedOne(fmt.Sprintf("set disabled of user %q", id), res.RowsAffected, res.Error)
}

// DeleteUser removes the user, or returns an error wrapping
// [storage.ErrNotFound]. Its families stay.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if !holdable(id) {
		return noSuch("delete user")
	}
	res := s.conn(ctx).Where("id = ?", id).Delete(&userRow{})
	return affectedOne(fmt.Sprintf("delete user %q", id), res.RowsAffected, res.Error)
}

// CreateFamily stores f and its first tokens if f's client exists with
// f's client generation: on PostgreSQL in one statement, because a grant
// that starts a login is otherwise four round trips (begin, two inserts,
// commit); on SQLite in one transaction. Returns an error wrapping
// [storage.ErrNotFound] if the client does not exist (or is another
// generation), [storage.ErrAlreadyExists] if the id or a token key is
// taken; then nothing is stored.
//
// The client is checked by the insert itself, which costs no round trip,
// and on PostgreSQL held with FOR KEY SHARE, the lock a foreign key would
// take, so that DeleteClient's DELETE and this insert take turns (see
// there). A foreign key itself would not do: families outlive their
// client, revoked, for the audit trail, and it could not tell a client
// from one created again under its id.
func (s *Store) CreateFamily(ctx context.Context, f *storage.Family, tokens ...*storage.Token) error {
	op := fmt.Sprintf("create family %q", f.ID)
	if !holdable(f.ClientID, f.ClientGeneration) {
		return noSuch(op)
	}
	r := toFamilyRow(f)
	if s.dialect == migrations.Postgres {
		return s.createFamilyPostgres(ctx, op, r, tokens)
	}
	insert := func(ctx context.Context) error {
		n, err := s.exec(ctx, s.hot.insertFamily, familyTable.values(r)...)
		if err != nil {
			return mapErr(op, err)
		} else if n == 0 {
			return noClient(op, r)
		}
		return nil
	}
	if len(tokens) == 0 {
		return insert(ctx)
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := insert(ctx); err != nil {
			return err
		}
		return s.CreateToken(ctx, tokens...)
	})
}

// createFamilyPostgres is CreateFamily's one statement: the family's
// insert, conditioned on its client, and the tokens', conditioned on the
// family's.
func (s *Store) createFamilyPostgres(ctx context.Context, op string, r *familyRow, tokens []*storage.Token) error {
	var a pgArgs
	values := pgRow(&a, familyTable.insert, r) // first: hot.familyHasClient counts on it
	issuedCTE := `SELECT 1 WHERE false`
	if len(tokens) > 0 {
		issuedCTE = insertTokens(&a, tokens, `WHERE EXISTS (SELECT 1 FROM family)`) + ` RETURNING 1`
	}
	q := `WITH family AS (
	INSERT INTO families (` + familyTable.inserts + `)
	SELECT ` + values + `
	WHERE EXISTS (SELECT 1 FROM clients c WHERE ` + s.hot.familyHasClient + ` FOR KEY SHARE)
	RETURNING 1
), issued AS (
	` + issuedCTE + `
)
SELECT (SELECT count(*) FROM family)`
	var n int64
	if err := s.queryRow(ctx, q, a...).Scan(&n); err != nil {
		return mapErr(op, err)
	} else if n == 0 {
		return noClient(op, r)
	}
	return nil
}

// noClient is CreateFamily's ErrNotFound: the family's client is gone.
func noClient(op string, r *familyRow) error {
	return fmt.Errorf("sqlstore: %s: client %q of that generation: %w", op, r.ClientID, storage.ErrNotFound)
}

// GetFamily returns the family, or an error wrapping [storage.ErrNotFound].
func (s *Store) GetFamily(ctx context.Context, id string) (*storage.Family, error) {
	return s.getFamily(ctx, id, false)
}

// LockFamily returns the family and, inside a transaction, holds a write lock
// on it until the transaction ends: SELECT ... FOR UPDATE on PostgreSQL; on
// SQLite the single connection and BEGIN IMMEDIATE already serialize
// transactions. Returns an error wrapping [storage.ErrNotFound] if the family
// does not exist.
func (s *Store) LockFamily(ctx context.Context, id string) (*storage.Family, error) {
	return s.getFamily(ctx, id, true)
}

func (s *Store) getFamily(ctx context.Context, id string, lock bool) (*storage.Family, error) {
	if !holdable(id) {
		return nil, noSuch("get family")
	}
	db := s.read(ctx)
	op := "get family %q"
	if lock {
		// The SQLite dialector drops the locking clause.
		db = s.conn(ctx).Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		op = "lock family %q"
	}
	var r familyRow
	if err := db.Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, mapErr(fmt.Sprintf(op, id), err)
	}
	f := r.family()
	return &f, nil
}

// TouchFamily sets LastUsedAt. Returns an error wrapping
// [storage.ErrNotFound] if the family does not exist.
func (s *Store) TouchFamily(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, s.hot.touchFamily, ts(at), id)
	return affectedOne(fmt.Sprintf("touch family %q", id), n, err)
}

// RevokeFamily marks the family revoked unless it already is, and reports
// whether this call revoked it; then it sets the status bits of the
// family's live access tokens (setStatusBits), in one transaction with the
// revocation. Returns an error wrapping [storage.ErrNotFound] if the
// family does not exist.
func (s *Store) RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	if _, ok := s.txOf(ctx); !ok {
		var revoked bool
		err := s.InTx(ctx, func(ctx context.Context) error {
			var err error
			revoked, err = s.RevokeFamily(ctx, id, reason, at)
			return err
		})
		return revoked, err
	}
	op := fmt.Sprintf("revoke family %q", id)
	if !holdable(id) {
		return false, noSuch(op)
	}
	if n, err := s.exec(ctx, s.hot.revokeFamily, ts(at), reason, id); err != nil {
		return false, mapErr(op, err)
	} else if n > 0 {
		if err := s.setStatusBits(ctx, []string{id}, at); err != nil {
			return false, err
		}
		return true, nil
	}
	var n int64
	if err := s.conn(ctx).Model(&familyRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return false, mapErr(op, err)
	}
	if n == 0 {
		return false, fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
	}
	return false, nil
}

// RevokeFamilies revokes the families of the filter that are live at at
// (neither revoked nor expired) and returns their ids, sorted.
func (s *Store) RevokeFamilies(ctx context.Context, filter storage.FamilyFilter, reason string, at time.Time) ([]string, error) {
	where, args, err := familyFilter(filter)
	if err != nil || !holdable(filter.UserID, filter.ClientID) {
		return nil, err
	}
	at = ts(at)
	var ids []string
	err = s.InTx(ctx, func(ctx context.Context) error {
		err := s.conn(ctx).Raw(
			"UPDATE families SET revoked_at = ?, revoke_reason = ? WHERE revoked_at IS NULL AND expires_at > ? AND "+where+" RETURNING id",
			append([]any{at, reason, at}, args...)...,
		).Scan(&ids).Error
		if err != nil {
			return mapErr("revoke families", err)
		}
		return s.setStatusBits(ctx, ids, at)
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// ListLiveFamilies returns the families of the filter that are neither
// revoked nor expired at now, newest first.
func (s *Store) ListLiveFamilies(ctx context.Context, filter storage.FamilyFilter, now time.Time) ([]storage.Family, error) {
	where, args, err := familyFilter(filter)
	if err != nil || !holdable(filter.UserID, filter.ClientID) {
		return nil, err
	}
	var rows []familyRow
	err = s.read(ctx).
		Where("revoked_at IS NULL AND expires_at > ?", ts(now)).
		Where(where, args...).
		Order("created_at DESC, id DESC").
		Find(&rows).Error
	if err != nil {
		return nil, mapErr("list live families", err)
	}
	fs := make([]storage.Family, len(rows))
	for i := range rows {
		fs[i] = rows[i].family()
	}
	return fs, nil
}

// familyFilter returns the WHERE condition of f. An empty filter is an error:
// it would select every family.
func familyFilter(f storage.FamilyFilter) (string, []any, error) {
	var conds []string
	var args []any
	if f.UserID != "" {
		conds = append(conds, "user_id = ?")
		args = append(args, f.UserID)
	}
	if f.ClientID != "" {
		conds = append(conds, "client_id = ?")
		args = append(args, f.ClientID)
	}
	if len(conds) == 0 {
		return "", nil, errors.New("sqlstore: family filter names neither a user nor a client")
	}
	return strings.Join(conds, " AND "), args, nil
}

// CreateToken stores the tokens in one INSERT. Returns an error wrapping
// [storage.ErrAlreadyExists] if a key is taken. Errors never quote a key.
func (s *Store) CreateToken(ctx context.Context, ts ...*storage.Token) error {
	if len(ts) == 0 {
		return nil
	}
	args := make([]any, 0, len(ts)*len(tokenTable.insert))
	for _, t := range ts {
		args = tokenTable.appendValues(args, toTokenRow(t))
	}
	q := ""
	if len(ts) <= len(s.hot.insertTokens) {
		q = s.hot.insertTokens[len(ts)-1]
	} else {
		q = insertTokensSQL(placeholders(s.dialect), len(ts))
	}
	_, err := s.exec(ctx, q, args...)
	return mapErr(fmt.Sprintf("create token of family %q", ts[0].FamilyID), err)
}

// GetTokenFamily returns a token and its family with one join, or an error
// wrapping [storage.ErrNotFound].
func (s *Store) GetTokenFamily(ctx context.Context, key string) (*storage.Token, *storage.Family, error) {
	return s.tokenFamily(ctx, key, false)
}

// LockTokenFamily is GetTokenFamily with the token and family rows locked
// for update (PostgreSQL; on SQLite the one connection and immediate
// transactions already serialize writers).
func (s *Store) LockTokenFamily(ctx context.Context, key string) (*storage.Token, *storage.Family, error) {
	return s.tokenFamily(ctx, key, true)
}

// tokenFamily runs the join on database/sql directly: it is the hottest
// read of Latch, and GORM's reflection cost more than the query on SQLite.
// A locked read runs where writes do.
func (s *Store) tokenFamily(ctx context.Context, key string, lock bool) (*storage.Token, *storage.Family, error) {
	var t tokenRow
	var f familyRow
	q, query := s.hot.tokenFamily, s.readRow
	if lock {
		query = s.queryRow
		if s.dialect == migrations.Postgres {
			// Both rows: under READ COMMITTED, a transaction that waited for
			// the lock re-reads only the rows it locks, and the token's
			// spent_at must be the one the previous holder committed.
			q += " FOR UPDATE OF t, f"
		}
	}
	err := query(ctx, q, key).Scan(tokenFamilyDests(&t, &f, 0)...)
	if err != nil {
		return nil, nil, mapErr("get token and family", err)
	}
	fam := f.family()
	return t.token(), &fam, nil
}

// LookupClientToken reads a client and, with left joins, a token and its
// family in one query. Returns an error wrapping [storage.ErrNotFound] if the
// client does not exist; the token and family are nil if either is missing.
func (s *Store) LookupClientToken(ctx context.Context, clientID, tokenKey string) (*storage.Client, *storage.Token, *storage.Family, error) {
	if !holdable(clientID) {
		return nil, nil, nil, noSuch("look up client")
	}
	if s.dialect == migrations.SQLite {
		// In process there is no round trip to save, and the SQLite driver
		// parses every statement afresh: two short queries measured faster
		// than one long join (make bench-load, introspect at c=32: 1,786
		// against 1,516 req/s, one run each).
		c, err := s.GetClient(ctx, clientID)
		if err != nil {
			return nil, nil, nil, err
		}
		tok, fam, err := s.GetTokenFamily(ctx, tokenKey)
		if errors.Is(err, storage.ErrNotFound) {
			return c, nil, nil, nil
		}
		return c, tok, fam, err
	}
	var c clientRow
	var t tokenRow
	var f familyRow
	nt := len(tokenTable.columns)
	nulls := make([]nullable, nt+len(familyTable.columns))
	dests := make([]any, 0, len(clientTable.columns)+len(nulls))
	dests = clientTable.appendDests(dests, &c)
	dests = tokenTable.appendNullDests(dests, &t, nulls[:nt])
	dests = familyTable.appendNullDests(dests, &f, nulls[nt:])
	if err := s.readRow(ctx, s.hot.lookupClientToken, clientID, tokenKey).Scan(dests...); err != nil {
		return nil, nil, nil, mapErr(fmt.Sprintf("look up client %q and token", clientID), err)
	}
	client := c.client()
	if !anyValid(nulls[:nt]) || !anyValid(nulls[nt:]) {
		return &client, nil, nil, nil
	}
	family := f.family()
	return &client, t.token(), &family, nil
}

// GetToken returns the token, or an error wrapping [storage.ErrNotFound].
func (s *Store) GetToken(ctx context.Context, key string) (*storage.Token, error) {
	var r tokenRow
	if err := s.read(ctx).Where(`"key" = ?`, key).Take(&r).Error; err != nil {
		return nil, mapErr("get token", err)
	}
	return r.token(), nil
}

// SpendToken sets SpentAt and Replay (NULL when empty) on an unspent token
// with one conditional UPDATE. Returns an error wrapping
// [storage.ErrConflict] if the token was already spent, [storage.ErrNotFound]
// if it does not exist.
func (s *Store) SpendToken(ctx context.Context, key string, at time.Time, replay []byte) error {
	if n, err := s.exec(ctx, s.hot.spendToken, ts(at), nullBytesOf(replay), key); err != nil {
		return mapErr("spend token", err)
	} else if n > 0 {
		return nil
	}
	var n int64
	if err := s.conn(ctx).Model(&tokenRow{}).Where(`"key" = ?`, key).Count(&n).Error; err != nil {
		return mapErr("spend token", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: spend token: %w", storage.ErrNotFound)
	}
	return fmt.Errorf("sqlstore: spend token: already spent: %w", storage.ErrConflict)
}

// Purge runs one batch of at most limit rows per kind (see [storage.Purger]):
// it deletes useless tokens, then dead families that hold no token any more,
// then clears the replays of tokens spent before replayBefore, then deletes
// expired attempt counters, expired denylist entries and retired signing
// keys no longer published (exactly those ListSigningKeys leaves out). Each
// step is one or two statements of the form
//
//	DELETE FROM t WHERE k IN (SELECT k FROM t WHERE ... LIMIT n)
//
// which PostgreSQL and SQLite both run, each on an index: tokens by
// expires_at or family_id, families by expires_at or revoked_at, replays by
// spent_at, attempt counters and denylist entries by expires_at (signing
// keys are a handful of rows). Audit events are never touched. A limit below
// 1 purges nothing.
func (s *Store) Purge(ctx context.Context, now, replayBefore time.Time, limit int) (storage.PurgeCounts, error) {
	var c storage.PurgeCounts
	if limit < 1 {
		return c, nil
	}
	db := s.conn(ctx)
	n := ts(now)

	// Expired access tokens and expired unspent refresh tokens. A spent
	// refresh token stays while its family lives, expired or not: it is what
	// catches reuse.
	res := db.Exec(`DELETE FROM tokens WHERE "key" IN (
		SELECT "key" FROM tokens
		WHERE expires_at <= ? AND (kind = ? OR spent_at IS NULL)
		LIMIT ?)`, n, string(storage.KindAccess), limit)
	if res.Error != nil {
		return c, mapErr("purge expired tokens", res.Error)
	}
	c.Tokens = res.RowsAffected

	// Every token of a family that is revoked or expired.
	if left := int64(limit) - c.Tokens; left > 0 {
		res = db.Exec(`DELETE FROM tokens WHERE "key" IN (
			SELECT "key" FROM tokens
			WHERE family_id IN (SELECT id FROM families WHERE revoked_at IS NOT NULL OR expires_at <= ?)
			LIMIT ?)`, n, left)
		if res.Error != nil {
			return c, mapErr("purge tokens of dead families", res.Error)
		}
		c.Tokens += res.RowsAffected
	}

	// Families that are revoked or expired and hold no token any more.
	res = db.Exec(`DELETE FROM families WHERE id IN (
		SELECT f.id FROM families f
		WHERE (f.revoked_at IS NOT NULL OR f.expires_at <= ?)
		AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.family_id = f.id)
		LIMIT ?)`, n, limit)
	if res.Error != nil {
		return c, mapErr("purge families", res.Error)
	}
	c.Families = res.RowsAffected

	// Replays of tokens spent before replayBefore.
	res = db.Exec(`UPDATE tokens SET replay = NULL WHERE "key" IN (
		SELECT "key" FROM tokens
		WHERE replay IS NOT NULL AND spent_at < ?
		LIMIT ?)`, ts(replayBefore), limit)
	if res.Error != nil {
		return c, mapErr("purge replays", res.Error)
	}
	c.Replays = res.RowsAffected

	// Attempt counters past their window. A login holds its username's and
	// its address's counters in one transaction, and this statement would
	// lock expired counters in no particular order: on PostgreSQL it skips
	// the ones a login holds, so that it never waits for a login that waits
	// for it (a deadlock, which PostgreSQL would end by failing one of them).
	// SQLite has one writer at a time, and no row locks.
	skipLocked := ""
	if s.dialect == migrations.Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	res = db.Exec(`DELETE FROM login_attempts WHERE "key" IN (
		SELECT "key" FROM login_attempts WHERE expires_at <= ? LIMIT ?`+skipLocked+`)`, n, limit)
	if res.Error != nil {
		return c, mapErr("purge attempts", res.Error)
	}
	c.Attempts = res.RowsAffected

	// Denylist entries whose token has expired.
	res = db.Exec(`DELETE FROM denylist WHERE "key" IN (
		SELECT "key" FROM denylist WHERE expires_at <= ? LIMIT ?)`, n, limit)
	if res.Error != nil {
		return c, mapErr("purge denylist", res.Error)
	}
	c.Denied = res.RowsAffected

	// Retired signing keys no longer published.
	res = db.Exec(`DELETE FROM signing_keys WHERE id IN (
		SELECT id FROM signing_keys
		WHERE retired_at IS NOT NULL AND (publish_until IS NULL OR publish_until <= ?)
		LIMIT ?)`, n, limit)
	if res.Error != nil {
		return c, mapErr("purge signing keys", res.Error)
	}
	c.Keys = res.RowsAffected

	// Status lists whose every token has expired.
	var err error
	c.StatusLists, err = s.purgeStatusLists(ctx, now, limit)
	return c, err
}

// AppendEvent stores e and sets e.ID.
func (s *Store) AppendEvent(ctx context.Context, e *storage.Event) error {
	r := toEventRow(e)
	err := s.queryRow(ctx, s.hot.insertEvent, eventTable.values(r)...).Scan(&e.ID)
	return mapErr(fmt.Sprintf("append event %q", e.Type), err)
}

// ListEvents returns the events of a family in the order they were appended.
func (s *Store) ListEvents(ctx context.Context, familyID string) ([]storage.Event, error) {
	if !holdable(familyID) {
		return nil, nil
	}
	var rows []eventRow
	if err := s.read(ctx).Where("family_id = ?", familyID).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(fmt.Sprintf("list events of family %q", familyID), err)
	}
	es := make([]storage.Event, len(rows))
	for i := range rows {
		es[i] = rows[i].event()
	}
	return es, nil
}

// affectedOne turns "no row changed" into ErrNotFound.
func affectedOne(op string, rows int64, err error) error {
	if err != nil {
		return mapErr(op, err)
	}
	if rows == 0 {
		return fmt.Errorf("sqlstore: %s: %w", op, storage.ErrNotFound)
	}
	return nil
}
