package oauth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sessionLineJSON is one line of a session import, as a test writes it.
func sessionLineJSON(t testing.TB, fields map[string]any) string {
	t.Helper()
	line := map[string]any{
		"username": "alice", "client_id": "app", "scope": "read",
		"created_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-31T00:00:00Z",
	}
	for k, v := range fields {
		if v == nil {
			delete(line, k)
			continue
		}
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestImportSessions: an imported raw token and an imported SHA-256 each
// refresh once, through the grant, into Latch tokens; the login shows
// among the user's sessions and its trail begins with imported; a retry
// within the grace gets the same answer; after it, the old token is reuse
// and ends the login, exactly like a Latch token. Nothing of the raw token
// is stored or logged.
func TestImportSessions(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	ctx := t.Context()
	// The fixture's clock is 2026-01-02; the old logins began on 2026-01-01.
	const raw = "old-store-refresh-token-Zm9vYmFy.42"
	const hashed = "an-old-token-known-only-by-its-hash"
	file := sessionLineJSON(t, map[string]any{"refresh_token": raw}) + "\n\n" +
		sessionLineJSON(t, map[string]any{"refresh_token_sha256": strings.ToUpper(sha256Hex(hashed)), "scope": "read write"}) + "\n"
	res, err := f.p.ImportSessions(ctx, strings.NewReader(file))
	if err != nil || res.Imported != 2 || len(res.Expired) != 0 {
		t.Fatalf("import: %+v, %v; want 2 imported", res, err)
	}
	alice, err := f.p.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := f.p.Sessions(ctx, alice.ID)
	if err != nil || len(sessions) != 2 {
		t.Fatalf("sessions of alice: %+v, %v; want the 2 imported", sessions, err)
	}

	for _, tc := range []struct{ name, token, scope string }{
		{"raw", raw, "read"},
		{"sha256", hashed, "read write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := f.refresh(t, tc.token)
			if first.status != http.StatusOK || !strings.HasPrefix(first.RefreshToken, RefreshTokenPrefix) || first.Scope != tc.scope {
				t.Fatalf("first refresh: %+v; want Latch tokens with scope %q", first, tc.scope)
			}
			if !f.active(t, first.AccessToken) {
				t.Fatal("the new access token is not active")
			}
			// A retry within the grace: the very same answer.
			if again := f.refresh(t, tc.token); again.status != http.StatusOK || again.RefreshToken != first.RefreshToken || again.AccessToken != first.AccessToken {
				t.Errorf("retry within the grace: %+v, want the first answer", again)
			}
			// The login goes on with Latch tokens.
			next := f.refresh(t, first.RefreshToken)
			if next.status != http.StatusOK {
				t.Fatalf("refresh with the Latch token: %+v", next)
			}
			// After the grace, the old token is reuse: the login ends.
			f.clock.Advance(f.cfg.RefreshGrace + time.Second)
			if reuse := f.refresh(t, tc.token); reuse.status != http.StatusBadRequest || reuse.Error != "invalid_grant" {
				t.Fatalf("reuse after the grace: %+v, want invalid_grant", reuse)
			}
			if dead := f.refresh(t, next.RefreshToken); dead.Error != "invalid_grant" {
				t.Errorf("the login's latest refresh token after reuse: %+v, want invalid_grant", dead)
			}
			if f.active(t, next.AccessToken) {
				t.Error("the login's access token is active after reuse")
			}
		})
	}

	page, err := f.p.SearchEvents(ctx, EventQuery{UserID: alice.ID, Limit: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]string{} // session: its oldest event
	for _, e := range page.Events {
		first[e.FamilyID] = e.Type // newest first: the last written is the oldest
	}
	for fam, typ := range first {
		if typ != EventImported {
			t.Errorf("session %s: trail begins with %s, want %s", fam, typ, EventImported)
		}
	}
	if len(first) != 2 {
		t.Errorf("events of %d sessions, want 2", len(first))
	}
	for _, e := range page.Events {
		if e.Type == EventReuseDetected && !e.Enforced {
			t.Errorf("reuse of an imported token not enforced: %+v", e)
		}
	}
	if strings.Contains(logs.String(), raw) || strings.Contains(logs.String(), sha256Hex(raw)) {
		t.Error("the logs hold the raw token or its SHA-256")
	}
	for _, fam := range sessions {
		trail, err := f.p.SessionEvents(ctx, fam.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(trail) == 0 || trail[0].Type != EventImported {
			t.Errorf("session %s: trail %+v, want it to begin with imported", fam.ID, trail)
		}
	}
	// What the database holds for the raw token: a hash of its hash.
	if tok, err := f.store.GetToken(ctx, importedKey(sha256.Sum256([]byte(raw)))); err != nil || strings.Contains(tok.Key, raw) || strings.Contains(tok.Key, sha256Hex(raw)) {
		t.Errorf("stored token %+v, %v; want a key that holds neither the token nor its SHA-256", tok, err)
	}
}

// TestImportSessionsUnknownToken: a token that is not a Latch token and
// was never imported answers invalid_grant, like any bad token, and the
// same with another client's imported token (which stays usable).
func TestImportSessionsUnknownToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if r := f.refresh(t, "never-imported"); r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Errorf("unknown token: %+v, want invalid_grant", r)
	}
	if r := f.refresh(t, strings.Repeat("x", maxImportedToken+1)); r.Error != "invalid_grant" {
		t.Errorf("overlong token: %+v, want invalid_grant", r)
	}
	if _, _, err := f.p.CreateClient(t.Context(), ClientSpec{ID: "other", GrantTypes: []string{GrantRefreshToken}, Scope: "read"}); err != nil {
		t.Fatal(err)
	}
	line := sessionLineJSON(t, map[string]any{"client_id": "other", "refresh_token": "of-the-other-client"})
	if _, err := f.p.ImportSessions(t.Context(), strings.NewReader(line)); err != nil {
		t.Fatal(err)
	}
	if r := f.refresh(t, "of-the-other-client"); r.Error != "invalid_grant" {
		t.Errorf("another client's imported token: %+v, want invalid_grant", r)
	}
}

// TestImportSessionsBadLines: a file with one bad line imports nothing,
// and the error names the line and the reason, without the token.
func TestImportSessionsBadLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := t.Context()
	if _, _, err := f.p.CreateClient(ctx, ClientSpec{ID: "cc", GrantTypes: []string{GrantClientCredentials}, Scope: "read"}); err != nil {
		t.Fatal(err)
	}
	disabled, err := f.p.CreateUser(ctx, "bob", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.SetUserDisabled(ctx, disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	const secret = "secret-token-never-quoted"
	good := sessionLineJSON(t, map[string]any{"refresh_token": "a-good-token"})
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"not JSON", `{"username": "alice", ` + secret, "not one JSON object"},
		{"unknown field", sessionLineJSON(t, map[string]any{"refresh_token": secret, "password": "x"}), `unknown field "password"`},
		{"wrong type", sessionLineJSON(t, map[string]any{"refresh_token": secret, "scope": 7}), "scope: must be a JSON string"},
		{"no token", sessionLineJSON(t, nil), "neither refresh_token nor refresh_token_sha256"},
		{"both tokens", sessionLineJSON(t, map[string]any{"refresh_token": secret, "refresh_token_sha256": sha256Hex(secret)}), "both"},
		{"bad hex", sessionLineJSON(t, map[string]any{"refresh_token_sha256": "abc"}), "64 hex digits"},
		{"no scope", sessionLineJSON(t, map[string]any{"refresh_token": secret, "scope": nil}), "scope: missing"},
		{"bad created_at", sessionLineJSON(t, map[string]any{"refresh_token": secret, "created_at": "yesterday"}), "created_at: must be an RFC 3339 time"},
		{"future created_at", sessionLineJSON(t, map[string]any{"refresh_token": secret, "created_at": "2027-01-01T00:00:00Z", "expires_at": "2027-02-01T00:00:00Z"}), "created_at: is in the future"},
		{"expires before created", sessionLineJSON(t, map[string]any{"refresh_token": secret, "expires_at": "2025-12-01T00:00:00Z"}), "expires_at: must be after created_at"},
		{"a Latch token", sessionLineJSON(t, map[string]any{"refresh_token": RefreshTokenPrefix + secret}), "needs no import"},
		{"unknown user", sessionLineJSON(t, map[string]any{"refresh_token": secret, "username": "carol"}), `no user "carol"`},
		{"disabled user", sessionLineJSON(t, map[string]any{"refresh_token": secret, "username": "bob"}), `user "bob" is disabled`},
		{"unknown client", sessionLineJSON(t, map[string]any{"refresh_token": secret, "client_id": "nope"}), `no client "nope"`},
		{"client without refresh", sessionLineJSON(t, map[string]any{"refresh_token": secret, "client_id": "cc"}), "may not use the refresh_token grant"},
		{"scope not the client's", sessionLineJSON(t, map[string]any{"refresh_token": secret, "scope": "read admin"}), `may not have scope "admin"`},
		{"same token twice", sessionLineJSON(t, map[string]any{"refresh_token_sha256": sha256Hex("a-good-token")}), "the same refresh token as line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := good + "\n" + tc.line + "\n"
			res, err := f.p.ImportSessions(ctx, strings.NewReader(file))
			if ErrorCode(err) != EInvalid || res.Imported != 0 {
				t.Fatalf("import: %+v, %v; want EInvalid and nothing imported", res, err)
			}
			msg := ErrorMessage(err)
			if !strings.Contains(msg, "line 2: ") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nothing imported") {
				t.Errorf("error %q, want it to name line 2 and %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes the token", msg)
			}
			// The good line was not kept either.
			if r := f.refresh(t, "a-good-token"); r.Error != "invalid_grant" {
				t.Fatalf("the good line's token after a failed import: %+v, want invalid_grant", r)
			}
		})
	}
	alice, _ := f.p.UserByUsername(ctx, "alice")
	if sessions, err := f.p.Sessions(ctx, alice.ID); err != nil || len(sessions) != 0 {
		t.Errorf("sessions after the failed imports: %+v, %v; want none", sessions, err)
	}

	// A token already imported is a bad line of the next file.
	if _, err := f.p.ImportSessions(ctx, strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	_, err = f.p.ImportSessions(ctx, strings.NewReader(good))
	if !strings.Contains(ErrorMessage(err), "line 1: the refresh token is already imported") {
		t.Errorf("second import: %v, want line 1 already imported", err)
	}
}

// TestImportSessionsExpired: a line whose token has expired, or whose
// login is past LATCH_SESSION_MAX_AGE, is skipped and reported; the others
// are imported.
func TestImportSessionsExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.SessionMaxAge = 30 * 24 * time.Hour })
	file := strings.Join([]string{
		sessionLineJSON(t, map[string]any{"refresh_token": "live"}),
		sessionLineJSON(t, map[string]any{"refresh_token": "expired", "created_at": "2025-12-01T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z"}),
		sessionLineJSON(t, map[string]any{"refresh_token": "too-old-a-login", "created_at": "2025-11-01T00:00:00Z", "expires_at": "2026-06-01T00:00:00Z"}),
	}, "\n")
	res, err := f.p.ImportSessions(t.Context(), strings.NewReader(file))
	if err != nil || res.Imported != 1 || len(res.Expired) != 2 || res.Expired[0] != 2 || res.Expired[1] != 3 {
		t.Fatalf("import: %+v, %v; want 1 imported, lines 2 and 3 expired", res, err)
	}
	if r := f.refresh(t, "expired"); r.Error != "invalid_grant" {
		t.Errorf("skipped token: %+v, want invalid_grant", r)
	}
	if r := f.refresh(t, "live"); r.status != http.StatusOK {
		t.Errorf("live token: %+v, want 200", r)
	}
}
