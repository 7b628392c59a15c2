package oauth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/latchhq/latch/storage"
)

// ImportUsers reads JSON lines of {"username": ..., "password_hash": ...},
// where the hash is argon2id (PHC string) or bcrypt, and creates the users
// in one transaction, so that a team can move off a hand-rolled store
// without resetting every password: the hashes are upgraded to Latch's
// argon2id at each user's next login. Every bad line is reported by number
// and, if there is any, nothing is imported. Errors about the input have
// the code EInvalid. Blank lines are skipped.
func (p *Provider) ImportUsers(ctx context.Context, r io.Reader) (int, error) {
	type line struct {
		n    int
		user storage.User
	}
	var lines []line
	var problems []string
	seen := map[string]int{}
	err := eachLine(r, func(n int, raw []byte) {
		var in struct {
			Username     string `json:"username"`
			PasswordHash string `json:"password_hash"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: not a JSON object of username and password_hash", n))
			return
		}
		if err := checkUsername(in.Username); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s", n, ErrorMessage(err)))
			return
		}
		if err := checkImportedHash(in.PasswordHash); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: password_hash: %v", n, err))
			return
		}
		if first, dup := seen[in.Username]; dup {
			problems = append(problems, fmt.Sprintf("line %d: username: %q already on line %d", n, in.Username, first))
			return
		}
		seen[in.Username] = n
		now := p.now()
		lines = append(lines, line{n, storage.User{
			ID: newID(16), Username: in.Username, PasswordHash: in.PasswordHash, CreatedAt: now, PasswordChangedAt: now,
		}})
	})
	if err != nil {
		return 0, err
	}
	if len(problems) > 0 {
		return 0, badLines(problems)
	}
	err = p.inTx(ctx, func(ctx context.Context) error {
		// Existing usernames are looked up first: on PostgreSQL a failed
		// insert would abort the transaction and hide the other lines.
		for _, l := range lines {
			_, err := p.store.GetUserByUsername(ctx, l.user.Username)
			if err == nil {
				problems = append(problems, fmt.Sprintf("line %d: username: %q is taken", l.n, l.user.Username))
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		if len(problems) > 0 {
			return badLines(problems)
		}
		for _, l := range lines {
			if err := p.store.CreateUser(ctx, &l.user); err != nil {
				return fmt.Errorf("oauth: import line %d: %w", l.n, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(lines), nil
}

// eachLine calls fn with each line of r that is not blank, trimmed, and
// its number (from 1). A line may be up to 64 KiB long.
func eachLine(r io.Reader, fn func(n int, line []byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			fn(n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return invalid("read: %v (a line may be longer than 64 KiB)", err)
	}
	return nil
}

// checkImportedHash accepts the hash formats Latch verifies: argon2id and
// bcrypt.
func checkImportedHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		_, _, _, err := parseArgon2id(h)
		return err
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil || len(h) != 60 {
			return errors.New("malformed bcrypt hash")
		}
		return nil
	case h == "":
		return errors.New("missing")
	default:
		return errors.New("unknown format (argon2id or bcrypt)")
	}
}
