package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// clock is a test clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type fixture struct {
	p      *Provider
	store  storage.Store
	clock  *clock
	secret string // of client "app"
	cfg    Config
}

// newFixture builds a provider on a real store (SQLite, or PostgreSQL when
// LATCH_TEST_DATABASE_URL is set) with a client "app" (password,
// refresh_token; scopes read write; may introspect) and a user alice.
func newFixture(t testing.TB, tweak func(*Config)) *fixture {
	t.Helper()
	return newFixtureOn(t, sqlstoretest.New(t), tweak)
}

func newFixtureOn(t testing.TB, store storage.Store, tweak func(*Config)) *fixture {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := Config{
		Issuer: "http://127.0.0.1:8080", Secret: secret,
		// Cheap hashes keep the tests fast; the cost itself is tested in
		// hash_test.go.
		Argon2:         Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1},
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 720 * time.Hour, SessionMaxAge: 2160 * time.Hour,
		RefreshGrace: 10 * time.Second, Now: clk.Now,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := NewProvider(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{p: p, store: store, clock: clk, cfg: cfg}
	ctx := context.Background()
	_, clientSecret, err := p.CreateClient(ctx, ClientSpec{ID: "app", GrantTypes: []string{GrantPassword, GrantRefreshToken}, Scope: "read write", CanIntrospect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateUser(ctx, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	f.secret = clientSecret
	return f
}

// node returns a second provider — another Latch node — on store, which
// must share the fixture's database, with the fixture's settings.
func (f *fixture) node(t testing.TB, store storage.Store) *fixture {
	t.Helper()
	return f.nodeWith(t, store, f.cfg)
}

// nodeWith is a node on store with the settings cfg, sharing f's clock and
// client.
func (f *fixture) nodeWith(t testing.TB, store storage.Store, cfg Config) *fixture {
	t.Helper()
	p, err := NewProvider(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{p: p, store: store, clock: f.clock, secret: f.secret, cfg: cfg}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	status       int
}

// token posts form to the token endpoint as client "app" and decodes the
// answer written by the provider.
func (f *fixture) token(t testing.TB, form url.Values) tokenResponse {
	t.Helper()
	return f.tokenCtx(t, context.Background(), form)
}

func (f *fixture) tokenCtx(t testing.TB, ctx context.Context, form url.Values) tokenResponse {
	t.Helper()
	out, err := f.tryToken(ctx, form)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tokenRequest is a token request with form from client "app".
func tokenRequest(ctx context.Context, f *fixture, form url.Values) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", f.secret)
	return r
}

// tryToken is token for goroutines other than the test's, which must not
// call t.Fatal.
func (f *fixture) tryToken(ctx context.Context, form url.Values) (tokenResponse, error) {
	return f.tryTokenAs(ctx, "app", f.secret, form)
}

// serveToken answers r as the token endpoint does, and returns the error
// it answered, if any.
func (f *fixture) serveToken(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ar, resp, err := f.p.Token(ctx, r)
	if err != nil {
		f.p.WriteAccessError(ctx, w, ar, err)
		return err
	}
	f.p.WriteAccessResponse(ctx, w, ar, resp)
	return nil
}

// tryTokenAs is tryToken as client id with secret.
func (f *fixture) tryTokenAs(ctx context.Context, id, secret string, form url.Values) (tokenResponse, error) {
	w := httptest.NewRecorder()
	r := tokenRequest(ctx, f, form)
	r.SetBasicAuth(id, secret)
	_ = f.serveToken(ctx, w, r)
	var out tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		return out, fmt.Errorf("decode %q: %w", w.Body.String(), err)
	}
	out.status = w.Code
	return out, nil
}

// revoke asks, as the fixture's client, for the revocation of token
// (RFC 7009).
func (f *fixture) revoke(ctx context.Context, token string) error {
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", f.secret)
	return f.p.Revoke(ctx, r)
}

func (f *fixture) login(t testing.TB) tokenResponse {
	t.Helper()
	r := f.token(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}})
	if r.status != http.StatusOK || r.RefreshToken == "" {
		t.Fatalf("login: %d %s", r.status, r.Error)
	}
	return r
}

func (f *fixture) refresh(t testing.TB, rt string, extra ...string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return f.token(t, form)
}

// introspect returns the fixture's introspection answer for token.
func (f *fixture) introspect(t testing.TB, token string) *Introspection {
	t.Helper()
	ctx := t.Context()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", f.secret)
	in, err := f.p.Introspect(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// active asks the introspection endpoint (RFC 7662), as client "app",
// whether token is active.
func (f *fixture) active(t testing.TB, token string) bool {
	t.Helper()
	return f.introspect(t, token).Active
}

func wantGrantError(t testing.TB, r tokenResponse) {
	t.Helper()
	if r.status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Fatalf("got %d %q, want 400 invalid_grant", r.status, r.Error)
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r0 := f.login(t)
	r1 := f.refresh(t, r0.RefreshToken)
	if r1.status != http.StatusOK || r1.RefreshToken == r0.RefreshToken || r1.AccessToken == r0.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", r1)
	}
	if f.active(t, r0.RefreshToken) || !f.active(t, r1.RefreshToken) || !f.active(t, r1.AccessToken) {
		t.Fatal("after rotation the old refresh token must be inactive and the new tokens active")
	}
}

func TestGraceReplayIsIdentical(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r0 := f.login(t)
	r1 := f.refresh(t, r0.RefreshToken)
	f.clock.Advance(5 * time.Second)
	again := f.refresh(t, r0.RefreshToken)
	// The very same response (API.md), expires_in included: it counts from
	// when the tokens were issued, as it did the first time.
	if again != r1 {
		t.Fatalf("replay within grace = %+v, want the first response %+v", again, r1)
	}
	// The login goes on: the replayed refresh token rotates normally.
	if r2 := f.refresh(t, r1.RefreshToken); r2.status != http.StatusOK {
		t.Fatalf("refresh after replay: %d %s", r2.status, r2.Error)
	}
}

func TestReuseAfterGraceRevokesFamily(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r0 := f.login(t)
	r1 := f.refresh(t, r0.RefreshToken)
	f.clock.Advance(11 * time.Second)
	wantGrantError(t, f.refresh(t, r0.RefreshToken))
	wantGrantError(t, f.refresh(t, r1.RefreshToken))
	if f.active(t, r1.AccessToken) {
		t.Fatal("the access token of a revoked login is still active")
	}
	fam := familyOf(t, f, r1.RefreshToken)
	events, err := f.p.SessionEvents(context.Background(), fam)
	if err != nil {
		t.Fatal(err)
	}
	want := "issued: refreshed: reuse_detected::enforced family_revoked:reuse_detected"
	if got := eventTrail(events); got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if got := testutil.ToFloat64(f.p.metrics.reuse.WithLabelValues(ReuseEnforce)); got != 1 {
		t.Errorf("latch_refresh_reuse_total{mode=enforce} = %v, want 1", got)
	}
}

// eventTrail writes events as "type:reason", with ":enforced" added to an
// event whose Enforced is set, space-separated.
func eventTrail(events []storage.Event) string {
	var trail []string
	for _, e := range events {
		s := e.Type + ":" + e.Reason
		if e.Enforced {
			s += ":enforced"
		}
		trail = append(trail, s)
	}
	return strings.Join(trail, " ")
}

// TestReuseReportMode: with ReuseDetection report (shadow mode), a spent
// refresh token presented after the grace window is refused and recorded,
// not enforced: the login stays live and its newest tokens keep working.
func TestReuseReportMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.ReuseDetection = ReuseReport })
	r0 := f.login(t)
	r1 := f.refresh(t, r0.RefreshToken)
	f.clock.Advance(11 * time.Second)
	wantGrantError(t, f.refresh(t, r0.RefreshToken))
	if !f.active(t, r1.AccessToken) {
		t.Error("the newest access token is inactive after a reported reuse")
	}
	r2 := f.refresh(t, r1.RefreshToken)
	if r2.status != http.StatusOK {
		t.Fatalf("newest refresh token after a reported reuse: %d %s", r2.status, r2.Error)
	}
	wantGrantError(t, f.refresh(t, r0.RefreshToken))
	events, err := f.p.SessionEvents(t.Context(), familyOf(t, f, r2.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	want := "issued: refreshed: reuse_detected: refreshed: reuse_detected:"
	if got := eventTrail(events); got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if got := testutil.ToFloat64(f.p.metrics.reuse.WithLabelValues(ReuseReport)); got != 2 {
		t.Errorf("latch_refresh_reuse_total{mode=report} = %v, want 2", got)
	}
	if got := testutil.CollectAndCount(f.p.metrics.reuse); got != 1 {
		t.Errorf("latch_refresh_reuse_total has %d series, want report only", got)
	}
}

func TestReuseDetectionMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, want string // want "" for an error
	}{
		{"", ReuseEnforce},
		{ReuseEnforce, ReuseEnforce},
		{ReuseReport, ReuseReport},
		{"Report", ""},
		{"off", ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.mode), func(t *testing.T) {
			t.Parallel()
			p, err := NewProvider(Config{
				Issuer: "http://127.0.0.1:8080", Secret: make([]byte, 32),
				AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, SessionMaxAge: time.Hour,
				ReuseDetection: tc.mode,
			}, nil)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("NewProvider accepted reuse detection %q", tc.mode)
			case tc.want != "" && err != nil:
				t.Errorf("NewProvider: %v", err)
			case tc.want != "" && p.cfg.ReuseDetection != tc.want:
				t.Errorf("reuse detection = %q, want %q", p.cfg.ReuseDetection, tc.want)
			}
		})
	}
}

func TestReuseWithoutGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.RefreshGrace = 0 })
	r0 := f.login(t)
	r1 := f.refresh(t, r0.RefreshToken)
	wantGrantError(t, f.refresh(t, r0.RefreshToken))
	wantGrantError(t, f.refresh(t, r1.RefreshToken))
}

func TestNarrowerScopeKeepsTheLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r0 := f.login(t)
	narrow := f.refresh(t, r0.RefreshToken, "scope", "read")
	if narrow.status != http.StatusOK || narrow.Scope != "read" {
		t.Fatalf("narrower refresh = %d %q %q", narrow.status, narrow.Error, narrow.Scope)
	}
	wide := f.refresh(t, narrow.RefreshToken, "scope", "read write admin")
	if wide.status != http.StatusBadRequest || wide.Error != "invalid_scope" {
		t.Fatalf("wider refresh = %d %q, want invalid_scope", wide.status, wide.Error)
	}
	full := f.refresh(t, narrow.RefreshToken)
	if full.status != http.StatusOK || full.Scope != "read write" {
		t.Fatalf("refresh after a refused wider scope = %d %q %q; the token must be unspent and keep the login's scope", full.status, full.Error, full.Scope)
	}
}

func TestSessionMaxAgeEndsLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.SessionMaxAge = time.Hour
		c.RefreshTokenTTL = 30 * time.Minute
	})
	r := f.login(t)
	for i := 0; i < 2; i++ {
		f.clock.Advance(25 * time.Minute)
		if r = f.refresh(t, r.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("refresh %d: %d %s", i, r.status, r.Error)
		}
	}
	// 50 minutes in: the access token is capped at the login's end.
	if r.ExpiresIn > int64((10 * time.Minute).Seconds()) {
		t.Fatalf("expires_in = %d, want at most 600 (capped at the login's end)", r.ExpiresIn)
	}
	f.clock.Advance(11 * time.Minute)
	wantGrantError(t, f.refresh(t, r.RefreshToken))
	if f.active(t, r.AccessToken) {
		t.Fatal("an access token outlived its login")
	}
}

func TestRefreshTokenIdleExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.RefreshTokenTTL = 30 * time.Minute })
	r := f.login(t)
	f.clock.Advance(31 * time.Minute)
	wantGrantError(t, f.refresh(t, r.RefreshToken))
}

// TestConcurrentRefreshWithGrace: many refreshes of one token at once make
// one rotation, and within grace every caller gets that one response.
func TestConcurrentRefreshWithGrace(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 16} {
		f := newFixture(t, nil)
		r0 := f.login(t)
		results := atOnce(n, func(int) tokenResponse { return f.refresh(t, r0.RefreshToken) }, nil)
		for i, r := range results {
			if r.status != http.StatusOK || r.AccessToken != results[0].AccessToken || r.RefreshToken != results[0].RefreshToken {
				t.Fatalf("n=%d caller %d got %d %q, not the one response", n, i, r.status, r.Error)
			}
		}
		events, err := f.p.SessionEvents(context.Background(), familyOf(t, f, results[0].RefreshToken))
		if err != nil {
			t.Fatal(err)
		}
		rotations := 0
		for _, e := range events {
			if e.Type == EventRefreshed {
				rotations++
			}
		}
		if rotations != 1 {
			t.Fatalf("n=%d: %d rotations, want exactly 1", n, rotations)
		}
	}
}

func TestJanitorKeepsOnlyTheLiveSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.SessionMaxAge = time.Hour })
	ctx := context.Background()
	// A burst of short logins that end, and one that lives on.
	var dead []string
	for range 3 {
		r := f.login(t)
		dead = append(dead, r.AccessToken, r.RefreshToken)
	}
	f.clock.Advance(50 * time.Minute)
	live := f.login(t)
	spent := live.RefreshToken
	live = f.refresh(t, live.RefreshToken)
	f.clock.Advance(20 * time.Minute) // the first three logins are past their maximum age
	if _, err := f.p.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range dead {
		if _, err := f.store.GetToken(ctx, keyOf(t, f, tok)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("token of an ended login survived the janitor: %v", err)
		}
	}
	for _, tok := range []string{live.RefreshToken, spent} {
		if _, err := f.store.GetToken(ctx, keyOf(t, f, tok)); err != nil {
			t.Fatalf("the janitor removed a token of a live login (a spent one must stay to catch reuse): %v", err)
		}
	}
	// Reuse of the spent token is still caught after the purge.
	wantGrantError(t, f.refresh(t, spent))
	wantGrantError(t, f.refresh(t, live.RefreshToken))
}

// atOnce runs do(i) for i in [0, n) in goroutines released together by a
// barrier, runs during (if any) meanwhile, and returns the answers in order.
func atOnce(n int, do func(i int) tokenResponse, during func()) []tokenResponse {
	results := make([]tokenResponse, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i] = do(i)
		})
	}
	close(start)
	if during != nil {
		during()
	}
	wg.Wait()
	return results
}

func keyOf(t testing.TB, f *fixture, token string) string {
	t.Helper()
	parsed, ok := f.p.strategy.parse(context.Background(), token)
	if !ok {
		t.Fatalf("token does not parse")
	}
	return parsed.key
}

func familyOf(t testing.TB, f *fixture, token string) string {
	t.Helper()
	tok, err := f.store.GetToken(context.Background(), keyOf(t, f, token))
	if err != nil {
		t.Fatal(err)
	}
	return tok.FamilyID
}
