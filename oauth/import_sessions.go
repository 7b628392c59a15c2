package oauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/storage"
)

// EventImported starts the trail of a login that latch sessions import
// moved in from another system.
const EventImported = "imported"

// maxImportProblems bounds the bad lines an import error lists.
const maxImportProblems = 50

// SessionImport is what [Provider.ImportSessions] did.
type SessionImport struct {
	// Imported counts the logins stored.
	Imported int
	// Expired are the numbers of the lines skipped because their token
	// had expired, or their login passed LATCH_SESSION_MAX_AGE, by now.
	Expired []int
}

// sessionLine is one line of a session import (API.md, latch sessions
// import). Scope is a pointer so that a missing scope is told from an
// empty one.
type sessionLine struct {
	Username           string  `json:"username"`
	ClientID           string  `json:"client_id"`
	Scope              *string `json:"scope"`
	CreatedAt          string  `json:"created_at"`
	ExpiresAt          string  `json:"expires_at"`
	RefreshToken       string  `json:"refresh_token"`
	RefreshTokenSHA256 string  `json:"refresh_token_sha256"`
}

// importedSession is a checked line, ready to store.
type importedSession struct {
	n         int
	line      sessionLine
	scopes    []string
	createdAt time.Time
	expiresAt time.Time
	key       string // importedKey of the token
}

// ImportSessions reads JSON lines of live logins of another system
// (username, client_id, scope, created_at, expires_at, and refresh_token
// or refresh_token_sha256) and stores each as a login of Latch whose
// refresh token is the old one, so that moving to Latch logs nobody out.
// The refresh grant accepts the old token once, with the rotation, grace
// and reuse rules of a Latch token, and the login goes on with Latch
// tokens.
//
// A raw token is hashed at once and never stored, logged or quoted in an
// error; only importedKey of its SHA-256 is kept. The login ends
// LATCH_SESSION_MAX_AGE after created_at, and the old token expires at
// expires_at (or then, if sooner); a line whose token is dead by now is
// skipped and reported, not imported.
//
// All or nothing: every bad line is reported by number with its reason
// (EInvalid) and then nothing is imported; the good lines are stored in
// one transaction. Blank lines are skipped.
func (p *Provider) ImportSessions(ctx context.Context, r io.Reader) (SessionImport, error) {
	var out SessionImport
	var lines []importedSession
	var problems []string
	seen := map[string]int{} // token key: line
	now := p.now()
	err := eachLine(r, func(n int, raw []byte) {
		s, err := parseSessionLine(raw, now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s", n, err))
			return
		}
		s.n = n
		if first, dup := seen[s.key]; dup {
			problems = append(problems, fmt.Sprintf("line %d: the same refresh token as line %d", n, first))
			return
		}
		seen[s.key] = n
		lines = append(lines, s)
	})
	if err != nil {
		return out, err
	}
	if len(problems) > 0 {
		return out, badLines(problems)
	}
	err = p.inTx(ctx, func(ctx context.Context) error {
		out = SessionImport{}
		// Everything is looked up before anything is written: on
		// PostgreSQL a failed insert would abort the transaction and hide
		// the other lines' problems.
		fams := make([]*storage.Family, len(lines))
		users := map[string]*storage.User{}
		clients := map[string]*storage.Client{}
		for i, s := range lines {
			fam, problem, err := p.checkImportedSession(ctx, s, users, clients)
			if err != nil {
				return err
			}
			if problem != "" {
				problems = append(problems, fmt.Sprintf("line %d: %s", s.n, problem))
			}
			fams[i] = fam
		}
		if len(problems) > 0 {
			return badLines(problems)
		}
		for i, s := range lines {
			fam := fams[i]
			expires := earliest(s.expiresAt, fam.ExpiresAt)
			if !now.Before(expires) {
				out.Expired = append(out.Expired, s.n)
				continue
			}
			tok := &storage.Token{
				Key: s.key, Kind: storage.KindRefresh, FamilyID: fam.ID, ClientID: fam.ClientID,
				Scopes: fam.Scopes, IssuedAt: s.createdAt, ExpiresAt: expires,
			}
			if err := p.store.CreateFamily(ctx, fam, tok); err != nil {
				return fmt.Errorf("oauth: import line %d: %w", s.n, err)
			}
			e := storage.Event{Type: EventImported, FamilyID: fam.ID, ClientID: fam.ClientID, UserID: fam.UserID}
			if err := p.audit(ctx, e); err != nil {
				return fmt.Errorf("oauth: import line %d: %w", s.n, err)
			}
			out.Imported++
		}
		return nil
	})
	if err != nil {
		return SessionImport{}, err
	}
	return out, nil
}

// parseSessionLine checks what a line says on its own. Its errors never
// quote the refresh token.
func parseSessionLine(raw []byte, now time.Time) (importedSession, error) {
	var s importedSession
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.line); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return s, fmt.Errorf("%s: must be a JSON string", typeErr.Field)
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return s, fmt.Errorf("unknown field %s", strings.TrimPrefix(msg, "json: unknown field "))
		}
		return s, errors.New("not one JSON object of username, client_id, scope, created_at, expires_at and refresh_token or refresh_token_sha256")
	}
	if dec.More() {
		return s, errors.New("more than one JSON value on the line")
	}
	l := &s.line
	if err := checkUsername(l.Username); err != nil {
		return s, errors.New(ErrorMessage(err))
	}
	if err := checkVSChar("client_id", l.ClientID, 255); err != nil {
		return s, errors.New(ErrorMessage(err))
	}
	if l.Scope == nil {
		return s, errors.New(`scope: missing ("" for none)`)
	}
	for _, sc := range strings.Fields(*l.Scope) {
		if err := checkScopeToken(sc); err != nil {
			return s, errors.New(ErrorMessage(err))
		}
	}
	s.scopes = dedupe(strings.Fields(*l.Scope))
	var err error
	if s.createdAt, err = time.Parse(time.RFC3339Nano, l.CreatedAt); err != nil {
		return s, errors.New("created_at: must be an RFC 3339 time, such as 2026-12-08T04:00:00Z")
	}
	if s.expiresAt, err = time.Parse(time.RFC3339Nano, l.ExpiresAt); err != nil {
		return s, errors.New("expires_at: must be an RFC 3339 time, such as 2027-01-07T04:00:00Z")
	}
	s.createdAt, s.expiresAt = s.createdAt.UTC(), s.expiresAt.UTC()
	switch {
	case s.createdAt.After(now.Add(5 * time.Minute)):
		return s, errors.New("created_at: is in the future")
	case !s.expiresAt.After(s.createdAt):
		return s, errors.New("expires_at: must be after created_at")
	}
	switch {
	case l.RefreshToken != "" && l.RefreshTokenSHA256 != "":
		return s, errors.New("both refresh_token and refresh_token_sha256: give one")
	case l.RefreshToken != "":
		if len(l.RefreshToken) > maxImportedToken {
			return s, fmt.Errorf("refresh_token: longer than %d bytes", maxImportedToken)
		}
		if isLatchToken(l.RefreshToken) {
			return s, fmt.Errorf("refresh_token: starts with %s, as Latch's own tokens do; a Latch token needs no import", latchPrefix)
		}
		s.key = importedKey(sha256.Sum256([]byte(l.RefreshToken)))
	case l.RefreshTokenSHA256 != "":
		b, err := hex.DecodeString(l.RefreshTokenSHA256)
		if err != nil || len(b) != sha256.Size {
			return s, errors.New("refresh_token_sha256: must be 64 hex digits (the SHA-256 of the token)")
		}
		s.key = importedKey([sha256.Size]byte(b))
	default:
		return s, errors.New("neither refresh_token nor refresh_token_sha256")
	}
	l.RefreshToken = "" // nothing keeps it past this point
	return s, nil
}

// checkImportedSession checks a line against the database (its user, its
// client, its token not already there) and returns the login to store, or
// why the line is bad. users and clients cache what it read.
func (p *Provider) checkImportedSession(ctx context.Context, s importedSession, users map[string]*storage.User, clients map[string]*storage.Client) (*storage.Family, string, error) {
	u, ok := users[s.line.Username]
	if !ok {
		var err error
		if u, err = p.store.GetUserByUsername(ctx, s.line.Username); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, "", err
		}
		users[s.line.Username] = u
	}
	c, ok := clients[s.line.ClientID]
	if !ok {
		var err error
		if c, err = p.store.GetClient(ctx, s.line.ClientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, "", err
		}
		clients[s.line.ClientID] = c
	}
	switch {
	case u == nil:
		return nil, fmt.Sprintf("username: no user %q (import the users first: latch users import)", s.line.Username), nil
	case u.Disabled:
		return nil, fmt.Sprintf("username: user %q is disabled", s.line.Username), nil
	case c == nil:
		return nil, fmt.Sprintf("client_id: no client %q", s.line.ClientID), nil
	case !slices.Contains(c.GrantTypes, GrantRefreshToken):
		return nil, fmt.Sprintf("client_id: client %q may not use the refresh_token grant", s.line.ClientID), nil
	}
	for _, sc := range s.scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, fmt.Sprintf("scope: client %q may not have scope %q", s.line.ClientID, sc), nil
		}
	}
	if _, err := p.store.GetToken(ctx, s.key); err == nil {
		return nil, "the refresh token is already imported", nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, "", err
	}
	return &storage.Family{
		ID: newID(16), ClientID: c.ID, ClientGeneration: c.Generation, UserID: u.ID, Username: u.Username,
		Scopes: s.scopes, Audience: c.Audience, CreatedAt: s.createdAt, LastUsedAt: s.createdAt,
		ExpiresAt: s.createdAt.Add(p.cfg.SessionMaxAge),
	}, "", nil
}

// badLines is the error of an import with bad lines: each by number, the
// first maxImportProblems of them, on one line (the CLI prints it as is).
func badLines(problems []string) error {
	total, more := len(problems), ""
	if total > maxImportProblems {
		more = fmt.Sprintf("; and %d more", len(problems)-maxImportProblems)
		problems = problems[:maxImportProblems]
	}
	return invalid("%d bad line(s), nothing imported: %s%s", total, strings.Join(problems, "; "), more)
}
