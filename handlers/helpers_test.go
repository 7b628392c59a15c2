package handlers_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", to read the store's file behind its back
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
	"github.com/latchhq/latch/templates"
)

const testAdminToken = "admin-token-0123456789"

// syncBuffer is an io.Writer that the server's goroutines and the test can
// share under -race.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a movable clock for the provider.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type serverConfig struct {
	adminToken      string
	grace           time.Duration
	reuseDetection  string
	anomalyAction   string
	anomalySignals  []string
	refreshBurst    int
	accessTokenTTL  time.Duration
	refreshTokenTTL time.Duration
	sessionMaxAge   time.Duration
	clock           *fakeClock
	secret          []byte
	oldSecrets      [][]byte
	store           *sqlstore.Store
	dump            func(testing.TB) []string
	dsn             string // open a store of its own on this database
	tokenFormat     string
	defaultAudience string
	trustedProxies  []netip.Prefix
	maxFailures     int
	maxFailuresAddr int
	issuerPath      string
	wrapStore       func(storage.Store) storage.Store
	dpopNonce       bool
}

type serverOption func(*serverConfig)

// withJWT turns on JWT access tokens (LATCH_ACCESS_TOKEN_FORMAT=jwt) with
// the default audience aud ("" means the issuer).
func withJWT(aud string) serverOption {
	return func(c *serverConfig) { c.tokenFormat, c.defaultAudience = oauth.FormatJWT, aud }
}

// withDPoPNonce sets LATCH_DPOP_NONCE=on.
func withDPoPNonce() serverOption { return func(c *serverConfig) { c.dpopNonce = true } }

// withGrace sets LATCH_REFRESH_GRACE. Tests of reuse detection use 0, so
// that a spent refresh token presented again is reuse at once (API.md).
func withGrace(d time.Duration) serverOption { return func(c *serverConfig) { c.grace = d } }

// withReuseDetection sets LATCH_REUSE_DETECTION (enforce or report).
func withReuseDetection(mode string) serverOption {
	return func(c *serverConfig) { c.reuseDetection = mode }
}

// withAnomaly sets LATCH_ANOMALY_ACTION, LATCH_ANOMALY_SIGNALS (nil: the
// default) and LATCH_REFRESH_BURST (0: the default).
func withAnomaly(action string, signals []string, burst int) serverOption {
	return func(c *serverConfig) { c.anomalyAction, c.anomalySignals, c.refreshBurst = action, signals, burst }
}

// withIssuerPath gives the issuer a path, as behind a proxy that serves
// Latch under https://example.com/auth.
func withIssuerPath(path string) serverOption { return func(c *serverConfig) { c.issuerPath = path } }

// withStoreWrapper gives the provider wrap(store) instead of the store, so
// that a test can make some calls fail (see faultyStore).
func withStoreWrapper(wrap func(storage.Store) storage.Store) serverOption {
	return func(c *serverConfig) { c.wrapStore = wrap }
}

func withAdminToken(tok string) serverOption { return func(c *serverConfig) { c.adminToken = tok } }

func withClock(clk *fakeClock) serverOption { return func(c *serverConfig) { c.clock = clk } }

// withSecret sets the HMAC secret and the retired ones (LATCH_SECRET_OLD).
func withSecret(secret []byte, old ...[]byte) serverOption {
	return func(c *serverConfig) { c.secret, c.oldSecrets = secret, old }
}

// withStoreOf makes a second node on the store of another test server.
func withStoreOf(other *testServer) serverOption {
	return func(c *serverConfig) { c.store, c.dump = other.store, other.dump }
}

// withDatabaseOf makes a second node with a store (connections, caches)
// of its own on the database of another test server, as a second process
// would be.
func withDatabaseOf(other *testServer) serverOption {
	return func(c *serverConfig) { c.dsn, c.dump = other.dsn, other.dump }
}

func withLifetimes(access, refresh, maxAge time.Duration) serverOption {
	return func(c *serverConfig) {
		c.accessTokenTTL, c.refreshTokenTTL, c.sessionMaxAge = access, refresh, maxAge
	}
}

// withTrustedProxies sets LATCH_TRUSTED_PROXIES: the networks whose
// X-Forwarded-For is believed.
func withTrustedProxies(cidrs ...string) serverOption {
	return func(c *serverConfig) {
		c.trustedProxies = nil
		for _, s := range cidrs {
			c.trustedProxies = append(c.trustedProxies, netip.MustParsePrefix(s))
		}
	}
}

// withLoginLimits sets LATCH_LOGIN_MAX_FAILURES and
// LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS (0 keeps a default).
func withLoginLimits(perUsername, perAddress int) serverOption {
	return func(c *serverConfig) { c.maxFailures, c.maxFailuresAddr = perUsername, perAddress }
}

// testServer is a whole Latch over httptest on a fresh store.
type testServer struct {
	URL    string
	srv    *httptest.Server
	store  *sqlstore.Store
	logs   *syncBuffer
	secret []byte
	admin  string
	// provider is the node's oauth.Provider, for what has no HTTP door
	// (key rotation, the janitor).
	provider *oauth.Provider
	// dump returns every value of every column of every table.
	dump func(t testing.TB) []string
	dsn  string
	// introspector is a confidential client with can_introspect.
	introspector client
}

// newTestServer starts Latch on a fresh store: SQLite in t.TempDir(), or a
// fresh PostgreSQL schema when LATCH_TEST_DATABASE_URL is set.
func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	cfg := serverConfig{
		adminToken:      testAdminToken,
		grace:           10 * time.Second,
		accessTokenTTL:  15 * time.Minute,
		refreshTokenTTL: 720 * time.Hour,
		sessionMaxAge:   2160 * time.Hour,
	}
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, dump, dsn := cfg.store, cfg.dump, cfg.dsn
	switch {
	case store == nil && dsn != "":
		store = openStore(t, dsn, logger)
	case store == nil:
		store, dump, dsn = newStore(t, logger)
	}
	secret := cfg.secret
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() + cfg.issuerPath
	pc := oauth.Config{
		Issuer:          issuer,
		Secret:          secret,
		OldSecrets:      cfg.oldSecrets,
		AccessTokenTTL:  cfg.accessTokenTTL,
		RefreshTokenTTL: cfg.refreshTokenTTL,
		SessionMaxAge:   cfg.sessionMaxAge,
		RefreshGrace:    cfg.grace,
		ReuseDetection:  cfg.reuseDetection,
		AnomalyAction:   cfg.anomalyAction,
		AnomalySignals:  cfg.anomalySignals,
		RefreshBurst:    cfg.refreshBurst,

		AccessTokenFormat: cfg.tokenFormat,
		DefaultAudience:   cfg.defaultAudience,
		// Cheap password hashes keep the suite fast under -race; the
		// production cost is tested in package oauth.
		Argon2:     oauth.Argon2Params{MemoryKiB: 256, Time: 1, Threads: 1},
		Logger:     logger,
		Registerer: reg,

		LoginMaxFailures:           cfg.maxFailures,
		LoginMaxFailuresPerAddress: cfg.maxFailuresAddr,
		DPoPNonce:                  cfg.dpopNonce,
	}
	if cfg.clock != nil {
		pc.Now = cfg.clock.Now
	}
	var ps storage.Store = store
	if cfg.wrapStore != nil {
		ps = cfg.wrapStore(store)
	}
	p, err := oauth.NewProvider(pc, ps)
	if err != nil {
		t.Fatal(err)
	}
	console, err := templates.Parse()
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handlers.New(logger, p, handlers.Options{
		AdminToken:     cfg.adminToken,
		TrustedProxies: cfg.trustedProxies,
		Registry:       reg,
		Console:        console,
		Version:        "test",
	})
	srv.Start()
	t.Cleanup(srv.Close)
	if srv.URL+cfg.issuerPath != issuer {
		t.Fatalf("server URL %s differs from issuer %s", srv.URL, issuer)
	}
	ts := &testServer{URL: srv.URL, srv: srv, store: store, logs: logs, secret: secret, admin: cfg.adminToken, provider: p, dump: dump, dsn: dsn}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	if cfg.adminToken != "" && (cfg.store != nil || cfg.dsn != "") {
		// A second node: the first one registered the introspector.
		ts.introspector = client{ID: "introspector", AuthMethod: "client_secret_basic"}
	} else if cfg.adminToken != "" {
		ts.introspector = ts.createClient(t, map[string]any{
			"client_id":      "introspector",
			"grant_types":    []string{"client_credentials"},
			"can_introspect": true,
		})
	}
	return ts
}

// newStore opens a fresh, migrated store whose database the test can also
// read directly, for dumps. PostgreSQL gets a fresh schema from
// sqlstoretest.PostgresURL; SQLite a file in t.TempDir().
func newStore(t testing.TB, logger *slog.Logger) (*sqlstore.Store, func(testing.TB) []string, string) {
	t.Helper()
	var dsn string
	var dump func(testing.TB) []string
	if os.Getenv(sqlstoretest.EnvDatabaseURL) != "" {
		dsn = sqlstoretest.PostgresURL(t)
		dump = func(t testing.TB) []string { return dumpPostgres(t, dsn) }
	} else {
		path := filepath.Join(t.TempDir(), "latch.db")
		dsn = "sqlite:" + path
		dump = func(t testing.TB) []string { return dumpSQLite(t, path) }
	}
	store := openStore(t, dsn, logger)
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return store, dump, dsn
}

// openStore opens a store on dsn, closed when the test ends.
func openStore(t testing.TB, dsn string, logger *slog.Logger) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() }) // some tests close it early
	return store
}

func dumpSQLite(t testing.TB, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var out []string
	for _, table := range tables {
		rows, err := db.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				out = append(out, table+"."+cols[i]+"="+stringify(v))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func dumpPostgres(t testing.TB, dsn string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, table := range tables {
		rows, err := conn.Query(t.Context(), `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatal(err)
		}
		fields := rows.FieldDescriptions()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				out = append(out, table+"."+fields[i].Name+"="+stringify(v))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func stringify(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// metric returns the value of the series name{labels} in the server's
// /metrics, and false if it is not there. labels are name, value pairs, and
// must be all of the series' labels.
func (s *testServer) metric(t testing.TB, name string, labels ...string) (float64, bool) {
	t.Helper()
	res := s.get(t, "/metrics")
	if res.status != http.StatusOK {
		t.Fatalf("/metrics: %s", res)
	}
	return metricIn(t, string(res.body), name, labels...)
}

// metricIn finds the series name{labels} in body, Prometheus's text
// format, which writes the labels sorted by name.
func metricIn(t testing.TB, body, name string, labels ...string) (float64, bool) {
	t.Helper()
	if len(labels)%2 != 0 {
		t.Fatalf("metric %s: labels %q are not name, value pairs", name, labels)
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+"="+strconv.Quote(labels[i+1]))
	}
	slices.Sort(pairs)
	series := name
	if len(pairs) > 0 {
		series += "{" + strings.Join(pairs, ",") + "}"
	}
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: value %q: %v", series, v, err)
			}
			return f, true
		}
	}
	return 0, false
}

// response is one HTTP answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// object decodes the body as a JSON object.
func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v: %q", r.status, err, r.body)
	}
	return m
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

func (s *testServer) do(t testing.TB, req *http.Request) response {
	t.Helper()
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// adminDo calls the admin API with the server's admin token.
func (s *testServer) adminDo(t testing.TB, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.admin)
	return s.do(t, req)
}

// client is a registered OAuth2 client as the test knows it.
type client struct {
	ID         string
	Secret     string
	AuthMethod string
}

// createClient registers a client through the admin API.
func (s *testServer) createClient(t testing.TB, spec map[string]any) client {
	t.Helper()
	res := s.adminDo(t, http.MethodPost, "/admin/clients", spec)
	if res.status != http.StatusCreated {
		t.Fatalf("create client %v: %s", spec, res)
	}
	m := res.object(t)
	c := client{ID: str(m["client_id"]), Secret: str(m["client_secret"]), AuthMethod: str(m["token_endpoint_auth_method"])}
	if c.ID == "" || c.AuthMethod == "" {
		t.Fatalf("create client: incomplete answer %s", res)
	}
	return c
}

// newPasswordClient registers a confidential client with the password and
// refresh_token grants and scopes "read write".
func (s *testServer) newPasswordClient(t testing.TB, id, method string) client {
	t.Helper()
	return s.createClient(t, map[string]any{
		"client_id":                  id,
		"grant_types":                []string{"password", "refresh_token"},
		"scope":                      "read write",
		"token_endpoint_auth_method": method,
	})
}

// createUser registers a user through the admin API and returns its id.
func (s *testServer) createUser(t testing.TB, username, password string) string {
	t.Helper()
	res := s.adminDo(t, http.MethodPost, "/admin/users", map[string]string{"username": username, "password": password})
	if res.status != http.StatusCreated {
		t.Fatalf("create user %q: %s", username, res)
	}
	id := str(res.object(t)["id"])
	if id == "" {
		t.Fatalf("create user: no id in %s", res)
	}
	return id
}

// post sends a form to an OAuth2 endpoint, authenticating as c the way its
// token_endpoint_auth_method says (nothing for a zero client).
func (s *testServer) post(t testing.TB, path string, c client, form url.Values) response {
	t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch c.AuthMethod {
	case "client_secret_basic":
		// RFC 6749 §2.3.1: form-url-encode before Base64.
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	case "client_secret_post":
		f.Set("client_id", c.ID)
		f.Set("client_secret", c.Secret)
	case "none":
		f.Set("client_id", c.ID)
	}
	req.Body = io.NopCloser(strings.NewReader(f.Encode()))
	req.ContentLength = int64(len(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.do(t, req)
}

// postAuth sends form to an OAuth2 endpoint with exactly the given
// Authorization header values, for requests that post cannot make: no
// header, several, or malformed ones.
func (s *testServer) postAuth(t testing.TB, path string, authorization []string, form url.Values) response {
	t.Helper()
	h := formHeader.Clone()
	if authorization != nil {
		h["Authorization"] = authorization
	}
	return s.send(t, http.MethodPost, path, client{}, h, form.Encode(), false)
}

// basicAuth is the Authorization header of client_secret_basic: id and
// secret form-url-encoded, then Base64 (RFC 6749 §2.3.1).
func basicAuth(id, secret string) string {
	return rawBasic(url.QueryEscape(id) + ":" + url.QueryEscape(secret))
}

// rawBasic is a Basic Authorization header over credentials as they are,
// without the form-url-encoding a client owes them.
func rawBasic(credentials string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(credentials))
}

// tokens is a successful token response.
type tokens struct {
	Access  string
	Refresh string
	Scope   string
	Raw     map[string]any
}

func (s *testServer) tokenOK(t testing.TB, c client, form url.Values) tokens {
	t.Helper()
	res := s.post(t, "/oauth2/token", c, form)
	if res.status != http.StatusOK {
		t.Fatalf("token %s: want 200, got %s", form.Get("grant_type"), res)
	}
	checkNoStore(t, res)
	m := res.object(t)
	return tokens{Access: str(m["access_token"]), Refresh: str(m["refresh_token"]), Scope: str(m["scope"]), Raw: m}
}

// login runs the password grant and fails the test unless it succeeds.
func (s *testServer) login(t testing.TB, c client, username, password, scope string) tokens {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return s.tokenOK(t, c, form)
}

// refresh runs the refresh_token grant and returns the raw answer.
func (s *testServer) refresh(t testing.TB, c client, refreshToken, scope string) response {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return s.post(t, "/oauth2/token", c, form)
}

// introspect asks the introspection endpoint about token as the server's
// introspecting client.
func (s *testServer) introspect(t testing.TB, token string) map[string]any {
	t.Helper()
	res := s.post(t, "/oauth2/introspect", s.introspector, url.Values{"token": {token}})
	if res.status != http.StatusOK {
		t.Fatalf("introspect: want 200, got %s", res)
	}
	return res.object(t)
}

// wantInactive asserts that introspection answers exactly {"active": false}.
func (s *testServer) wantInactive(t testing.TB, what, token string) {
	t.Helper()
	m := s.introspect(t, token)
	if len(m) != 1 || m["active"] != false {
		t.Errorf("%s: introspection = %v, want exactly {\"active\": false}", what, m)
	}
}

func (s *testServer) wantActive(t testing.TB, what, token string) map[string]any {
	t.Helper()
	m := s.introspect(t, token)
	if m["active"] != true {
		t.Errorf("%s: introspection = %v, want active", what, m)
	}
	return m
}

// wantRefreshDead asserts that a refresh token answers invalid_grant.
func (s *testServer) wantRefreshDead(t testing.TB, what string, c client, refreshToken string) {
	t.Helper()
	wantOAuthError(t, what, s.refresh(t, c, refreshToken, ""), http.StatusBadRequest, "invalid_grant")
}

// wantLoginDead asserts that neither token of a login works any more.
func (s *testServer) wantLoginDead(t testing.TB, what string, c client, tok tokens) {
	t.Helper()
	s.wantInactive(t, what+": access token", tok.Access)
	if tok.Refresh != "" {
		s.wantInactive(t, what+": refresh token", tok.Refresh)
		s.wantRefreshDead(t, what, c, tok.Refresh)
	}
}

// wantOAuthError asserts an RFC 6749 §5.2 error answer; every 401 must carry
// WWW-Authenticate.
func wantOAuthError(t testing.TB, what string, res response, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Errorf("%s: status = %d, want %d (body %s)", what, res.status, status, res.body)
	}
	var m map[string]any
	if err := json.Unmarshal(res.body, &m); err != nil {
		t.Errorf("%s: body is not JSON: %q", what, res.body)
		return
	}
	if m["error"] != code {
		t.Errorf("%s: error = %v, want %q (body %s)", what, m["error"], code, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type = %q, want application/json", what, ct)
	}
	if res.status == http.StatusUnauthorized && res.header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: 401 without WWW-Authenticate", what)
	}
}

// checkNoStore asserts RFC 6749 §5.1's cache headers.
func checkNoStore(t testing.TB, res response) {
	t.Helper()
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := res.header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q, want no-cache", got)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
