package oauth

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// refreshGrant is Latch's refresh_token grant (RFC 6749 §6) with rotation and
// reuse detection (RFC 9700 §4.14.2). It replaces fosite's handler, which
// checks reuse before the client and the HMAC, ignores a narrower scope,
// slides the expiry forever and answers races with invalid_request
// (FOSITE.md §3).
//
// The family row is the serialization point: the rotation runs in one
// transaction that first locks the family, so of two concurrent refreshes
// with one token exactly one rotates and the other sees the token spent.
type refreshGrant struct{ p *Provider }

var _ fosite.TokenEndpointHandler = (*refreshGrant)(nil)

func (g *refreshGrant) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantRefreshToken)
}

func (g *refreshGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

var errInvalidRefresh = fosite.ErrInvalidGrant.WithHint("The refresh token is invalid, expired or revoked.")

// HandleTokenEndpointRequest checks what needs no database: the client's
// grant and the token's HMAC, so forged or garbage tokens cost no lookup.
func (g *refreshGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !ar.GetGrantTypes().ExactOne(GrantRefreshToken) {
		return fosite.ErrUnknownRequest
	}
	if err := requireGrant(ar, GrantRefreshToken); err != nil {
		return err
	}
	raw := ar.GetRequestForm().Get("refresh_token")
	if raw == "" {
		return fosite.ErrInvalidRequest.WithHint("The refresh_token parameter is missing.")
	}
	if !isLatchToken(raw) {
		// Perhaps a token of another system, moved in by latch sessions
		// import: PopulateTokenEndpointResponse looks it up by its hash.
		if len(raw) > maxImportedToken {
			return errInvalidRefresh
		}
		return nil
	}
	if parsed, ok := g.p.strategy.parse(ctx, raw); !ok || parsed.kind != "refresh" {
		return errInvalidRefresh
	}
	return nil
}

// PopulateTokenEndpointResponse rotates, in one transaction that reads the
// token with its family and locks the family. Checks that refuse without
// harm come first: another client's token, a wider scope. Then the
// refresh is compared with the login's previous step (signals.go); with
// LATCH_ANOMALY_ACTION=revoke, a listed signal ends the login here, in
// the same transaction, instead of rotating. A spent token
// presented again within the grace window gets the sealed response of its
// rotation; after it, reuse revokes the whole family (unless reuse
// detection only reports), and that revocation commits even though the
// request fails. Every contested outcome is invalid_grant.
func (g *refreshGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !ar.GetGrantTypes().ExactOne(GrantRefreshToken) {
		return fosite.ErrUnknownRequest
	}
	p, now := g.p, g.p.now()
	presented := ar.GetRequestForm().Get("refresh_token")
	client := ar.GetClient().GetID()
	var key string
	if isLatchToken(presented) {
		key = tokenKey(p.strategy.RefreshTokenSignature(ctx, strings.TrimPrefix(presented, RefreshTokenPrefix)))
	} else {
		// An imported token, or nothing. One plain read first, so that a
		// token that was never imported costs no transaction; a Latch
		// token never comes here.
		key = importedKey(sha256.Sum256([]byte(presented)))
		if _, _, err := p.store.GetTokenFamily(ctx, key); ErrorCode(err) == ENotFound {
			return errInvalidRefresh
		} else if err != nil {
			return storageError("refresh", err)
		}
	}

	var out minted
	var scopes []string
	var refused error
	// A replay is the first answer again (API.md: the very same response),
	// so its expires_in counts from the rotation, not from now.
	answeredAt := now
	var rotated storage.Event // reported once committed
	err := p.inTx(ctx, func(ctx context.Context) error {
		tok, fam, err := p.store.LockTokenFamily(ctx, key)
		if err != nil {
			return err
		}
		if tok.Kind != storage.KindRefresh || tok.ClientID != client {
			// Another client's token: refused, untouched (API.md).
			refused = errInvalidRefresh
			return nil
		}
		// A bound refresh token without its key is refused before any
		// other judgement: it spends nothing and counts as no reuse.
		if refused = checkRefreshBinding(ctx, ar, fam); refused != nil {
			return nil
		}
		// The proof is recorded here, in the rotation's transaction, not
		// in one of its own before it: a replayed proof is refused (and
		// spends nothing), and a refresh costs one transaction.
		if proof := dpopFrom(ctx); proof != nil {
			if refused, err = p.useProof(ctx, proof); refused != nil || err != nil {
				return err
			}
		}
		event := storage.Event{FamilyID: fam.ID, ClientID: client, UserID: fam.UserID}
		switch {
		case fam.Revoked():
			refused = fosite.ErrInvalidGrant.WithHint("The login has ended.")
			return nil
		case !now.Before(fam.ExpiresAt):
			refused = fosite.ErrInvalidGrant.WithHint("The login has reached its maximum age.")
			return nil
		case !tok.SpentAt.IsZero():
			if now.Before(tok.SpentAt.Add(p.cfg.RefreshGrace)) && tok.Replay != nil {
				if out, scopes, err = openReplay(presented, key, tok.Replay); err == nil {
					answeredAt, out.bound = tok.SpentAt, fam.DPoPJKT != ""
					event.Type = EventReplayed
					return p.audit(ctx, event)
				}
			}
			refused, err = p.reuseDetected(ctx, fam, event, now)
			return err
		case !now.Before(tok.ExpiresAt):
			refused = fosite.ErrInvalidGrant.WithHint("The refresh token has expired.")
			return nil
		}
		// A narrower scope may be asked for the new access token; the new
		// refresh token keeps the login's scope. A wider one is refused
		// before the token is spent.
		if scopes, refused = narrowScopes(ar.GetRequestedScopes(), fam.Scopes); refused != nil {
			return nil
		}
		// Compared with the previous step from the family row just read;
		// the rotation writes the new step with its touch of the family.
		step, signals := p.nextStep(ctx, fam.Step, now)
		event.Signals = signals
		if p.anomaly(signals) {
			refused = fosite.ErrInvalidGrant.WithHint("The refresh looked unlike the login's previous step; the login has been ended.")
			return p.revokeFamily(ctx, fam, storage.ReasonAnomaly, event, now)
		}
		var issued []*storage.Token
		if out, issued, err = p.generate(ctx, ar, fam, scopes, true, key, now); err != nil {
			return err
		}
		var sealed []byte
		if p.cfg.RefreshGrace > 0 {
			if sealed, err = sealReplay(presented, key, out, scopes); err != nil {
				return err
			}
		}
		event.Type = EventRefreshed
		rotated = p.stamp(ctx, event)
		return p.store.Rotate(ctx, storage.Rotation{
			SpentKey: key, SpentAt: now, Replay: sealed, FamilyID: fam.ID, Step: step, Issued: issued, Event: &rotated,
		})
	})
	switch code := ErrorCode(err); {
	case code == ENotFound, code == EConflict:
		// The family or token vanished, or the database reported a
		// serialization failure: contested, so invalid_grant (API.md).
		return errInvalidRefresh.WithWrap(err)
	case err != nil:
		return storageError("refresh", err)
	case refused != nil:
		return refused
	}
	if rotated.ID != 0 {
		p.report(ctx, rotated)
	}
	out.write(resp, scopes, answeredAt)
	return nil
}

// narrowScopes returns the scopes granted to a refreshed access token: the
// requested ones if the login holds them all, else the login's.
func narrowScopes(requested, granted []string) ([]string, error) {
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return nil, fosite.ErrInvalidScope.WithHintf("Scope %q was not granted to this login.", truncate(s, 64))
		}
	}
	if len(requested) == 0 {
		return granted, nil
	}
	return dedupe(requested), nil
}
