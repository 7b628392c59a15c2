package oauth

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// revocation is Latch's RFC 7009 handler. Unlike fosite's it checks the
// token's HMAC before any lookup, refuses another client's token with
// unauthorized_client instead of a silent 200, and ends the whole login in
// one transaction (FOSITE.md §5).
type revocation struct{ p *Provider }

var _ fosite.RevocationHandler = (*revocation)(nil)

// RevokeToken ends the login of token. Unknown, expired and garbage tokens
// are not an error (RFC 7009 §2.2).
func (h *revocation) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	p := h.p
	if token == "" {
		return fosite.ErrInvalidRequest.WithHint("The token parameter is missing.")
	}
	parsed, ok := p.strategy.parse(ctx, token)
	if !ok && looksLikeJWT(token) {
		var err error
		if parsed, _, ok, err = p.parseAccessJWT(ctx, token); err != nil {
			return storageError("revoke", err)
		}
	}
	if !ok {
		return nil
	}
	now := p.now()
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		tok, fam, err := p.store.LockTokenFamily(ctx, parsed.key)
		if err != nil {
			return err
		}
		if tok.ClientID != client.GetID() {
			return fosite.ErrUnauthorizedClient.WithHint("The token was issued to another client.")
		}
		if fam.Revoked() {
			return nil // already ended: nothing to do, nothing to record
		}
		e := storage.Event{Type: EventRevoked, FamilyID: fam.ID, ClientID: tok.ClientID, UserID: fam.UserID}
		if err := p.audit(ctx, e); err != nil {
			return err
		}
		return p.revokeFamily(ctx, fam, storage.ReasonRevoked, e, now)
	})
	var rfc *fosite.RFC6749Error
	switch {
	case err == nil, errors.Is(err, storage.ErrNotFound):
		return nil
	case errors.As(err, &rfc):
		return err
	default:
		return storageError("revoke", err)
	}
}
