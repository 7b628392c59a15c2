package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
)

// TestRunUsersUnlock: a user locked out by failed logins on the server gets
// back in after "latch users unlock" or "latch users passwd". Both must key
// the lockout counter with the server's secret (here the one kept beside
// the SQLite file), not with the throwaway secret of other commands.
func TestRunUsersUnlock(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.mustRun("pw-alice\n", "users", "create", "alice")
	m := clientSecretLine.FindStringSubmatch(c.mustRun("", "clients", "create", "--id", "app", "--grant-types", "password"))
	if m == nil {
		t.Fatal("clients create printed no secret")
	}
	clientSecret := m[1]

	p := newServerProvider(t, c, oauth.Config{LoginMaxFailures: 2})
	ctx := context.Background()
	login := func(password string) bool {
		form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("app", clientSecret)
		_, _, err := p.Token(ctx, r)
		return err == nil
	}
	lockOut := func(password string) {
		t.Helper()
		for range 2 {
			if login("wrong") {
				t.Fatal("a wrong password logged in")
			}
		}
		if login(password) {
			t.Fatal("the right password got through a lockout")
		}
	}

	lockOut("pw-alice")
	if out := c.mustRun("", "users", "unlock", "alice"); !strings.Contains(out, "failed logins of alice") {
		t.Errorf("users unlock printed %q", out)
	}
	if !login("pw-alice") {
		t.Error("alice is still locked out after users unlock")
	}

	lockOut("pw-alice")
	if out := c.mustRun("pw-alice-2\n", "users", "passwd", "alice"); !strings.Contains(out, "password of alice changed") {
		t.Errorf("users passwd printed %q", out)
	}
	if !login("pw-alice-2") {
		t.Error("alice is still locked out after users passwd")
	}

	if err := c.mustFail("", "users", "unlock", "nobody"); !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("users unlock for an unknown user: err = %v, want it to name the user", err)
	}
	if err := c.mustFail("", "users", "unlock"); !strings.Contains(err.Error(), "USER") {
		t.Errorf("users unlock without a user: err = %v", err)
	}
}

// newServerProvider is the provider "latch serve" runs on c's database: its
// secret is the one kept beside the SQLite file (created if there is none
// yet), and cfg gives the other settings; lifetimes left zero are 10m, 1h
// and 1h.
func newServerProvider(t testing.TB, c *cli, cfg oauth.Config) *oauth.Provider {
	t.Helper()
	secret, err := loadOrCreateSecret(c.db + ".secret")
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(context.Background(), "sqlite:"+c.db, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg.Issuer, cfg.Secret = "http://127.0.0.1:8080", secret
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL, cfg.RefreshTokenTTL, cfg.SessionMaxAge = 10*time.Minute, time.Hour, time.Hour
	}
	p, err := oauth.NewProvider(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIErrorLines: an operator command's failure is one line that
// starts with the command. Input errors say what is wrong; a taken key and
// a missing record say so briefly; a write that lost a race in the
// database says to try again, without the database's words (it printed
// "sqlstore: ...: storage: conflict: deadlock detected ..."); an
// interrupted command says so; an outage and anything unexpected keep
// their cause, for the operator at the machine.
func TestCLIErrorLines(t *testing.T) {
	t.Parallel()
	const detail = "deadlock detected (SQLSTATE 40P01)"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"invalid", fmt.Errorf("oauth: create: %w", &oauth.Error{Code: oauth.EInvalid, Message: "username: must be 1 to 255 bytes of UTF-8"}), "latch users create: username: must be 1 to 255 bytes of UTF-8"},
		{"no such user", &oauth.Error{Code: oauth.ENotFound, Message: `no user with id or username "bob"`}, `latch users create: no user with id or username "bob"`},
		{"already exists", fmt.Errorf("sqlstore: insert user: %w", storage.ErrAlreadyExists), "latch users create: already exists"},
		{"not found", fmt.Errorf("sqlstore: get user: %w", storage.ErrNotFound), "latch users create: not found"},
		{"conflict", fmt.Errorf("sqlstore: commit: %w: %s", storage.ErrConflict, detail), "latch users create: another change to the same data ran at the same time; try again"},
		{"unavailable", fmt.Errorf("sqlstore: ping: %w: %s", storage.ErrUnavailable, "connection refused"), "latch users create: the database is unavailable: sqlstore: ping: storage: unavailable: connection refused"},
		{"interrupted", fmt.Errorf("sqlstore: commit: %w", context.Canceled), "latch users create: interrupted before it finished: sqlstore: commit: context canceled"},
		{"internal", errors.New("oauth: encrypt key: cipher failed"), "latch users create: oauth: encrypt key: cipher failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := cliError("users create", tc.err).Error(); got != tc.want {
				t.Errorf("cliError = %q, want %q", got, tc.want)
			}
		})
	}
}
