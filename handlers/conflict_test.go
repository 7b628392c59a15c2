package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// faultyStore is a store whose calls go to the real one unless a func
// field is set, which then answers instead (like wtf mock/dial.go). The
// fields are set before the server starts and never change.
type faultyStore struct {
	storage.Store
	createUserFn     func(ctx context.Context, u *storage.User) error
	createFamilyFn   func(ctx context.Context, f *storage.Family, tokens ...*storage.Token) error
	lockFamilyFn     func(ctx context.Context, id string) (*storage.Family, error)
	revokeFamiliesFn func(ctx context.Context, filter storage.FamilyFilter, reason string, at time.Time) ([]string, error)
	revokeByTokenFn  func(ctx context.Context, r storage.Revocation) (*storage.Token, *storage.Family, bool, error)
}

func (s *faultyStore) CreateUser(ctx context.Context, u *storage.User) error {
	if s.createUserFn != nil {
		return s.createUserFn(ctx, u)
	}
	return s.Store.CreateUser(ctx, u)
}

func (s *faultyStore) CreateFamily(ctx context.Context, f *storage.Family, tokens ...*storage.Token) error {
	if s.createFamilyFn != nil {
		return s.createFamilyFn(ctx, f, tokens...)
	}
	return s.Store.CreateFamily(ctx, f, tokens...)
}

func (s *faultyStore) LockFamily(ctx context.Context, id string) (*storage.Family, error) {
	if s.lockFamilyFn != nil {
		return s.lockFamilyFn(ctx, id)
	}
	return s.Store.LockFamily(ctx, id)
}

func (s *faultyStore) RevokeFamilies(ctx context.Context, filter storage.FamilyFilter, reason string, at time.Time) ([]string, error) {
	if s.revokeFamiliesFn != nil {
		return s.revokeFamiliesFn(ctx, filter, reason, at)
	}
	return s.Store.RevokeFamilies(ctx, filter, reason, at)
}

func (s *faultyStore) RevokeByToken(ctx context.Context, r storage.Revocation) (*storage.Token, *storage.Family, bool, error) {
	if s.revokeByTokenFn != nil {
		return s.revokeByTokenFn(ctx, r)
	}
	return s.Store.RevokeByToken(ctx, r)
}

// conflictDetail is what the database said; no caller may see it.
const conflictDetail = `deadlock detected on relation "families" (SQLSTATE 40P01)`

// errLostRace is what sqlstore returns for a transaction that lost a race.
var errLostRace = fmt.Errorf("sqlstore: test: %w: %w", storage.ErrConflict, errors.New(conflictDetail))

// TestConflictsAreNoServerError: a write that loses a race in the database
// (storage.ErrConflict: a deadlock or a serialization failure, which
// PostgreSQL reports when an operator's action meets a refresh of the same
// login, or two operators meet) is answered 409 conflict by the admin API,
// invalid_grant by the token endpoint and 503 with Retry-After by the
// revocation endpoint (RFC 7009 §2.2.1: the token still exists, retry).
// No answer is a 500, none shows the database's words, and none logs an
// ERROR. Each was a 500 server_error with an ERROR line.
func TestConflictsAreNoServerError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  func(*faultyStore)
		call   func(t *testing.T, ts *testServer, app client, alice string) response
		status int
		error  string
	}{
		{
			name: "admin API: create user",
			fault: func(s *faultyStore) {
				s.createUserFn = func(ctx context.Context, u *storage.User) error {
					if u.Username == "bob" {
						return errLostRace
					}
					return s.Store.CreateUser(ctx, u)
				}
			},
			call: func(t *testing.T, ts *testServer, _ client, _ string) response {
				return ts.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": "bob", "password": "pw"})
			},
			status: http.StatusConflict, error: "conflict",
		},
		{
			name: "admin API: revoke a session",
			fault: func(s *faultyStore) {
				s.lockFamilyFn = func(context.Context, string) (*storage.Family, error) { return nil, errLostRace }
			},
			call: func(t *testing.T, ts *testServer, app client, alice string) response {
				ts.login(t, app, "alice", "correct horse", "")
				sessions := ts.adminDo(t, http.MethodGet, "/admin/users/"+alice+"/sessions", nil).object(t)["items"].([]any)
				if len(sessions) != 1 {
					t.Fatalf("sessions: %v", sessions)
				}
				return ts.adminDo(t, http.MethodDelete, "/admin/sessions/"+str(sessions[0].(map[string]any)["id"]), nil)
			},
			status: http.StatusConflict, error: "conflict",
		},
		{
			name: "admin API: delete a client",
			fault: func(s *faultyStore) {
				s.revokeFamiliesFn = func(context.Context, storage.FamilyFilter, string, time.Time) ([]string, error) {
					return nil, errLostRace
				}
			},
			call: func(t *testing.T, ts *testServer, app client, _ string) response {
				return ts.adminDo(t, http.MethodDelete, "/admin/clients/"+app.ID, nil)
			},
			status: http.StatusConflict, error: "conflict",
		},
		{
			name: "token endpoint: password grant",
			fault: func(s *faultyStore) {
				s.createFamilyFn = func(context.Context, *storage.Family, ...*storage.Token) error { return errLostRace }
			},
			call: func(t *testing.T, ts *testServer, app client, _ string) response {
				return ts.post(t, "/oauth2/token", app, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}})
			},
			status: http.StatusBadRequest, error: "invalid_grant",
		},
		{
			name: "token endpoint: client_credentials grant",
			fault: func(s *faultyStore) {
				s.createFamilyFn = func(context.Context, *storage.Family, ...*storage.Token) error { return errLostRace }
			},
			call: func(t *testing.T, ts *testServer, app client, _ string) response {
				return ts.post(t, "/oauth2/token", app, url.Values{"grant_type": {"client_credentials"}})
			},
			status: http.StatusBadRequest, error: "invalid_grant",
		},
		{
			name: "revocation endpoint",
			fault: func(s *faultyStore) {
				s.revokeByTokenFn = func(context.Context, storage.Revocation) (*storage.Token, *storage.Family, bool, error) {
					return nil, nil, false, errLostRace
				}
			},
			call: func(t *testing.T, ts *testServer, app client, _ string) response {
				tok := ts.login(t, app, "alice", "correct horse", "")
				return ts.post(t, "/oauth2/revoke", app, url.Values{"token": {tok.Refresh}})
			},
			status: http.StatusServiceUnavailable, error: "temporarily_unavailable",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withStoreWrapper(func(s storage.Store) storage.Store {
				fs := &faultyStore{Store: s}
				tc.fault(fs)
				return fs
			}))
			app := ts.createClient(t, map[string]any{
				"client_id":   "app",
				"grant_types": []string{"password", "refresh_token", "client_credentials"},
			})
			alice := ts.createUser(t, "alice", "correct horse")
			before := len(ts.logs.String())
			res := tc.call(t, ts, app, alice)
			if res.status != tc.status || str(res.object(t)["error"]) != tc.error {
				t.Fatalf("answered %s, want %d %s", res, tc.status, tc.error)
			}
			if strings.Contains(string(res.body), "SQLSTATE") || strings.Contains(string(res.body), "storage") {
				t.Errorf("the answer shows the cause: %s", res.body)
			}
			if res.status == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if logs := ts.logs.String()[before:]; strings.Contains(logs, `"level":"ERROR"`) {
				t.Errorf("a lost race logged an ERROR:\n%s", logs)
			}
		})
	}
}
