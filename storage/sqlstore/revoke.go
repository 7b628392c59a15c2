package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/latchhq/latch/migrations"
	"github.com/latchhq/latch/storage"
)

// RevokeByToken ends the login of a presented token (see
// [storage.TokenStore]). On PostgreSQL, without a denylist to fill, it is
// one statement: an RFC 7009 revocation was otherwise six round trips
// (begin, the locked read, the update, two events, commit).
//
// With a denylist (JWT access tokens) it takes the transaction of locked
// reads instead, which also sets the tokens' status bits (RevokeFamily). One
// statement reads every table at the snapshot it started with: waiting on
// the family's lock for a refresh to commit, it would end the login but miss
// the access token that refresh issued, leaving a JWT that verifies offline.
// Without a denylist that token dies with its family, which introspection
// checks.
func (s *Store) RevokeByToken(ctx context.Context, r storage.Revocation) (*storage.Token, *storage.Family, bool, error) {
	if s.dialect != migrations.Postgres || r.DenyAccessTokens {
		return s.revokeByTokenTx(ctx, r)
	}
	a := pgArgs{r.Key, ts(r.At), r.Reason, r.ClientID}
	events := make([]string, len(r.Events))
	for i, e := range r.Events {
		events[i] = fmt.Sprintf("(%d, %s)", i, pgRow(&a, endedEventColumns, toEventRow(e)))
	}
	eventsCTE := `SELECT 1 WHERE false`
	if len(events) > 0 {
		eventsCTE = `INSERT INTO audit_events (` + eventTable.inserts + `)
	SELECT ` + endedEventSelects + `
	FROM ended, (VALUES ` + strings.Join(events, ", ") + `) AS ` + endedEventValues + `
	ORDER BY v.n`
	}
	// The family is updated only if the token's client matches; the row
	// lock and the re-check of revoked_at make two revocations, or a
	// revocation and a refresh, take turns. PostgreSQL runs the events CTE
	// to completion although the main query does not read it.
	q := `WITH target AS (
	SELECT t.family_id, t.client_id FROM tokens t WHERE t."key" = $1
), ended AS (
	UPDATE families SET revoked_at = $2, revoke_reason = $3
	WHERE id = (SELECT family_id FROM target) AND revoked_at IS NULL AND (SELECT client_id FROM target) = $4
	RETURNING id, user_id
), events AS (
	` + eventsCTE + `
)
SELECT ` + tokenFamilyColumns + `, (SELECT count(*) FROM ended)
FROM tokens t JOIN families f ON f.id = t.family_id WHERE t."key" = $1`
	var t tokenRow
	var f familyRow
	var ended int
	err := s.queryRow(ctx, q, a...).Scan(append(tokenFamilyDests(&t, &f, 1), &ended)...)
	if err != nil {
		return nil, nil, false, mapErr("revoke by token", err)
	}
	fam := f.family()
	if ended == 1 {
		for _, e := range r.Events {
			e.FamilyID, e.UserID = fam.ID, fam.UserID
		}
	}
	return t.token(), &fam, ended == 1, nil
}

// A revocation's events (PostgreSQL) take their family_id and user_id from
// the family it ends (ended.id, ended.user_id); their other columns,
// endedEventColumns, are bound in a VALUES list v, numbered n for their
// order. endedEventSelects is the insert's select list over ended and v,
// endedEventValues v's name and columns.
var endedEventColumns, endedEventSelects, endedEventValues = endedEvents()

func endedEvents() (cols []column[eventRow], selects, values string) {
	fromEnded := map[string]string{"family_id": "ended.id", "user_id": "ended.user_id"}
	var sel []string
	names := []string{"n"}
	for _, c := range eventTable.insert {
		if e, ok := fromEnded[c.name]; ok {
			sel = append(sel, e)
			continue
		}
		cols = append(cols, c)
		sel = append(sel, "v."+quote(c.name))
		names = append(names, quote(c.name))
	}
	return cols, strings.Join(sel, ", "), "v (" + strings.Join(names, ", ") + ")"
}

// revokeByTokenTx is RevokeByToken as a transaction of the store's other
// methods: SQLite, and PostgreSQL with a denylist.
func (s *Store) revokeByTokenTx(ctx context.Context, r storage.Revocation) (tok *storage.Token, fam *storage.Family, revoked bool, err error) {
	err = s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if tok, fam, err = s.LockTokenFamily(ctx, r.Key); err != nil {
			return err
		}
		if tok.ClientID != r.ClientID || fam.Revoked() {
			return nil
		}
		if revoked, err = s.RevokeFamily(ctx, fam.ID, r.Reason, r.At); err != nil || !revoked {
			return err
		}
		if r.DenyAccessTokens {
			if _, err := s.DenyFamilyAccessTokens(ctx, fam.ID, r.At); err != nil {
				return err
			}
		}
		for _, e := range r.Events {
			e.FamilyID, e.UserID = fam.ID, fam.UserID
			if err := s.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	return tok, fam, revoked, nil
}
