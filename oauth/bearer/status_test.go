package bearer_test

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/latchhq/latch/oauth/bearer"
)

// listServer is a fakeServer that also serves one Token Status List at
// /oauth2/status/1, built here as draft-ietf-oauth-status-list says: the
// byte array, least significant bit first, zlib-compressed, base64url, in a
// JWT of typ statuslist+jwt signed by a key of the JWKS. Each field can be
// spoiled to test that the verifier refuses what it must.
type listServer struct {
	*fakeServer

	mu      sync.Mutex
	bits    int
	lst     []byte
	version int    // part of the ETag; bumped by set
	typ     string // the Status List Token's typ
	sub     string // "" means the list's URI
	claims  map[string]any
	key     *ecdsa.PrivateKey // nil means the published signing key
	ctype   string
	ttl     int

	hits, notModified atomic.Int64
	fail              atomic.Bool
	ifNoneMatch       atomic.Value // the last If-None-Match seen
}

const testTTL = 10 // seconds

func newListServer(t testing.TB, bits, size int) *listServer {
	t.Helper()
	ls := &listServer{
		fakeServer: newFakeServer(t), bits: bits, lst: make([]byte, (size*bits+7)/8),
		typ: "statuslist+jwt", ctype: "application/statuslist+jwt", ttl: testTTL,
	}
	ls.mux.HandleFunc("GET /oauth2/status/1", ls.serve)
	return ls
}

func (ls *listServer) uri() string { return ls.URL + "/oauth2/status/1" }

// set gives the token at idx a status.
func (ls *listServer) set(idx int, status byte) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	per := 8 / ls.bits
	shift := (idx % per) * ls.bits
	mask := byte(1<<ls.bits-1) << shift
	ls.lst[idx/per] = ls.lst[idx/per]&^mask | status<<shift
	ls.version++
}

func (ls *listServer) serve(w http.ResponseWriter, r *http.Request) {
	ls.hits.Add(1)
	if ls.fail.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	etag := fmt.Sprintf(`"v%d"`, ls.version)
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", ls.ttl))
	ls.ifNoneMatch.Store(r.Header.Get("If-None-Match"))
	if r.Header.Get("If-None-Match") == etag {
		ls.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = zw.Write(ls.lst)
	_ = zw.Close()
	sub := ls.sub
	if sub == "" {
		sub = ls.uri()
	}
	claims := map[string]any{
		"sub": sub, "iss": ls.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "ttl": ls.ttl,
		"status_list": map[string]any{"bits": ls.bits, "lst": base64.RawURLEncoding.EncodeToString(z.Bytes())},
	}
	for k, v := range ls.claims {
		claims[k] = v
	}
	key := ls.key
	if key == nil {
		key = ls.signingKey
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", ls.kid).WithType(jose.ContentType(ls.typ))
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tok, _ := jws.CompactSerialize()
	w.Header().Set("Content-Type", ls.ctype)
	_, _ = w.Write([]byte(tok))
}

// token returns an access token whose status is at idx of list uri.
func (ls *listServer) token(t testing.TB, idx any, uri string) string {
	t.Helper()
	c := ls.claims0()
	c["sid"] = "session-1"
	c["status"] = map[string]any{"status_list": map[string]any{"idx": idx, "uri": uri}}
	return ls.sign(t, "at+jwt", c)
}

func (ls *listServer) claims0() map[string]any {
	return ls.fakeServer.claims("aud", time.Now().Add(time.Hour))
}

// clock is a movable clock for the verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustVerifier(t testing.TB, o bearer.Options) *bearer.Verifier {
	t.Helper()
	if o.Audience == "" && o.ClientID == "" {
		o.Audience = "aud"
	}
	v, err := bearer.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// eventually polls cond until it holds, failing the test after a generous
// deadline: background fetches take what the machine gives them.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStatusList: a token whose bit is 0 passes, one whose bit is set is
// refused, and neither costs a fetch once the list is held.
func TestStatusList(t *testing.T) {
	t.Parallel()
	for _, bits := range []int{1, 2, 8} {
		t.Run(fmt.Sprintf("bits=%d", bits), func(t *testing.T) {
			t.Parallel()
			ls := newListServer(t, bits, 100)
			ls.set(3, 1) // INVALID
			ls.set(9, 0)
			if bits > 1 {
				ls.set(10, 2) // SUSPENDED
			}
			v := mustVerifier(t, bearer.Options{Issuer: ls.URL})
			good := ls.token(t, 9, ls.uri())
			c, err := v.Verify(t.Context(), good)
			if err != nil {
				t.Fatalf("valid token: %v", err)
			}
			if c.SessionID != "session-1" {
				t.Errorf("SessionID = %q", c.SessionID)
			}
			for i := 0; i < 50; i++ {
				if _, err := v.Verify(t.Context(), good); err != nil {
					t.Fatalf("valid token, again: %v", err)
				}
			}
			if n := ls.hits.Load(); n != 1 {
				t.Errorf("%d fetches of the list for 51 verifications, want 1", n)
			}
			refused := map[string]any{"revoked": 3, "outside the list": 100 * 8, "idx negative": -1, "idx a string": "3", "idx fractional": 3.5}
			if bits > 1 {
				refused["suspended"] = 10
			}
			for name, idx := range refused {
				if _, err := v.Verify(t.Context(), ls.token(t, idx, ls.uri())); !errors.Is(err, bearer.ErrInvalidToken) {
					t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
				}
			}
		})
	}
}

// TestStatusListRefresh: a revocation reaches the verifier with the first
// fetch after the list's ttl, which runs in the background.
func TestStatusListRefresh(t *testing.T) {
	t.Parallel()
	ls := newListServer(t, 1, 64)
	clk := newClock()
	v := mustVerifier(t, bearer.Options{Issuer: ls.URL, Now: clk.Now})
	tok := ls.token(t, 7, ls.uri())
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	ls.set(7, 1)
	clk.advance(testTTL*time.Second - time.Millisecond)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("within ttl the held list answers: %v", err)
	}
	if n := ls.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within ttl, want 1", n)
	}
	clk.advance(time.Millisecond)
	eventually(t, "the revoked token is refused", func() bool {
		_, err := v.Verify(t.Context(), tok)
		return errors.Is(err, bearer.ErrInvalidToken)
	})
	if n := ls.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	if inm, _ := ls.ifNoneMatch.Load().(string); inm != `"v0"` {
		t.Errorf("If-None-Match = %q, want the first answer's ETag", inm)
	}
}

// TestStatusListNotModified: a refetch with If-None-Match answered 304
// keeps the list and counts as fresh: with the server down afterwards, the
// list serves until the staleness bound counted from the 304.
func TestStatusListNotModified(t *testing.T) {
	t.Parallel()
	ls := newListServer(t, 1, 64)
	clk := newClock()
	v := mustVerifier(t, bearer.Options{Issuer: ls.URL, Now: clk.Now})
	tok := ls.token(t, 1, ls.uri())
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	clk.advance(testTTL * time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a 304", func() bool { return ls.notModified.Load() == 1 })
	ls.fail.Store(true)
	// The default bound is 1 minute here (5×ttl is less): 65s after the
	// first fetch but 55s after the 304 the list still serves.
	clk.advance(55 * time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("55s after the 304: %v", err)
	}
	clk.advance(5 * time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrUnavailable) {
		t.Errorf("60s after the 304, the server down: err = %v, want ErrUnavailable", err)
	}
}

// TestStatusListStale: a list older than StatusListMaxStaleness is not
// used, and with the server down the token is refused with ErrUnavailable,
// a 503 from the middleware; once the server is back, it passes again.
func TestStatusListStale(t *testing.T) {
	t.Parallel()
	ls := newListServer(t, 1, 64)
	clk := newClock()
	v := mustVerifier(t, bearer.Options{Issuer: ls.URL, Now: clk.Now, StatusListMaxStaleness: 30 * time.Second})
	tok := ls.token(t, 1, ls.uri())
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	ls.fail.Store(true)
	clk.advance(29 * time.Second)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("within the bound: %v", err)
	}
	clk.advance(time.Second)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrUnavailable) {
		t.Errorf("past the bound: err = %v, want ErrUnavailable", err)
	}
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("middleware: %d, want 503", w.Code)
	}
	ls.fail.Store(false)
	clk.advance(time.Second) // past the pause after a failed fetch
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Errorf("server back: %v", err)
	}
}

// TestStatusListRefused: a list that cannot be trusted makes the token
// unverifiable (ErrUnavailable, fail closed), and a token naming a list
// outside the issuer is refused without fetching it.
func TestStatusListRefused(t *testing.T) {
	t.Parallel()
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(ls *listServer)
	}{
		{"bad signature", func(ls *listServer) { ls.key = otherKey }},
		{"typ JWT", func(ls *listServer) { ls.typ = "JWT" }},
		{"typ at+jwt", func(ls *listServer) { ls.typ = "at+jwt" }},
		{"sub another list", func(ls *listServer) { ls.sub = ls.URL + "/oauth2/status/2" }},
		{"iss another server", func(ls *listServer) { ls.claims = map[string]any{"iss": "https://evil.example"} }},
		{"expired", func(ls *listServer) { ls.claims = map[string]any{"exp": time.Now().Add(-time.Hour).Unix()} }},
		{"no iat", func(ls *listServer) { ls.claims = map[string]any{"iat": nil} }},
		{"bits 3", func(ls *listServer) {
			ls.claims = map[string]any{"status_list": map[string]any{"bits": 3, "lst": "eNoDAAAAAAE"}}
		}},
		{"lst not zlib", func(ls *listServer) {
			ls.claims = map[string]any{"status_list": map[string]any{"bits": 1, "lst": "AAAA"}}
		}},
		{"ttl zero", func(ls *listServer) { ls.claims = map[string]any{"ttl": 0} }},
		{"content type JSON", func(ls *listServer) { ls.ctype = "application/json" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ls := newListServer(t, 1, 64)
			tc.spoil(ls)
			v := mustVerifier(t, bearer.Options{Issuer: ls.URL})
			if _, err := v.Verify(t.Context(), ls.token(t, 1, ls.uri())); !errors.Is(err, bearer.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		})
	}
	ls := newListServer(t, 1, 64)
	v := mustVerifier(t, bearer.Options{Issuer: ls.URL + "/tenant", JWKSURL: ls.URL + "/jwks"})
	for name, uri := range map[string]string{
		"another host":          "http://127.0.0.2:1/oauth2/status/1",
		"another scheme":        "https" + ls.URL[len("http"):] + "/tenant/status/1",
		"outside the issuer":    ls.uri(),
		"dot segments":          ls.URL + "/tenant/../oauth2/status/1",
		"encoded dot segments":  ls.URL + "/tenant/%2e%2e/oauth2/status/1",
		"user info":             "http://x@" + ls.URL[len("http://"):] + "/tenant/status/1",
		"issuer prefix only":    ls.URL + "/tenant-evil/status/1",
		"not a URL":             "::",
		"the issuer itself":     ls.URL + "/tenant",
		"relative":              "/tenant/status/1",
		"double slash in path":  ls.URL + "/tenant//status/1",
		"fragment":              ls.URL + "/tenant/status/1#x",
		"empty":                 "",
		"another port":          "http://127.0.0.1:1/tenant/status/1",
		"host in path":          ls.URL + "@127.0.0.2/tenant/status/1",
		"scheme-relative host":  "//127.0.0.2/tenant/status/1",
		"backslash host switch": "http:\\\\127.0.0.2/tenant/status/1",
	} {
		tok := ls.sign(t, "at+jwt", map[string]any{
			"iss": ls.URL + "/tenant", "aud": "aud", "sub": "u", "exp": time.Now().Add(time.Hour).Unix(),
			"status": map[string]any{"status_list": map[string]any{"idx": 1, "uri": uri}},
		})
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}
	if n := ls.hits.Load(); n != 0 {
		t.Errorf("%d fetches of lists outside the issuer", n)
	}
}

// TestRequireStatusList: with RequireStatusList, a JWT without a status
// claim is refused; without it, such a JWT passes.
func TestRequireStatusList(t *testing.T) {
	t.Parallel()
	ls := newListServer(t, 1, 8)
	plain := ls.sign(t, "at+jwt", ls.claims0())
	if _, err := mustVerifier(t, bearer.Options{Issuer: ls.URL}).Verify(t.Context(), plain); err != nil {
		t.Errorf("no status, not required: %v", err)
	}
	v := mustVerifier(t, bearer.Options{Issuer: ls.URL, RequireStatusList: true})
	if _, err := v.Verify(t.Context(), plain); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Errorf("no status, required: err = %v, want ErrInvalidToken", err)
	}
	if _, err := v.Verify(t.Context(), ls.token(t, 1, ls.uri())); err != nil {
		t.Errorf("with status, required: %v", err)
	}
}

// TestIntrospectionCacheBound: a cached introspection answer is used for
// IntrospectionCacheTTL after the request that fetched it began, never
// longer, and never past the token's exp; inactive answers are not cached.
func TestIntrospectionCacheBound(t *testing.T) {
	t.Parallel()
	var active atomic.Bool
	var hits atomic.Int64
	exp := time.Now().Add(time.Hour)
	clk := newClock()
	var shortExp atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if !active.Load() {
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		e := exp.Unix()
		if r.FormValue("token") == "short" {
			e = shortExp.Load()
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "token_type": "Bearer", "exp": e})
	}))
	t.Cleanup(srv.Close)
	v, err := bearer.New(bearer.Options{
		Issuer: srv.URL, ClientID: "rs", ClientSecret: "s", IntrospectionURL: srv.URL,
		IntrospectionCacheTTL: 5 * time.Second, Now: clk.Now, Leeway: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	active.Store(true)
	if _, err := v.Verify(t.Context(), "tok"); err != nil {
		t.Fatal(err)
	}
	active.Store(false) // revoked
	clk.advance(5*time.Second - time.Millisecond)
	if _, err := v.Verify(t.Context(), "tok"); err != nil {
		t.Errorf("within the cache's bound: %v", err)
	}
	clk.advance(time.Millisecond)
	if _, err := v.Verify(t.Context(), "tok"); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Errorf("at the bound: err = %v, want ErrInvalidToken", err)
	}
	active.Store(true)
	// Inactive answers were not cached: the token is asked about again.
	before := hits.Load()
	if _, err := v.Verify(t.Context(), "tok"); err != nil || hits.Load() != before+1 {
		t.Errorf("after an inactive answer: err %v, %d requests, want a fresh one", err, hits.Load()-before)
	}
	// A token expiring within the ttl is cached until its exp only.
	shortExp.Store(clk.Now().Add(3 * time.Second).Unix())
	if _, err := v.Verify(t.Context(), "short"); err != nil {
		t.Fatal(err)
	}
	clk.advance(3*time.Second + time.Millisecond)
	if _, err := v.Verify(t.Context(), "short"); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Errorf("past exp: err = %v, want ErrInvalidToken", err)
	}
}
