package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchhq/latch/storage"
)

var errBadCredentials = errors.New("oauth: bad credentials")

// authenticate checks a username and password. Unknown users, disabled users
// and wrong passwords all return errBadCredentials after one argon2id
// verification, so none can be told apart by answer or by time. A hash with
// outdated parameters, or a bcrypt hash imported from elsewhere, is replaced
// by a current argon2id hash. Any other error (busy, a request that ended
// while it waited for a hashing slot, a database error) judged no password.
func (p *Provider) authenticate(ctx context.Context, username, password string) (*storage.User, error) {
	user, err := p.store.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		user, err = nil, nil
	} else if err != nil {
		return nil, err
	}
	var hash string
	if user != nil {
		hash = user.PasswordHash
	}
	if err := p.pw.verify(ctx, hash, password); err != nil {
		switch {
		case errors.Is(err, errHashBusy):
			return nil, busyError(err)
		case errors.Is(err, errHashMismatch):
		case Canceled(ctx, err):
			// The client hung up or ran out of time while it waited for a
			// slot: nothing was checked, nothing must count.
			return nil, err
		case user != nil:
			p.log.ErrorContext(ctx, "unusable password hash", "user_id", user.ID, "err", err)
		}
		return nil, errBadCredentials
	}
	if user.Disabled {
		return nil, errBadCredentials
	}
	if needsRehash(user.PasswordHash, p.pw.params) {
		p.rehash(ctx, user, password)
	}
	return user, nil
}

// rehash upgrades a user's stored hash; failure only postpones it. The
// write is a compare-and-swap on the hash that was read and verified, and
// leaves PasswordChangedAt alone: an operator's password change that
// committed since the read stays, and the login is then refused when it is
// recorded (its PasswordChangedAt no longer matches). A blind write here
// brought the old password back and the new one stopped working.
func (p *Provider) rehash(ctx context.Context, u *storage.User, password string) {
	h, err := p.pw.hash(ctx, password)
	var upgraded bool
	if err == nil {
		upgraded, err = p.store.UpgradePasswordHash(ctx, u.ID, u.PasswordHash, h)
	}
	switch {
	case err != nil && Canceled(ctx, err):
		// The login is answered already, or its client gone.
		p.log.DebugContext(ctx, "password rehash postponed: the request ended", "user_id", u.ID, "err", err)
	case err != nil:
		p.log.WarnContext(ctx, "password rehash postponed", "user_id", u.ID, "err", err)
	case !upgraded:
		p.log.InfoContext(ctx, "password rehash dropped: the password changed meanwhile", "user_id", u.ID)
	}
}

// ClientSpec is the RFC 7591 metadata an operator registers a client with.
type ClientSpec struct {
	ID            string
	Secret        string
	Name          string
	GrantTypes    []string
	Scope         string
	AuthMethod    string
	CanIntrospect bool
	Audience      []string
}

// CreateClient validates spec and stores the client. It returns the client
// and its secret in the clear — shown this once, generated when a
// confidential client has none. Errors have the code EInvalid or
// EAlreadyExists ([ErrorCode]).
func (p *Provider) CreateClient(ctx context.Context, spec ClientSpec) (*storage.Client, string, error) {
	if spec.AuthMethod == "" {
		spec.AuthMethod = storage.AuthMethodBasic
	}
	switch spec.AuthMethod {
	case storage.AuthMethodBasic, storage.AuthMethodPost, storage.AuthMethodNone:
	default:
		return nil, "", invalid("token_endpoint_auth_method: %q is not supported (client_secret_basic, client_secret_post, none)", truncate(spec.AuthMethod, 40))
	}
	public := spec.AuthMethod == storage.AuthMethodNone
	if public && spec.CanIntrospect {
		// API.md: only confidential clients may introspect. Refused here,
		// so that no stored client claims a right it can never use.
		return nil, "", invalid("can_introspect: a public client (token_endpoint_auth_method none) cannot introspect")
	}
	if len(spec.GrantTypes) == 0 {
		return nil, "", invalid("grant_types: at least one of %s is required", grantList())
	}
	for _, name := range spec.GrantTypes {
		switch g, ok := grantNamed(name); {
		case !ok:
			return nil, "", invalid("grant_types: %q is not supported (%s)", truncate(name, 40), grantList())
		case public && !g.publicClients:
			return nil, "", invalid("grant_types: a public client (token_endpoint_auth_method none) cannot use %s", name)
		}
	}
	if spec.ID == "" {
		spec.ID = newID(16)
	} else if err := checkVSChar("client_id", spec.ID, 255); err != nil {
		return nil, "", err
	}
	if len(spec.Name) > 255 || !utf8.ValidString(spec.Name) || strings.ContainsFunc(spec.Name, unicode.IsControl) {
		return nil, "", invalid("client_name: must be valid UTF-8 of at most 255 bytes, without control characters")
	}
	scopes := strings.Fields(spec.Scope)
	for _, s := range scopes {
		if err := checkScopeToken(s); err != nil {
			return nil, "", err
		}
	}
	for _, a := range spec.Audience {
		if a == "" || len(a) > 512 || !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return nil, "", invalid("audience: each entry must be a non-empty identifier of UTF-8 without spaces or control characters")
		}
	}
	c := &storage.Client{
		ID: spec.ID, Name: spec.Name, GrantTypes: dedupe(spec.GrantTypes), Scopes: dedupe(scopes),
		AuthMethod: spec.AuthMethod, CanIntrospect: spec.CanIntrospect, Audience: dedupe(spec.Audience),
		CreatedAt: p.now(),
	}
	secret := spec.Secret
	switch {
	case public && secret != "":
		return nil, "", invalid("client_secret: a public client (token_endpoint_auth_method none) has no secret")
	case public:
	case secret == "":
		// 256 bits: a fast hash is enough, and keeps client authentication
		// in microseconds (DESIGN.md "Costs on the hot path").
		secret = randomString(32)
		c.SecretHash = hashSHA256(secret)
	default:
		if err := checkVSChar("client_secret", secret, 512); err != nil {
			return nil, "", err
		}
		h, err := p.pw.hash(ctx, secret)
		if err != nil {
			return nil, "", err
		}
		c.SecretHash = h
	}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("oauth: create client: %w", err)
	}
	return c, secret, nil
}

// Client returns a client. Errors wrap storage.ErrNotFound.
func (p *Provider) Client(ctx context.Context, id string) (*storage.Client, error) {
	return p.store.GetClient(ctx, id)
}

// Clients lists every client.
func (p *Provider) Clients(ctx context.Context) ([]storage.Client, error) {
	return p.store.ListClients(ctx)
}

// DeleteClient removes a client and ends every login it holds, in one
// transaction, so no token of it works once this returns, on any node.
// The client goes first: from then on the store holds it, so a grant that
// authenticated it before and is now storing its login either has stored
// it already, and the revocation that follows ends it, or waits and then
// fails (storage.ClientStore.DeleteClient). Revoking first left a window
// in which such a login was stored after the revocation and lived on,
// and a client created again under the id took it over (issue 14).
func (p *Provider) DeleteClient(ctx context.Context, id string) error {
	return p.inTx(ctx, func(ctx context.Context) error {
		if err := p.store.DeleteClient(ctx, id); err != nil {
			return err
		}
		return p.revokeAll(ctx, storage.FamilyFilter{ClientID: id}, storage.ReasonClientDeleted)
	})
}

// CreateUser validates and stores a user with an argon2id password hash.
// Errors have the code EInvalid or EAlreadyExists ([ErrorCode]).
func (p *Provider) CreateUser(ctx context.Context, username, password string) (*storage.User, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	hash, err := p.hashPassword(ctx, password)
	if err != nil {
		return nil, err
	}
	now := p.now()
	u := &storage.User{ID: newID(16), Username: username, PasswordHash: hash, CreatedAt: now, PasswordChangedAt: now}
	if err := p.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("oauth: create user: %w", err)
	}
	return u, nil
}

// User returns a user. Errors wrap storage.ErrNotFound.
func (p *Provider) User(ctx context.Context, id string) (*storage.User, error) {
	return p.store.GetUser(ctx, id)
}

// UserByUsername returns the user with that exact username.
func (p *Provider) UserByUsername(ctx context.Context, username string) (*storage.User, error) {
	return p.store.GetUserByUsername(ctx, username)
}

// SetPassword replaces a user's password, ends every login of the user and
// lifts the user's lockout (see [Provider.UnlockUser]): an operator's reset
// is how a locked-out user gets back in.
func (p *Provider) SetPassword(ctx context.Context, id, password string) error {
	hash, err := p.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	return p.inTx(ctx, func(ctx context.Context) error {
		if err := p.store.SetPassword(ctx, id, hash, p.now()); err != nil {
			return err
		}
		if err := p.revokeAll(ctx, storage.FamilyFilter{UserID: id}, storage.ReasonPasswordChanged); err != nil {
			return err
		}
		return p.unlock(ctx, id)
	})
}

// UnlockUser clears the failed logins counted against a user's username,
// so that a user locked out by them can log in again at once. What is
// counted against a client address stays: it is about the caller, not the
// user. Errors wrap storage.ErrNotFound when the user does not exist.
func (p *Provider) UnlockUser(ctx context.Context, id string) error {
	if err := p.unlock(ctx, id); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "login guard: lockout lifted", "user_id", id)
	return nil
}

// SetUserDisabled disables or re-enables a user. Disabling ends every login
// of the user; a disabled user cannot log in.
func (p *Provider) SetUserDisabled(ctx context.Context, id string, disabled bool) (*storage.User, error) {
	var u *storage.User
	err := p.inTx(ctx, func(ctx context.Context) error {
		if err := p.store.SetDisabled(ctx, id, disabled); err != nil {
			return err
		}
		if disabled {
			if err := p.revokeAll(ctx, storage.FamilyFilter{UserID: id}, storage.ReasonUserDisabled); err != nil {
				return err
			}
		}
		var err error
		u, err = p.store.GetUser(ctx, id)
		return err
	})
	return u, err
}

// DeleteUser removes a user and ends every login of the user.
func (p *Provider) DeleteUser(ctx context.Context, id string) error {
	return p.inTx(ctx, func(ctx context.Context) error {
		if err := p.revokeAll(ctx, storage.FamilyFilter{UserID: id}, storage.ReasonUserDeleted); err != nil {
			return err
		}
		return p.store.DeleteUser(ctx, id)
	})
}

// Sessions lists the live logins of a user. Errors wrap storage.ErrNotFound
// when the user does not exist.
func (p *Provider) Sessions(ctx context.Context, userID string) ([]storage.Family, error) {
	if _, err := p.store.GetUser(ctx, userID); err != nil {
		return nil, err
	}
	return p.store.ListLiveFamilies(ctx, storage.FamilyFilter{UserID: userID}, p.now())
}

// SessionEvents returns the audit trail of one login, oldest first. The
// trail outlives the login's row, which the janitor removes once it ended.
func (p *Provider) SessionEvents(ctx context.Context, id string) ([]storage.Event, error) {
	events, err := p.store.ListEvents(ctx, id)
	if err != nil || len(events) > 0 {
		return events, err
	}
	if _, err := p.store.GetFamily(ctx, id); err != nil {
		return nil, err
	}
	return events, nil
}

// RevokeSession ends one login. Errors wrap storage.ErrNotFound.
func (p *Provider) RevokeSession(ctx context.Context, id string) error {
	now := p.now()
	return p.inTx(ctx, func(ctx context.Context) error {
		fam, err := p.store.LockFamily(ctx, id)
		if err != nil {
			return err
		}
		return p.revokeFamily(ctx, fam, storage.ReasonAdmin, storage.Event{FamilyID: fam.ID, ClientID: fam.ClientID, UserID: fam.UserID}, now)
	})
}

// RevokeUserSessions logs a user out everywhere. Errors wrap
// storage.ErrNotFound when the user does not exist.
func (p *Provider) RevokeUserSessions(ctx context.Context, userID string) error {
	return p.inTx(ctx, func(ctx context.Context) error {
		if _, err := p.store.GetUser(ctx, userID); err != nil {
			return err
		}
		if err := p.audit(ctx, storage.Event{Type: EventLogoutAll, UserID: userID}); err != nil {
			return err
		}
		return p.revokeAll(ctx, storage.FamilyFilter{UserID: userID}, storage.ReasonLogoutAll)
	})
}

// revokeAll ends every live login matching filter and records each.
func (p *Provider) revokeAll(ctx context.Context, filter storage.FamilyFilter, reason string) error {
	now := p.now()
	ids, err := p.store.RevokeFamilies(ctx, filter, reason, now)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := p.denyFamily(ctx, id, now); err != nil {
			return err
		}
		e := storage.Event{Type: EventFamilyRevoked, FamilyID: id, ClientID: filter.ClientID, UserID: filter.UserID, Reason: reason}
		if err := p.audit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

func (p *Provider) hashPassword(ctx context.Context, password string) (string, error) {
	if password == "" {
		return "", invalid("password: must not be empty")
	}
	if len(password) > 1024 {
		return "", invalid("password: must be at most 1024 bytes")
	}
	return p.pw.hash(ctx, password)
}

func checkUsername(u string) error {
	if u == "" || len(u) > 255 || !utf8.ValidString(u) {
		return invalid("username: must be 1 to 255 bytes of UTF-8")
	}
	if strings.ContainsFunc(u, unicode.IsControl) || strings.TrimSpace(u) != u {
		return invalid("username: must not contain control characters or leading/trailing spaces")
	}
	return nil
}

// checkVSChar enforces RFC 6749 Appendix A's VSCHAR (%x20-7E) for client ids
// and secrets.
func checkVSChar(field, v string, max int) error {
	if v == "" || len(v) > max {
		return invalid("%s: must be 1 to %d characters", field, max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return invalid("%s: only printable ASCII (RFC 6749 VSCHAR) is allowed", field)
		}
	}
	return nil
}

// checkScopeToken enforces RFC 6749 §3.3's scope-token (NQCHAR).
func checkScopeToken(s string) error {
	if len(s) > 128 {
		return invalid("scope: a scope must be at most 128 characters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return invalid("scope: %q holds a character RFC 6749 §3.3 does not allow", truncate(s, 40))
		}
	}
	return nil
}

// randomString returns n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b64.EncodeToString(b)
}

// newID returns a random identifier of n bytes for a client, a user or a
// key. Operators type these on command lines, where one that starts with
// "-" would be taken for a flag (1 in 64 did), so none does.
func newID(n int) string {
	for {
		if id := randomString(n); id[0] != '-' {
			return id
		}
	}
}
