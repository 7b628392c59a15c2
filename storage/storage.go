// Package storage declares what Latch needs from persistence: the domain types
// (clients, users, logins and tokens), narrow store interfaces and the sentinel
// errors every backend returns. It imports only the standard library.
//
// The database never holds a usable token: a [Token] is keyed by a hash of the
// HMAC signature of the token, computed by package oauth. Everything that
// decides whether a token is valid (expiry, revocation, rotation) lives in
// package oauth; backends only store and fetch faithfully.
//
// A login is a [Family] here and a "session" outside: in the admin API, the
// CLI and their JSON. The code keeps "family", the name of the chain of
// refresh tokens that rotation (RFC 9700 §4.14.2) makes, because the
// rotation and reuse rules are written against it; operators see
// "session". One family is one session, and a session's id is its
// family's id.
//
// Backends live in sub-packages (storage/sqlstore); storage/storagetest is the
// conformance suite they all pass.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with context; test them with [errors.Is].
var (
	// ErrNotFound means the record does not exist. A key no record can hold
	// (text with a NUL byte, or bytes that are not UTF-8) names none, on
	// every backend; stores are given such text only to look it up.
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists means a unique key (client id, username, token key) is taken.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrConflict means a conditional write lost a race (for example a refresh
	// token that another transaction spent first), or the database reported a
	// serialization failure. The caller may re-read and decide again.
	ErrConflict = errors.New("storage: conflict")
	// ErrUnavailable means the database could not be reached or failed in a way
	// that says nothing about the data. Callers answer 503 and retry later.
	// A call whose context ended first returns an error that wraps the
	// context's error (context.Canceled or DeadlineExceeded) instead: that
	// is the caller's decision, not an outage.
	ErrUnavailable = errors.New("storage: unavailable")
)

// Client authentication methods (RFC 7591 token_endpoint_auth_method).
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// Client is an OAuth2 client. SecretHash is self-describing (see package
// oauth); it is empty for public clients.
type Client struct {
	ID            string
	Name          string
	SecretHash    string
	GrantTypes    []string
	Scopes        []string
	AuthMethod    string
	CanIntrospect bool
	Audience      []string
	// DPoPBoundAccessTokens is RFC 9449 §5.2's dpop_bound_access_tokens:
	// every token request of the client must carry a DPoP proof.
	DPoPBoundAccessTokens bool
	CreatedAt             time.Time
	// Generation tells this client from every other that held, or will
	// hold, its id: CreateClient sets it to a new random value. A login
	// records the generation of the client it was granted to (see
	// [FamilyStore.CreateFamily]), so that a client deleted and created
	// again under the same id inherits none of the old one's logins.
	Generation string
}

// IsPublic reports whether the client authenticates with its id alone.
func (c *Client) IsPublic() bool { return c.AuthMethod == AuthMethodNone }

// User is a resource owner who signs in with the password grant.
type User struct {
	ID                string
	Username          string
	PasswordHash      string
	Disabled          bool
	CreatedAt         time.Time
	PasswordChangedAt time.Time
}

// Reasons recorded when a family is revoked.
const (
	ReasonRevoked         = "revoked"          // RFC 7009 revocation of one of its tokens
	ReasonReuse           = "reuse_detected"   // a spent refresh token came back
	ReasonAdmin           = "admin"            // an operator ended the login
	ReasonLogoutAll       = "logout_all"       // an operator ended every login of a user
	ReasonPasswordChanged = "password_changed" // the user's password changed
	ReasonUserDisabled    = "user_disabled"
	ReasonUserDeleted     = "user_deleted"
	ReasonClientDeleted   = "client_deleted"
	ReasonAnomaly         = "anomaly" // a refresh raised a signal that LATCH_ANOMALY_SIGNALS acts on
)

// Family is one login: the chain of refresh and access tokens that descends
// from one password grant (or one client_credentials grant). Revoking the
// family ends every token in it. The admin API, the CLI and their JSON call
// it a session, with the same id (see the package doc).
type Family struct {
	ID       string
	ClientID string
	// ClientGeneration is the [Client.Generation] of the client the login
	// was granted to.
	ClientGeneration string
	UserID           string // empty for client_credentials
	Username         string // empty for client_credentials
	Scopes           []string
	Audience         []string
	CreatedAt        time.Time
	// LastUsedAt is the time of the latest grant or refresh.
	LastUsedAt time.Time
	// ExpiresAt is the absolute end of the login; no token outlives it.
	ExpiresAt time.Time
	// RevokedAt is zero while the family is live.
	RevokedAt    time.Time
	RevokeReason string
	// DPoPJKT is the RFC 7638 thumbprint of the key the login's tokens are
	// bound to (RFC 9449), empty for a login without DPoP.
	DPoPJKT string
	// Step is what the login remembers of its latest step (its grant or
	// its last refresh), which package oauth compares the next refresh
	// with. A grant stores it with the family, a [Rotation] replaces it.
	Step Step
}

// Step is a login's latest step as refresh-time signals see it.
type Step struct {
	// Address and UserAgent are the caller's, as the step's event
	// records them.
	Address   string
	UserAgent string
	// BurstStart is when the login's current minute of refreshes began,
	// and BurstCount how many refreshes it has had. A zero BurstStart
	// says the login has no step recorded (it was stored before Latch
	// kept them): then Address and UserAgent are unknown too.
	BurstStart time.Time
	BurstCount int64
}

// Revoked reports whether the family has been revoked.
func (f *Family) Revoked() bool { return !f.RevokedAt.IsZero() }

// TokenKind tells access tokens from refresh tokens.
type TokenKind string

// Token kinds.
const (
	KindAccess  TokenKind = "access"
	KindRefresh TokenKind = "refresh"
)

// Token is the stored trace of an issued token. Key is a hash of the token's
// HMAC signature, never the token or the signature itself.
type Token struct {
	Key      string
	Kind     TokenKind
	FamilyID string
	ClientID string
	// Scopes granted to this token (an access token may be narrower than its
	// family).
	Scopes    []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// SpentAt is set when a refresh token has been rotated; zero while unspent.
	SpentAt time.Time
	// ParentKey is the key of the refresh token this one was rotated from.
	ParentKey string
	// Replay is set on a spent refresh token during the grace window: the
	// response of its rotation, sealed with a key derived from the token
	// itself (package oauth), so it is useless without the token.
	Replay []byte
	// StatusList and StatusIdx are the entry of a JWT access token in a
	// Token Status List ([StatusListStore]); StatusList is empty for
	// every other token.
	StatusList string
	StatusIdx  int64
}

// Event is an audit record. It names the family, client and user concerned,
// never a token or secret.
type Event struct {
	ID        int64
	Type      string
	FamilyID  string
	ClientID  string
	UserID    string
	Reason    string
	Address   string
	UserAgent string
	CreatedAt time.Time
	// Enforced tells, on a reuse_detected event, whether the reuse ended
	// the login (LATCH_REUSE_DETECTION=enforce) or was only reported
	// (report, the shadow mode). Other events leave it false.
	Enforced bool
	// Signals are the refresh-time signals (address_changed, ...) the
	// step raised, on refreshed events and on the family_revoked event
	// of a login they ended; nil on others.
	Signals []string
}

// ClientStore persists clients.
type ClientStore interface {
	// CreateClient stores c and sets c.Generation to a new random value.
	// Returns ErrAlreadyExists if the id is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client. Returns ErrNotFound if it does not exist.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client, ordered by id.
	ListClients(ctx context.Context) ([]Client, error)
	// SetClientSecret replaces the client's secret hash, so that the old
	// secret is refused from the moment it returns, on every node. Returns
	// ErrNotFound if the client does not exist.
	SetClientSecret(ctx context.Context, id, hash string) error
	// DeleteClient removes the client. Returns ErrNotFound if it does not
	// exist. Inside a transaction it holds the client until the transaction
	// ends: a CreateFamily for the client that runs meanwhile waits, and
	// then fails. So the client's families that the transaction reads
	// after DeleteClient (RevokeFamilies by ClientID) are all it will ever
	// have, on every node.
	DeleteClient(ctx context.Context, id string) error
}

// UserStore persists users.
type UserStore interface {
	// CreateUser stores u. Returns ErrAlreadyExists if the id or username is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user. Returns ErrNotFound if it does not exist.
	GetUser(ctx context.Context, id string) (*User, error)
	// LockUser returns the user and, inside a transaction, holds a write lock
	// on it until the transaction ends, so that a login being recorded and a
	// change to the user (disable, password, delete) run one after the
	// other. Returns ErrNotFound if it does not exist.
	LockUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns the user with exactly that username. Returns
	// ErrNotFound if there is none.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// ListUsers returns at most limit users whose username starts with
	// prefix (byte for byte, case-sensitive; "" matches every user),
	// ordered by username.
	ListUsers(ctx context.Context, prefix string, limit int) ([]User, error)
	// SetPassword replaces the password hash and sets PasswordChangedAt to at.
	// Returns ErrNotFound if the user does not exist.
	SetPassword(ctx context.Context, id, hash string, at time.Time) error
	// UpgradePasswordHash replaces the password hash with newHash only if it
	// is still oldHash, in one conditional write, and leaves
	// PasswordChangedAt alone: a login that re-hashes the password it just
	// checked (a new cost, an imported bcrypt hash) must not undo a
	// password change that committed after its read. It reports whether it
	// replaced the hash: false, with a nil error, when the hash is no
	// longer oldHash or the user no longer exists (never ErrNotFound).
	// Other errors are the database's (ErrUnavailable, ErrConflict).
	UpgradePasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error)
	// SetDisabled sets the disabled flag. Returns ErrNotFound if the user does
	// not exist.
	SetDisabled(ctx context.Context, id string, disabled bool) error
	// DeleteUser removes the user. Returns ErrNotFound if it does not exist.
	DeleteUser(ctx context.Context, id string) error
}

// FamilyFilter selects the families of a user, of a client, or both. At least
// one field must be set.
type FamilyFilter struct {
	UserID   string
	ClientID string
}

// FamilyStore persists logins.
type FamilyStore interface {
	// CreateFamily stores f and the tokens that start it, in one statement
	// where the database allows it, if the client f.ClientID exists with
	// the generation f.ClientGeneration; it holds that client, like a
	// foreign key would, until its transaction ends (see DeleteClient).
	// Returns ErrNotFound if the client does not exist (or no longer does,
	// or is another generation), ErrAlreadyExists if the id or a token key
	// is taken, and then stores nothing.
	CreateFamily(ctx context.Context, f *Family, tokens ...*Token) error
	// GetFamily returns the family. Returns ErrNotFound if it does not exist.
	GetFamily(ctx context.Context, id string) (*Family, error)
	// LockFamily returns the family and, inside a transaction, holds a write
	// lock on it until the transaction ends, so that two transactions that lock
	// the same family run one after the other. Returns ErrNotFound if it does
	// not exist.
	LockFamily(ctx context.Context, id string) (*Family, error)
	// TouchFamily sets LastUsedAt. Returns ErrNotFound if it does not exist.
	TouchFamily(ctx context.Context, id string, at time.Time) error
	// RevokeFamily marks a live family revoked with the reason. It reports
	// whether this call revoked it (false if it was already revoked). Returns
	// ErrNotFound if it does not exist. When it revokes the family, it sets,
	// in the same transaction, the status bit of every access token of the
	// family unexpired at at ([StatusListStore]); so do RevokeFamilies, for
	// every family it revokes, and RevokeByToken with DenyAccessTokens.
	RevokeFamily(ctx context.Context, id, reason string, at time.Time) (bool, error)
	// RevokeFamilies revokes every family matching the filter that is
	// neither revoked nor past ExpiresAt at at, and returns the ids it
	// revoked. An empty filter is an error.
	RevokeFamilies(ctx context.Context, filter FamilyFilter, reason string, at time.Time) ([]string, error)
	// ListLiveFamilies returns the families of the filter that are neither
	// revoked nor past ExpiresAt at now, newest first.
	ListLiveFamilies(ctx context.Context, filter FamilyFilter, now time.Time) ([]Family, error)
}

// TokenStore persists token traces.
type TokenStore interface {
	// CreateToken stores the tokens, in one statement. Returns
	// ErrAlreadyExists if a key is taken.
	CreateToken(ctx context.Context, ts ...*Token) error
	// Rotate writes a rotation: spends the token (ErrConflict if it was
	// already spent, and then nothing is written), touches the family
	// (LastUsedAt and Step),
	// stores the new tokens and the event (setting its ID) — in one
	// statement where the database allows it, inside the caller's
	// transaction.
	Rotate(ctx context.Context, r Rotation) error
	// GetTokenFamily returns a token and its family in one read, the hot
	// path of introspection and revocation. Returns ErrNotFound if either
	// does not exist.
	GetTokenFamily(ctx context.Context, key string) (*Token, *Family, error)
	// LookupClientToken reads, in one query, a client and a token with its
	// family: introspection's caller and subject. Returns ErrNotFound if the
	// client does not exist; tok and fam are nil if the token (or its
	// family) does not.
	LookupClientToken(ctx context.Context, clientID, tokenKey string) (c *Client, tok *Token, fam *Family, err error)
	// LockTokenFamily is GetTokenFamily holding, inside a transaction, the
	// write lock of LockFamily on the family, and one on the token; a caller
	// that waited for the locks sees what the previous holder committed.
	LockTokenFamily(ctx context.Context, key string) (*Token, *Family, error)
	// RevokeByToken ends the login of the token r.Key if the token was
	// issued to r.ClientID and the login is live, with its denylist entries
	// and events, in one statement where the database allows it. It
	// returns the token and its family as they were before, and whether
	// this call ended the login. Returns ErrNotFound if the token or its
	// family does not exist.
	RevokeByToken(ctx context.Context, r Revocation) (tok *Token, fam *Family, revoked bool, err error)
	// GetToken returns the token. Returns ErrNotFound if it does not exist.
	GetToken(ctx context.Context, key string) (*Token, error)
	// SpendToken sets SpentAt and Replay on an unspent token. Returns
	// ErrConflict if the token was already spent, ErrNotFound if it does not
	// exist.
	SpendToken(ctx context.Context, key string, at time.Time, replay []byte) error
}

// Rotation is everything one refresh writes once its token is checked.
type Rotation struct {
	// SpentKey is the presented refresh token, spent at SpentAt with Replay.
	SpentKey string
	SpentAt  time.Time
	Replay   []byte
	// FamilyID is the login, whose LastUsedAt becomes SpentAt and whose
	// Step becomes Step.
	FamilyID string
	Step     Step
	// Issued are the new tokens' traces; Event records the rotation.
	Issued []*Token
	Event  *Event
}

// Revocation is what one RFC 7009 revocation writes.
type Revocation struct {
	// Key is the presented token; ClientID the client that presented it.
	Key      string
	ClientID string
	// At and Reason are recorded on the family.
	At     time.Time
	Reason string
	// DenyAccessTokens puts the family's access tokens unexpired at At on
	// the denylist and sets their status list bits (JWT access tokens).
	// Without it, a backend may leave both alone: opaque access tokens
	// die with their family's row.
	DenyAccessTokens bool
	// Events are stored in order when the login ends, and their FamilyID
	// and UserID are set from the family. Their ID may be left unset.
	Events []*Event
}

// PurgeCounts says how many rows one [Purger.Purge] batch removed or wiped.
type PurgeCounts struct {
	Tokens   int64
	Families int64
	Replays  int64
	// Attempts, Denied and Keys count expired login-attempt counters,
	// denylist entries and signing keys no longer published.
	Attempts int64
	Denied   int64
	Keys     int64
	// DPoPJTIs counts DPoP proof ids past their window ([DPoPStore]).
	DPoPJTIs int64
	// StatusLists counts status lists past their ExpiresAt.
	StatusLists int64
	// Events counts audit events past their retention
	// ([EventStore.PurgeEvents]).
	Events int64
}

// AttemptStore counts password attempts per key (a username under an HMAC
// that package oauth keys, or a client address) for the brute-force guard. Each counter lives until
// ExpiresAt; every reservation pushes that to now+window.
type AttemptStore interface {
	// ReserveAttempt atomically adds one attempt to key and returns the count
	// after it. A counter whose ExpiresAt is at or before now starts again at
	// 1. The counter then expires at now+window. Concurrent reservations each
	// see a distinct count, on every node.
	ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// ReleaseAttempt takes one attempt back (never below zero); a missing
	// counter is not an error.
	ReleaseAttempt(ctx context.Context, key string) error
	// ResetAttempts deletes the counter of key; a missing counter is not an
	// error.
	ResetAttempts(ctx context.Context, key string) error
	// CountAttempts returns the counter of each key, in the order given, and
	// changes nothing: the zero AttemptCount for a missing counter or one
	// whose ExpiresAt is at or before now. It is a hint only (the guard reads
	// it to refuse a locked-out attempt without writing, and to say how long
	// the lockout lasts); ReserveAttempt is what counts.
	CountAttempts(ctx context.Context, now time.Time, keys ...string) ([]AttemptCount, error)
}

// AttemptCount is a live attempt counter as CountAttempts reads it.
type AttemptCount struct {
	Count     int
	ExpiresAt time.Time // zero when there is no live counter
}

// SigningKey is a JWT signing key. The private key is stored sealed
// (package oauth encrypts it with a key derived from LATCH_SECRET).
type SigningKey struct {
	ID            string // the JWT kid
	Algorithm     string // ES256 or RS256
	PublicKey     []byte // PKIX DER
	PrivateSealed []byte
	CreatedAt     time.Time
	// RetiredAt is zero while the key signs. A retired key is still
	// published until PublishUntil, when every token it signed has expired.
	RetiredAt    time.Time
	PublishUntil time.Time
}

// KeyStore persists JWT signing keys.
type KeyStore interface {
	// CreateSigningKey stores k. Returns ErrAlreadyExists if the id is taken.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns the keys that are current or still published
	// at now (RetiredAt zero, or PublishUntil after now), newest first.
	ListSigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
	// RetireSigningKeys retires every current key except keepID, setting
	// RetiredAt to at and PublishUntil to publishUntil.
	RetireSigningKeys(ctx context.Context, keepID string, at, publishUntil time.Time) error
}

// DenyStore holds revoked JWT access tokens (by token key, a hash of the
// jti) until they expire.
type DenyStore interface {
	// DenyFamilyAccessTokens puts every access token of the family that is
	// unexpired at now on the denylist until its ExpiresAt, and returns how
	// many it added. Entries already there are kept.
	DenyFamilyAccessTokens(ctx context.Context, familyID string, now time.Time) (int64, error)
	// IsDenied reports whether key is on the denylist.
	IsDenied(ctx context.Context, key string) (bool, error)
}

// Purger deletes what can no longer be used, in small batches, so that the
// tables stay the size of the live logins.
type Purger interface {
	// Purge runs one batch of at most limit rows per kind:
	//   - deletes tokens that are useless at now: access tokens past
	//     ExpiresAt, unspent refresh tokens past ExpiresAt, and every token
	//     of a family that is revoked or past its ExpiresAt. Spent refresh
	//     tokens of a live family are kept: they are what catches reuse;
	//   - deletes families that are revoked or past ExpiresAt and hold no
	//     token any more;
	//   - clears Replay on tokens spent before replayBefore;
	//   - deletes attempt counters and denylist entries past ExpiresAt,
	//     retired signing keys past PublishUntil, and status lists past
	//     ExpiresAt (every token given an index of one has expired).
	// Tokens are deleted before families within one call. Audit events are
	// kept.
	Purge(ctx context.Context, now, replayBefore time.Time, limit int) (PurgeCounts, error)
}

// EventStore persists the audit trail.
type EventStore interface {
	// AppendEvent stores e and sets its ID.
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns the events of a family, oldest first.
	ListEvents(ctx context.Context, familyID string) ([]Event, error)
	// SearchEvents returns the events of every family that match f,
	// newest first: by CreatedAt, then by ID, both descending. It
	// returns at most f.Limit events (none for a limit below 1). Each
	// filter combination reads an index, however many events there are.
	SearchEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// PurgeEvents deletes at most limit events created before before,
	// the oldest first, and returns how many it deleted.
	PurgeEvents(ctx context.Context, before time.Time, limit int) (int64, error)
}

// EventFilter selects events for [EventStore.SearchEvents]. A zero field
// selects every event.
type EventFilter struct {
	Type   string
	UserID string
	// Since keeps the events created at or after it.
	Since time.Time
	// After, when not nil, keeps the events that come after it in
	// SearchEvents' order (older, or as old with a lower ID): the last
	// event of one page starts the next.
	After *EventCursor
	Limit int
}

// EventCursor is a position in SearchEvents' order: an event's CreatedAt
// and ID.
type EventCursor struct {
	CreatedAt time.Time
	ID        int64
}

// EventCount is the number of audit events of one type (and reason, when
// asked for) in one bucket of a [StatsStore.CountEvents] window.
type EventCount struct {
	// Bucket is the index of the bucket: it covers
	// [Since+Bucket*Step, Since+(Bucket+1)*Step).
	Bucket int
	Type   string
	Reason string
	Count  int64
}

// EventCountQuery selects what [StatsStore.CountEvents] counts.
type EventCountQuery struct {
	// Since and Until bound the window [Since, Until); Step, positive,
	// cuts it into buckets from Since.
	Since, Until time.Time
	Step         time.Duration
	// Types lists the event types to count; at least one.
	Types []string
	// ByReason counts each reason apart; without it Reason is "".
	ByReason bool
	// Signaled counts only the events that carry refresh-time signals.
	Signaled bool
}

// StatsStore aggregates the audit trail and the live logins for the
// operator console, in the database: what it returns is small whatever the
// number of events.
type StatsStore interface {
	// CountEvents counts the events of q's types created in q's window,
	// per bucket and type (and reason, with ByReason). Only buckets
	// holding events appear, ordered by bucket, type and reason. A
	// non-positive step or an empty Types is an error.
	CountEvents(ctx context.Context, q EventCountQuery) ([]EventCount, error)
	// CountLiveFamilies returns how many families are neither revoked nor
	// past ExpiresAt at now.
	CountLiveFamilies(ctx context.Context, now time.Time) (int64, error)
}

// DPoPStore remembers the DPoP proofs (RFC 9449 §11.1) a server has
// accepted, by a key that package oauth derives from the proof's key and
// jti, until they are too old to be accepted anyway.
type DPoPStore interface {
	// UseDPoPJTI records key until expiresAt, on every node at once.
	// Returns ErrAlreadyExists if key is recorded and unexpired at now:
	// the proof is a replay.
	UseDPoPJTI(ctx context.Context, key string, now, expiresAt time.Time) error
	// PurgeDPoPJTIs deletes at most limit keys expired at now and returns
	// how many it deleted.
	PurgeDPoPJTIs(ctx context.Context, now time.Time, limit int) (int64, error)
}

// StatusList is one Token Status List (draft-ietf-oauth-status-list) of
// Size one-bit entries: bit i of Bits (bit i%8 of byte i/8, least
// significant first) is 1 once the access token given index i has been
// revoked. Version grows with every change of Bits.
type StatusList struct {
	ID        string
	Size      int64
	Bits      []byte
	Version   int64
	CreatedAt time.Time
	// ExpiresAt is after the expiry of every token given an index of the
	// list; the janitor drops the list then.
	ExpiresAt time.Time
}

// StatusRange is a run of indexes of one status list, reserved for one
// node to hand out: First up to but not including First+Count.
type StatusRange struct {
	List  string
	First int64
	Count int64
}

// StatusListStore keeps the status lists. Indexes are handed out in
// ranges, so that issuing a token locks no row of its own: one
// reservation serves Count tokens. The bits are set by the revocations of
// [FamilyStore] and [TokenStore.RevokeByToken], in their transactions.
type StatusListStore interface {
	// ReserveStatusRange reserves count indexes of the newest list created
	// after createdAfter that has room for them, and moves that list's
	// ExpiresAt to expiresAt if it is earlier; when no list has room, it
	// creates the list newID of size entries (all zero) created at now. A
	// range is never reserved twice, on any node. It must not run inside
	// a transaction whose rollback would leave the range in use.
	ReserveStatusRange(ctx context.Context, newID string, size, count int64, now, createdAfter, expiresAt time.Time) (StatusRange, error)
	// StatusListVersion returns the Version of a list. Returns ErrNotFound
	// if it does not exist.
	StatusListVersion(ctx context.Context, id string) (int64, error)
	// GetStatusList returns a list with its bits. Returns ErrNotFound if it
	// does not exist.
	GetStatusList(ctx context.Context, id string) (*StatusList, error)
	// ListStatusLists returns the ids of the lists whose ExpiresAt is after
	// now, ordered by id.
	ListStatusLists(ctx context.Context, now time.Time) ([]string, error)
}

// Store is everything Latch persists, plus transactions.
type Store interface {
	ClientStore
	UserStore
	FamilyStore
	TokenStore
	EventStore
	StatsStore
	Purger
	AttemptStore
	KeyStore
	DenyStore
	DPoPStore
	StatusListStore

	// InTx runs fn in a transaction carried by the context it is given; every
	// store call made with that context joins it. fn's error rolls it back. A
	// nested InTx joins the outer transaction. After a store call inside fn
	// fails, fn must return: on PostgreSQL the transaction is aborted.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
