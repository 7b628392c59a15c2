package bearer_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/oauth/bearer"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// latch is a real Latch on loopback: handlers.New over a fresh store,
// SQLite, or PostgreSQL when LATCH_TEST_DATABASE_URL is set.
type latch struct {
	URL string
}

// newLatch starts Latch with access tokens of format (oauth.FormatJWT or
// oauth.FormatOpaque) and Status List Tokens of the given ttl.
func newLatch(t testing.TB, format string, statusTTL time.Duration) *latch {
	t.Helper()
	store := sqlstoretest.New(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	logger := slog.New(slog.DiscardHandler)
	srv := httptest.NewUnstartedServer(nil)
	p, err := oauth.NewProvider(oauth.Config{
		Issuer: "http://" + srv.Listener.Addr().String(), Secret: secret, AccessTokenFormat: format,
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, SessionMaxAge: time.Hour,
		StatusListTTL: statusTTL, Logger: logger,
		Argon2: oauth.Argon2Params{MemoryKiB: 256, Time: 1, Threads: 1},
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []oauth.ClientSpec{
		{ID: "app", Secret: "app-secret", GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "read", Audience: []string{"https://api.example"}},
		{ID: "other", Secret: "other-secret", GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "read", Audience: []string{"https://other.example"}},
		{ID: "rs", Secret: "rs-secret", GrantTypes: []string{oauth.GrantClientCredentials}, CanIntrospect: true},
	} {
		if _, _, err := p.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	srv.Config.Handler = handlers.New(logger, p, handlers.Options{})
	srv.Start()
	t.Cleanup(srv.Close)
	return &latch{URL: srv.URL}
}

// token gets an access token for client id (its secret is id+"-secret").
func (l *latch) token(t testing.TB, id string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: id + "-secret", TokenURL: l.URL + "/oauth2/token"}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// revoke revokes token as client id (RFC 7009), which ends its login.
func (l *latch) revoke(t testing.TB, id, token string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, l.URL+"/oauth2/revoke",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, id+"-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", res.Status)
	}
}

// statusOf returns the status claim of a JWT, unverified.
func statusOf(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Status map[string]any `json:"status"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.Status
}

// listFetches counts the status list requests a verifier makes, and those
// begun after a mark.
type listFetches struct {
	next        http.RoundTripper
	all, marked atomic.Int64
	mark        atomic.Bool
}

func (f *listFetches) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/oauth2/status/") {
		f.all.Add(1)
		if f.mark.Load() {
			f.marked.Add(1)
		}
	}
	return f.next.RoundTrip(r)
}

// TestLatchRevocationReachesVerifier runs Latch with JWT access tokens and
// a 1s LATCH_STATUS_LIST_TTL, and a Verifier in front of an API: after a
// revocation returns, the revoked token is refused by the end of the first
// list fetch begun after it (ttl plus one fetch), while another token still
// passes. It polls and asserts no time; it logs the time it took.
func TestLatchRevocationReachesVerifier(t *testing.T) {
	t.Parallel()
	l := newLatch(t, oauth.FormatJWT, time.Second)
	fetches := &listFetches{next: http.DefaultTransport}
	v := mustVerifier(t, bearer.Options{Issuer: l.URL, Audience: "https://api.example", RequireStatusList: true,
		HTTPClient: &http.Client{Transport: fetches, Timeout: 10 * time.Second}})
	revoked, kept := l.token(t, "app"), l.token(t, "app")
	if statusOf(t, revoked)["status_list"] == nil {
		t.Fatal("Latch issued a JWT without status.status_list")
	}
	for _, tok := range []string{revoked, kept} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("before the revocation: %v", err)
		}
	}
	if _, err := v.Verify(t.Context(), l.token(t, "other")); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Errorf("a token of another audience: err = %v, want ErrInvalidToken", err)
	}
	l.revoke(t, "app", revoked)
	fetches.mark.Store(true)
	returned := time.Now()
	eventually(t, "the revoked token is refused", func() bool {
		_, err := v.Verify(t.Context(), revoked)
		if err != nil && !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("revoked token: %v, want ErrInvalidToken", err)
		}
		return err != nil
	})
	t.Logf("refused %v after the revocation returned (ttl 1s), %d list fetches in all", time.Since(returned), fetches.all.Load())
	// One fetch begun after the revocation must have seen it; a second
	// may have begun if this test was starved while the first landed.
	if n := fetches.marked.Load(); n > 2 {
		t.Errorf("%d list fetches after the revocation before the refusal, want 1 (or 2)", n)
	}
	if _, err := v.Verify(t.Context(), kept); err != nil {
		t.Errorf("the token of another login after the revocation: %v", err)
	}
}
