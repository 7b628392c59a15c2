package sqlstore

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/latchhq/latch/storage"
)

// Rows as stored. Lists are one space-separated column (scopes, grant types
// and audiences never contain spaces). Times are written in UTC, truncated to
// microseconds (what both databases keep); optional times are NULL when zero.
// autoCreateTime:false stops GORM from filling in a zero CreatedAt: the store
// keeps what it is given.
//
// A row struct is its table's GORM model. The tables the hot statements
// read or write (clients, families, tokens, audit_events) also have a
// column list below their struct, one line per column, in the struct's
// order (columns.go says what follows from it). Adding a column to one of
// them is: its migrations, its field, its line, and its copy in the
// conversions to and from package storage at the end of this file.

type clientRow struct {
	ID            string `gorm:"primaryKey"`
	Name          string
	SecretHash    string
	GrantTypes    string
	Scopes        string
	AuthMethod    string
	CanIntrospect bool
	Audience      string
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	Generation    string
	DPoPBound     bool `gorm:"column:dpop_bound_access_tokens"`
}

func (clientRow) TableName() string { return "clients" }

var clientTable = newTable("clients", "c", "", []column[clientRow]{
	{"id", func(r *clientRow) any { return &r.ID }},
	{"name", func(r *clientRow) any { return &r.Name }},
	{"secret_hash", func(r *clientRow) any { return &r.SecretHash }},
	{"grant_types", func(r *clientRow) any { return &r.GrantTypes }},
	{"scopes", func(r *clientRow) any { return &r.Scopes }},
	{"auth_method", func(r *clientRow) any { return &r.AuthMethod }},
	{"can_introspect", func(r *clientRow) any { return &r.CanIntrospect }},
	{"audience", func(r *clientRow) any { return &r.Audience }},
	{"created_at", func(r *clientRow) any { return &r.CreatedAt }},
	{"generation", func(r *clientRow) any { return &r.Generation }},
	{"dpop_bound_access_tokens", func(r *clientRow) any { return &r.DPoPBound }},
})

type userRow struct {
	ID                string `gorm:"primaryKey"`
	Username          string
	PasswordHash      string
	Disabled          bool
	CreatedAt         time.Time `gorm:"autoCreateTime:false"`
	PasswordChangedAt time.Time
}

func (userRow) TableName() string { return "users" }

type familyRow struct {
	ID               string `gorm:"primaryKey"`
	ClientID         string
	ClientGeneration string
	UserID           string
	Username         string
	Scopes           string
	Audience         string
	CreatedAt        time.Time `gorm:"autoCreateTime:false"`
	LastUsedAt       time.Time
	ExpiresAt        time.Time
	RevokedAt        *time.Time
	RevokeReason     string
	DPoPJKT          string `gorm:"column:dpop_jkt"`
	StepAddress      string
	StepUserAgent    string
	BurstStart       *time.Time
	BurstCount       int64
}

func (familyRow) TableName() string { return "families" }

var familyTable = newTable("families", "f", "", []column[familyRow]{
	{"id", func(r *familyRow) any { return &r.ID }},
	{"client_id", func(r *familyRow) any { return &r.ClientID }},
	{"client_generation", func(r *familyRow) any { return &r.ClientGeneration }},
	{"user_id", func(r *familyRow) any { return &r.UserID }},
	{"username", func(r *familyRow) any { return &r.Username }},
	{"scopes", func(r *familyRow) any { return &r.Scopes }},
	{"audience", func(r *familyRow) any { return &r.Audience }},
	{"created_at", func(r *familyRow) any { return &r.CreatedAt }},
	{"last_used_at", func(r *familyRow) any { return &r.LastUsedAt }},
	{"expires_at", func(r *familyRow) any { return &r.ExpiresAt }},
	{"revoked_at", func(r *familyRow) any { return &r.RevokedAt }},
	{"revoke_reason", func(r *familyRow) any { return &r.RevokeReason }},
	{"dpop_jkt", func(r *familyRow) any { return &r.DPoPJKT }},
	{"step_address", func(r *familyRow) any { return &r.StepAddress }},
	{"step_user_agent", func(r *familyRow) any { return &r.StepUserAgent }},
	{"burst_start", func(r *familyRow) any { return &r.BurstStart }},
	{"burst_count", func(r *familyRow) any { return &r.BurstCount }},
})

type tokenRow struct {
	Key        string `gorm:"primaryKey;column:key"`
	Kind       string
	FamilyID   string
	ClientID   string
	Scopes     string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	SpentAt    *time.Time
	ParentKey  string
	Replay     nullBytes
	StatusList string
	StatusIdx  int64
}

func (tokenRow) TableName() string { return "tokens" }

var tokenTable = newTable("tokens", "t", "", []column[tokenRow]{
	{"key", func(r *tokenRow) any { return &r.Key }},
	{"kind", func(r *tokenRow) any { return &r.Kind }},
	{"family_id", func(r *tokenRow) any { return &r.FamilyID }},
	{"client_id", func(r *tokenRow) any { return &r.ClientID }},
	{"scopes", func(r *tokenRow) any { return &r.Scopes }},
	{"issued_at", func(r *tokenRow) any { return &r.IssuedAt }},
	{"expires_at", func(r *tokenRow) any { return &r.ExpiresAt }},
	{"spent_at", func(r *tokenRow) any { return &r.SpentAt }},
	{"parent_key", func(r *tokenRow) any { return &r.ParentKey }},
	{"replay", func(r *tokenRow) any { return &r.Replay }},
	{"status_list", func(r *tokenRow) any { return &r.StatusList }},
	{"status_idx", func(r *tokenRow) any { return &r.StatusIdx }},
})

// nullBytes is an optional BYTEA/BLOB column: NULL when empty, so that an
// empty replay is no replay (the drivers would store []byte{} as an empty
// value, which "replay IS NOT NULL" counts). It reads NULL and an empty
// value back as nil.
type nullBytes []byte

// Value implements [driver.Valuer].
func (b nullBytes) Value() (driver.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return []byte(b), nil
}

// Scan implements [database/sql.Scanner].
func (b *nullBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = nullBytesOf(v)
	case string:
		*b = nullBytesOf([]byte(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into bytes", src)
	}
	return nil
}

// nullBytesOf returns a copy of p, or nil if p is empty.
func nullBytesOf(p []byte) nullBytes {
	if len(p) == 0 {
		return nil
	}
	return nullBytes(bytes.Clone(p))
}

// slice returns b as a []byte, nil if empty.
func (b nullBytes) slice() []byte {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

type eventRow struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	Type      string
	FamilyID  string
	ClientID  string
	UserID    string
	Reason    string
	Address   string
	UserAgent string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	Enforced  bool
	Signals   string
}

func (eventRow) TableName() string { return "audit_events" }

// audit_events' id is an identity: inserts leave it to the database.
var eventTable = newTable("audit_events", "e", "id", []column[eventRow]{
	{"id", func(r *eventRow) any { return &r.ID }},
	{"type", func(r *eventRow) any { return &r.Type }},
	{"family_id", func(r *eventRow) any { return &r.FamilyID }},
	{"client_id", func(r *eventRow) any { return &r.ClientID }},
	{"user_id", func(r *eventRow) any { return &r.UserID }},
	{"reason", func(r *eventRow) any { return &r.Reason }},
	{"address", func(r *eventRow) any { return &r.Address }},
	{"user_agent", func(r *eventRow) any { return &r.UserAgent }},
	{"created_at", func(r *eventRow) any { return &r.CreatedAt }},
	{"enforced", func(r *eventRow) any { return &r.Enforced }},
	{"signals", func(r *eventRow) any { return &r.Signals }},
})

// ts is how every time goes to the database.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTS(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := ts(t)
	return &u
}

func fromNullTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func join(list []string) string { return strings.Join(list, " ") }

func split(s string) []string { return strings.Fields(s) }

// splitNil is split, nil for no words.
func splitNil(s string) []string {
	if s == "" {
		return nil
	}
	return split(s)
}

func toClientRow(c *storage.Client) *clientRow {
	return &clientRow{
		ID: c.ID, Name: c.Name, SecretHash: c.SecretHash, GrantTypes: join(c.GrantTypes),
		Scopes: join(c.Scopes), AuthMethod: c.AuthMethod, CanIntrospect: c.CanIntrospect,
		Audience: join(c.Audience), CreatedAt: ts(c.CreatedAt), Generation: c.Generation,
		DPoPBound: c.DPoPBoundAccessTokens,
	}
}

func (r *clientRow) client() storage.Client {
	return storage.Client{
		ID: r.ID, Name: r.Name, SecretHash: r.SecretHash, GrantTypes: split(r.GrantTypes),
		Scopes: split(r.Scopes), AuthMethod: r.AuthMethod, CanIntrospect: r.CanIntrospect,
		Audience: split(r.Audience), CreatedAt: r.CreatedAt.UTC(), Generation: r.Generation,
		DPoPBoundAccessTokens: r.DPoPBound,
	}
}

func toUserRow(u *storage.User) *userRow {
	return &userRow{
		ID: u.ID, Username: u.Username, PasswordHash: u.PasswordHash, Disabled: u.Disabled,
		CreatedAt: ts(u.CreatedAt), PasswordChangedAt: ts(u.PasswordChangedAt),
	}
}

func (r *userRow) user() *storage.User {
	return &storage.User{
		ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash, Disabled: r.Disabled,
		CreatedAt: r.CreatedAt.UTC(), PasswordChangedAt: r.PasswordChangedAt.UTC(),
	}
}

func toFamilyRow(f *storage.Family) *familyRow {
	return &familyRow{
		ID: f.ID, ClientID: f.ClientID, ClientGeneration: f.ClientGeneration, UserID: f.UserID, Username: f.Username,
		Scopes: join(f.Scopes), Audience: join(f.Audience), CreatedAt: ts(f.CreatedAt),
		LastUsedAt: ts(f.LastUsedAt), ExpiresAt: ts(f.ExpiresAt), RevokedAt: nullTS(f.RevokedAt),
		RevokeReason: f.RevokeReason, DPoPJKT: f.DPoPJKT,
		StepAddress: f.Step.Address, StepUserAgent: f.Step.UserAgent,
		BurstStart: nullTS(f.Step.BurstStart), BurstCount: f.Step.BurstCount,
	}
}

func (r *familyRow) family() storage.Family {
	return storage.Family{
		ID: r.ID, ClientID: r.ClientID, ClientGeneration: r.ClientGeneration, UserID: r.UserID, Username: r.Username,
		Scopes: split(r.Scopes), Audience: split(r.Audience), CreatedAt: r.CreatedAt.UTC(),
		LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), RevokedAt: fromNullTS(r.RevokedAt),
		RevokeReason: r.RevokeReason, DPoPJKT: r.DPoPJKT,
		Step: storage.Step{
			Address: r.StepAddress, UserAgent: r.StepUserAgent,
			BurstStart: fromNullTS(r.BurstStart), BurstCount: r.BurstCount,
		},
	}
}

func toTokenRow(t *storage.Token) *tokenRow {
	return &tokenRow{
		Key: t.Key, Kind: string(t.Kind), FamilyID: t.FamilyID, ClientID: t.ClientID,
		Scopes: join(t.Scopes), IssuedAt: ts(t.IssuedAt), ExpiresAt: ts(t.ExpiresAt),
		SpentAt: nullTS(t.SpentAt), ParentKey: t.ParentKey, Replay: nullBytesOf(t.Replay),
		StatusList: t.StatusList, StatusIdx: t.StatusIdx,
	}
}

func (r *tokenRow) token() *storage.Token {
	return &storage.Token{
		Key: r.Key, Kind: storage.TokenKind(r.Kind), FamilyID: r.FamilyID, ClientID: r.ClientID,
		Scopes: split(r.Scopes), IssuedAt: r.IssuedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		SpentAt: fromNullTS(r.SpentAt), ParentKey: r.ParentKey, Replay: r.Replay.slice(),
		StatusList: r.StatusList, StatusIdx: r.StatusIdx,
	}
}

func toEventRow(e *storage.Event) *eventRow {
	return &eventRow{
		Type: e.Type, FamilyID: e.FamilyID, ClientID: e.ClientID, UserID: e.UserID,
		Reason: e.Reason, Address: e.Address, UserAgent: e.UserAgent, CreatedAt: ts(e.CreatedAt),
		Enforced: e.Enforced, Signals: join(e.Signals),
	}
}

func (r *eventRow) event() storage.Event {
	return storage.Event{
		ID: r.ID, Type: r.Type, FamilyID: r.FamilyID, ClientID: r.ClientID, UserID: r.UserID,
		Reason: r.Reason, Address: r.Address, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt.UTC(),
		Enforced: r.Enforced, Signals: splitNil(r.Signals),
	}
}

type signingKeyRow struct {
	ID            string `gorm:"primaryKey"`
	Algorithm     string
	PublicKey     []byte
	PrivateSealed []byte
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	RetiredAt     *time.Time
	PublishUntil  *time.Time
}

func (signingKeyRow) TableName() string { return "signing_keys" }

// notNullBytes returns a copy of p, never nil: the key columns are NOT NULL,
// and the drivers send a nil slice as NULL.
func notNullBytes(p []byte) []byte {
	if p == nil {
		return []byte{}
	}
	return bytes.Clone(p)
}

func toSigningKeyRow(k *storage.SigningKey) *signingKeyRow {
	return &signingKeyRow{
		ID: k.ID, Algorithm: k.Algorithm, PublicKey: notNullBytes(k.PublicKey),
		PrivateSealed: notNullBytes(k.PrivateSealed), CreatedAt: ts(k.CreatedAt),
		RetiredAt: nullTS(k.RetiredAt), PublishUntil: nullTS(k.PublishUntil),
	}
}

func (r *signingKeyRow) signingKey() storage.SigningKey {
	return storage.SigningKey{
		ID: r.ID, Algorithm: r.Algorithm, PublicKey: nullBytesOf(r.PublicKey).slice(),
		PrivateSealed: nullBytesOf(r.PrivateSealed).slice(), CreatedAt: r.CreatedAt.UTC(),
		RetiredAt: fromNullTS(r.RetiredAt), PublishUntil: fromNullTS(r.PublishUntil),
	}
}
