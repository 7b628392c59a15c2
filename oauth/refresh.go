package oauth

import (
	"context"
	"errors"
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

// HandleTokenEndpointRequest checks everything that needs no lock: the
// client's grant, the token's HMAC, that the token belongs to this client,
// and the scope. Nothing is changed here, so a request that fails these
// checks harms no one's login.
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
	parsed, ok := g.p.strategy.parse(ctx, raw)
	if !ok || parsed.kind != "refresh" {
		return errInvalidRefresh
	}
	tok, err := g.p.store.GetToken(ctx, parsed.key)
	if errors.Is(err, storage.ErrNotFound) {
		return errInvalidRefresh
	} else if err != nil {
		return storageError("get refresh token", err)
	}
	if tok.Kind != storage.KindRefresh || tok.ClientID != ar.GetClient().GetID() {
		// Another client's token: refuse without touching it (API.md).
		return errInvalidRefresh
	}
	fam, err := g.p.store.GetFamily(ctx, tok.FamilyID)
	if errors.Is(err, storage.ErrNotFound) {
		return errInvalidRefresh
	} else if err != nil {
		return storageError("get family", err)
	}
	// A narrower scope may be asked for the new access token; the new
	// refresh token keeps the login's scope.
	requested := ar.GetRequestedScopes()
	for _, s := range requested {
		if !fosite.Arguments(fam.Scopes).Has(s) {
			return fosite.ErrInvalidScope.WithHintf("Scope %q was not granted to this login.", truncate(s, 64))
		}
	}
	if len(requested) == 0 {
		requested = fam.Scopes
	}
	for _, s := range dedupe(requested) {
		ar.GrantScope(s)
	}
	for _, a := range fam.Audience {
		ar.GrantAudience(a)
	}
	ar.SetID(fam.ID)
	sess := ar.GetSession().(*fosite.DefaultSession)
	sess.Subject, sess.Username = fam.UserID, fam.Username
	return nil
}

// PopulateTokenEndpointResponse rotates under the family lock. A spent token
// presented again within the grace window gets the sealed response of its
// rotation; after it, reuse revokes the whole family, and that revocation
// commits even though the request fails. Every contested outcome is
// invalid_grant.
func (g *refreshGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !ar.GetGrantTypes().ExactOne(GrantRefreshToken) {
		return fosite.ErrUnknownRequest
	}
	p, now := g.p, g.p.now()
	presented := ar.GetRequestForm().Get("refresh_token")
	key := tokenKey(p.strategy.RefreshTokenSignature(ctx, strings.TrimPrefix(presented, RefreshTokenPrefix)))
	client := ar.GetClient().GetID()

	var out minted
	scopes := []string(ar.GetGrantedScopes())
	var refused error
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		fam, err := p.store.LockFamily(ctx, ar.GetID())
		if err != nil {
			return err
		}
		tok, err := p.store.GetToken(ctx, key)
		if err != nil {
			return err
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
					event.Type = EventReplayed
					return p.audit(ctx, event)
				}
			}
			refused = fosite.ErrInvalidGrant.WithHint("The refresh token was already used; the login has been ended.")
			return p.revokeFamily(ctx, fam, storage.ReasonReuse, event, now)
		case !now.Before(tok.ExpiresAt):
			refused = fosite.ErrInvalidGrant.WithHint("The refresh token has expired.")
			return nil
		}
		if out, err = p.mint(ctx, ar, fam, scopes, true, key, now); err != nil {
			return err
		}
		var sealed []byte
		if p.cfg.RefreshGrace > 0 {
			if sealed, err = sealReplay(presented, key, out, scopes); err != nil {
				return err
			}
		}
		if err := p.store.SpendToken(ctx, key, now, sealed); err != nil {
			return err
		}
		if err := p.store.TouchFamily(ctx, fam.ID, now); err != nil {
			return err
		}
		event.Type = EventRefreshed
		return p.audit(ctx, event)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		// The family or token vanished, or the database reported a
		// serialization failure: contested, so invalid_grant (API.md).
		return errInvalidRefresh.WithWrap(err)
	case err != nil:
		return storageError("refresh", err)
	case refused != nil:
		return refused
	}
	out.write(resp, scopes, now)
	return nil
}
