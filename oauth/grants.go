package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// passwordGrant is the resource owner password credentials grant
// (RFC 6749 §4.3). It starts a login: a new family with an absolute end at
// SessionMaxAge, an access token and, when the client may refresh, a refresh
// token — all in one transaction.
type passwordGrant struct {
	p      passwordProvider
	store  passwordStore
	maxAge time.Duration // Config.SessionMaxAge: a login's absolute end
}

// passwordProvider is what the password grant uses of the [Provider]: the
// login guard (guard.go), the password check, transactions with their
// audit trail, and token minting.
type passwordProvider interface {
	minter
	reserveLogin(ctx context.Context, username string) (*loginAttempt, error)
	authenticate(ctx context.Context, username, password string) (*storage.User, error)
	release(ctx context.Context, a *loginAttempt)
	settle(ctx context.Context, a *loginAttempt) error
	succeeded(ctx context.Context, a *loginAttempt)
	inTx(ctx context.Context, fn func(ctx context.Context) error) error
	audit(ctx context.Context, e storage.Event) error
	loginRefused(reason string)
}

// passwordStore locks the user while the login is recorded, and records it.
type passwordStore interface {
	storage.UserStore
	storage.FamilyStore
}

func newPasswordGrant(p *Provider) fosite.TokenEndpointHandler {
	return &passwordGrant{p: p, store: p.store, maxAge: p.cfg.SessionMaxAge}
}

var _ fosite.TokenEndpointHandler = (*passwordGrant)(nil)

func (g *passwordGrant) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantPassword)
}

func (g *passwordGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (g *passwordGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !ar.GetGrantTypes().ExactOne(GrantPassword) {
		return fosite.ErrUnknownRequest
	}
	if err := requireGrant(ar, GrantPassword); err != nil {
		return err
	}
	// Scope and audience are checked before the password, so a bad request
	// never costs a hash.
	if err := grantRequested(ar); err != nil {
		return err
	}
	form := ar.GetRequestForm()
	username, password := form.Get("username"), form.Get("password")
	delete(form, "password")
	if username == "" || password == "" {
		return fosite.ErrInvalidRequest.WithHint("The username and password parameters are required.")
	}
	attempt, err := g.p.reserveLogin(ctx, username)
	if err != nil {
		if errors.Is(err, errLockedOut) {
			g.p.loginRefused("locked_out")
		}
		return err
	}
	user, err := g.p.authenticate(ctx, username, password)
	if errors.Is(err, errBadCredentials) {
		reason := "bad_credentials"
		if errors.Is(err, errUserDisabled) {
			reason = "user_disabled"
		}
		g.p.loginRefused(reason)
		return fosite.ErrInvalidGrant.WithHint("The username or password is wrong.")
	} else if err != nil {
		// Busy or unavailable: no password was judged, so no failure counts.
		g.p.release(ctx, attempt)
		return err
	}
	// The attempt is settled in the transaction that records the login
	// (PopulateTokenEndpointResponse): one commit fewer per login.
	sess := ar.GetSession().(*fosite.DefaultSession)
	sess.Subject, sess.Username = user.ID, user.Username
	sess.Extra = map[string]any{extraPasswordChangedAt: user.PasswordChangedAt.UnixMicro(), extraLoginAttempt: attempt}
	return nil
}

// Session extras carry, from the password check to the recording of the
// login, which password the login was checked against and the guard's
// attempt to settle.
const (
	extraPasswordChangedAt = "latch_password_changed_at"
	extraLoginAttempt      = "latch_login_attempt"
)

func (g *passwordGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !ar.GetGrantTypes().ExactOne(GrantPassword) {
		return fosite.ErrUnknownRequest
	}
	p, now := g.p, g.p.now()
	sess := ar.GetSession()
	fam := &storage.Family{
		ID:               ar.GetID(),
		ClientID:         ar.GetClient().GetID(),
		ClientGeneration: clientGeneration(ar.GetClient()),
		UserID:           sess.GetSubject(),
		Username:         sess.GetUsername(),
		Scopes:           ar.GetGrantedScopes(),
		Audience:         ar.GetGrantedAudience(),
		CreatedAt:        now,
		LastUsedAt:       now,
		ExpiresAt:        now.Add(g.maxAge),
		DPoPJKT:          proofJKT(ctx),
		// The first step its refreshes are compared with.
		Step: newStep(ctx, now),
	}
	// API.md: a refresh token comes with every password grant whose client
	// may use the refresh_token grant, and with no other.
	withRefresh := ar.GetClient().GetGrantTypes().Has(GrantRefreshToken)
	var out minted
	extra := sess.(*fosite.DefaultSession).Extra
	changedAt := extra[extraPasswordChangedAt]
	attempt, _ := extra[extraLoginAttempt].(*loginAttempt)
	var refused, gone error
	err := p.inTx(ctx, func(ctx context.Context) error {
		// The user row is locked while the login is recorded: a concurrent
		// disable, password change or delete either comes first (and the
		// login is refused) or comes after (and ends it).
		user, err := g.store.LockUser(ctx, fam.UserID)
		switch {
		case errors.Is(err, storage.ErrNotFound) || err == nil && (user.Disabled || user.PasswordChangedAt.UnixMicro() != changedAt):
			refused = fosite.ErrInvalidGrant.WithHint("The username or password is wrong.")
		case err != nil:
			return err
		default:
			var traces []*storage.Token
			if out, traces, err = p.generate(ctx, ar, fam, fam.Scopes, withRefresh, "", now); err != nil {
				return err
			}
			if err := g.store.CreateFamily(ctx, fam, traces...); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					gone = err
				}
				return err
			}
			if err := p.audit(ctx, storage.Event{Type: EventIssued, FamilyID: fam.ID, ClientID: fam.ClientID, UserID: fam.UserID}); err != nil {
				return err
			}
		}
		// Last, so that the address's counter, which every login from that
		// address updates, stays locked for this statement and the commit
		// only. The password was right, refused or not.
		return p.settle(ctx, attempt)
	})
	if err != nil {
		// Then the attempt was not settled either; it still may be.
		p.succeeded(ctx, attempt)
		if gone != nil {
			return clientGone(fam, gone)
		}
		return storageError("password grant", err)
	}
	if refused != nil {
		// The user was disabled, deleted or given a new password since
		// the password was checked.
		p.loginRefused("user_changed")
		return refused
	}
	out.write(resp, fam.Scopes, now)
	return nil
}

// clientCredentialsGrant is RFC 6749 §4.4. Its access token gets a family of
// its own, so that revocation works the same for every token.
type clientCredentialsGrant struct {
	mint     minter
	families storage.FamilyStore
	ttl      time.Duration // Config.AccessTokenTTL: the family ends with its token
}

func newClientCredentialsGrant(p *Provider) fosite.TokenEndpointHandler {
	return &clientCredentialsGrant{mint: p, families: p.store, ttl: p.cfg.AccessTokenTTL}
}

var _ fosite.TokenEndpointHandler = (*clientCredentialsGrant)(nil)

func (g *clientCredentialsGrant) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(GrantClientCredentials)
}

func (g *clientCredentialsGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (g *clientCredentialsGrant) HandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) error {
	if !ar.GetGrantTypes().ExactOne(GrantClientCredentials) {
		return fosite.ErrUnknownRequest
	}
	if err := requireGrant(ar, GrantClientCredentials); err != nil {
		return err
	}
	return grantRequested(ar)
}

func (g *clientCredentialsGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !ar.GetGrantTypes().ExactOne(GrantClientCredentials) {
		return fosite.ErrUnknownRequest
	}
	now := g.mint.now()
	fam := &storage.Family{
		ID:               ar.GetID(),
		ClientID:         ar.GetClient().GetID(),
		ClientGeneration: clientGeneration(ar.GetClient()),
		Scopes:           ar.GetGrantedScopes(),
		Audience:         ar.GetGrantedAudience(),
		CreatedAt:        now,
		LastUsedAt:       now,
		ExpiresAt:        now.Add(g.ttl),
		DPoPJKT:          proofJKT(ctx),
	}
	out, traces, err := g.mint.generate(ctx, ar, fam, fam.Scopes, false, "", now)
	if err == nil {
		if err = g.families.CreateFamily(ctx, fam, traces...); errors.Is(err, storage.ErrNotFound) {
			return clientGone(fam, err)
		}
	}
	if err != nil {
		return storageError("client credentials grant", err)
	}
	out.write(resp, fam.Scopes, now)
	return nil
}

// clientGeneration is the [storage.Client.Generation] of an authenticated
// client, which the login it starts records.
func clientGeneration(c fosite.Client) string {
	if fc, ok := c.(fositeClient); ok {
		return fc.c.Generation
	}
	return ""
}

// clientGone answers a grant whose login could not be stored because its
// client, authenticated moments before, has been deleted (or deleted and
// created again) since: the client no longer exists, so RFC 6749 §5.2's
// invalid_client. The store checks the client in the statement that
// stores the login, holding it against a concurrent DeleteClient, so that
// no login outlives the deletion of its client (API.md: DELETE
// /admin/clients/{client_id}); checking again before the write would leave
// a window and cost a round trip.
func clientGone(fam *storage.Family, cause error) error {
	return clientAuthFailed(fmt.Sprintf("client %.64q was deleted during the grant", fam.ClientID), cause)
}

// grantRequested grants the requested scopes and audiences when the client
// is allowed all of them, and the client's own when none are requested
// (RFC 6749 §3.3 lets the server apply a default).
func grantRequested(ar fosite.AccessRequester) error {
	client := ar.GetClient()
	scopes := ar.GetRequestedScopes()
	for _, s := range scopes {
		if !client.GetScopes().Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The client may not request scope %q.", truncate(s, 64))
		}
	}
	if len(scopes) == 0 {
		scopes = client.GetScopes()
	}
	for _, s := range dedupe(scopes) {
		ar.GrantScope(s)
	}
	audience := ar.GetRequestedAudience()
	for _, a := range audience {
		if !client.GetAudience().Has(a) {
			return fosite.ErrInvalidRequest.WithHintf("The client may not request audience %q.", truncate(a, 64))
		}
	}
	if len(audience) == 0 {
		audience = client.GetAudience()
	}
	for _, a := range dedupe(audience) {
		ar.GrantAudience(a)
	}
	return nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// minter is what every grant uses to issue tokens: the clock and
// [Provider.generate].
type minter interface {
	now() time.Time
	generate(ctx context.Context, ar fosite.Requester, fam *storage.Family, scopes []string, withRefresh bool, parentKey string, now time.Time) (minted, []*storage.Token, error)
}

// minted holds freshly issued tokens until they are written to the client.
type minted struct {
	access    string
	accessExp time.Time
	refresh   string
	bound     bool // the access token is bound to a DPoP key
}

// generate issues an access token with scopes and, if withRefresh, a
// refresh token carrying the family's full scope, and returns their traces
// for the caller to store. No token outlives its family.
func (p *Provider) generate(ctx context.Context, ar fosite.Requester, fam *storage.Family, scopes []string, withRefresh bool, parentKey string, now time.Time) (minted, []*storage.Token, error) {
	out := minted{bound: fam.DPoPJKT != ""}
	out.accessExp = earliest(now.Add(p.cfg.AccessTokenTTL), fam.ExpiresAt)
	slot := statusSlotOf(ctx)
	at, atKey, err := p.issueAccessToken(ctx, ar, fam, scopes, now, out.accessExp, slot)
	if err != nil {
		return out, nil, err
	}
	out.access = at
	traces := []*storage.Token{{
		Key: atKey, Kind: storage.KindAccess, FamilyID: fam.ID, ClientID: fam.ClientID,
		Scopes: scopes, IssuedAt: now, ExpiresAt: out.accessExp,
	}}
	if p.JWTAccessTokens() {
		traces[0].StatusList, traces[0].StatusIdx = slot.list, slot.idx
	}
	if !withRefresh {
		return out, traces, nil
	}
	rt, rtSig, err := p.strategy.GenerateRefreshToken(ctx, ar)
	if err != nil {
		return out, nil, err
	}
	out.refresh = rt
	traces = append(traces, &storage.Token{
		Key: tokenKey(rtSig), Kind: storage.KindRefresh, FamilyID: fam.ID, ClientID: fam.ClientID,
		Scopes: fam.Scopes, IssuedAt: now, ExpiresAt: earliest(now.Add(p.cfg.RefreshTokenTTL), fam.ExpiresAt),
		ParentKey: parentKey,
	})
	return out, traces, nil
}

func (m minted) write(resp fosite.AccessResponder, scopes []string, now time.Time) {
	resp.SetAccessToken(m.access)
	resp.SetTokenType(TokenTypeBearer) // RFC 6750's spelling, as in introspection answers
	if m.bound {
		resp.SetTokenType(TokenTypeDPoP)
	}
	resp.SetExpiresIn(m.accessExp.Sub(now))
	if len(scopes) > 0 {
		resp.SetScopes(scopes)
	}
	if m.refresh != "" {
		resp.SetExtra("refresh_token", m.refresh)
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
