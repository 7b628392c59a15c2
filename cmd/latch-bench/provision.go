package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds what every scenario shares: the HTTP client, the fixtures and
// the introspection pool.
type bench struct {
	cfg      *config
	hc       *http.Client
	stderr   io.Writer
	progress bool

	// basicAuth is the client's precomputed Authorization header (RFC 6749
	// §2.3.1: form-url-encoded before Base64).
	basicAuth string
	clientID  string
	users     []user
	// introspectPool holds active access tokens for introspection, built the
	// first time a scenario needs it.
	introspectPool []string
	// hashSlots bounds simultaneous argon2id hashes to the CPUs, as Latch's
	// hashing pool does (oauth.Config.HashConcurrency).
	hashSlots chan struct{}
}

// user is a provisioned resource owner.
type user struct {
	id       string
	username string
	password string
}

func newBench(cfg *config, stderr io.Writer) *bench {
	tr := &http.Transport{
		DialContext:         newLoopbackDialer().DialContext,
		MaxIdleConns:        cfg.concurrency * 2,
		MaxIdleConnsPerHost: cfg.concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// No HTTP proxy, whatever the environment says: load stays local.
		Proxy: nil,
	}
	return &bench{
		cfg:       cfg,
		stderr:    stderr,
		progress:  isTerminal(stderr),
		hashSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		hc: &http.Client{
			Transport: tr,
			Timeout:   cfg.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func (b *bench) close() { b.hc.CloseIdleConnections() }

// checkServer fails with one clear line when nothing answers at the URL, or
// when the server is not ready (its database does not answer).
func (b *bench) checkServer(ctx context.Context) error {
	for _, path := range []string{"/healthz", "/readyz"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.baseURL+path, nil)
		if err != nil {
			return fmt.Errorf("latch-bench: %w", err)
		}
		res, err := b.hc.Do(req)
		if err != nil {
			return fmt.Errorf("latch-bench: cannot reach the server at %s: %s", b.cfg.baseURL, shortNetError(err))
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("latch-bench: server at %s is not ready: GET %s answered %d", b.cfg.baseURL, path, res.StatusCode)
		}
	}
	return nil
}

// adminError is a failed admin API call.
type adminError struct {
	what   string
	status int
	body   string
}

func (e *adminError) Error() string {
	hint := ""
	switch e.status {
	case http.StatusUnauthorized:
		hint = " (wrong --admin-token?)"
	case http.StatusNotFound:
		hint = " (is the admin API off? the server needs LATCH_ADMIN_TOKEN)"
	}
	return fmt.Sprintf("latch-bench: %s: admin API answered %d%s: %s", e.what, e.status, hint, e.body)
}

// admin calls the admin API and decodes a JSON answer into out (if not nil).
func (b *bench) admin(ctx context.Context, what, method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("latch-bench: %s: %w", what, err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.cfg.baseURL+path, body)
	if err != nil {
		return fmt.Errorf("latch-bench: %s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.adminToken)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("latch-bench: %s: %s", what, shortNetError(err))
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("latch-bench: %s: read answer: %w", what, err)
	}
	if res.StatusCode != want {
		return &adminError{what: what, status: res.StatusCode, body: strings.TrimSpace(string(raw))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("latch-bench: %s: answer is not JSON: %w", what, err)
		}
	}
	return nil
}

// provision registers a confidential client whose secret the server
// generates (a generated secret is checked with SHA-256, as real
// machine clients would be, rather than argon2id), and --users users with
// random passwords. A random suffix keeps reruns against one server apart.
func (b *bench) provision(ctx context.Context) error {
	suffix := randomHex(6)
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	err := b.admin(ctx, "create client", http.MethodPost, "/admin/clients", map[string]any{
		"client_id":                  "latch-bench-" + suffix,
		"client_name":                "latch-bench " + suffix,
		"grant_types":                []string{"password", "refresh_token", "client_credentials"},
		"scope":                      "read write",
		"token_endpoint_auth_method": "client_secret_basic",
		"can_introspect":             true,
	}, http.StatusCreated, &created)
	if err != nil {
		return err
	}
	if created.ClientID == "" || created.ClientSecret == "" {
		return errors.New("latch-bench: create client: the answer carries no client_id or client_secret")
	}
	b.clientID = created.ClientID
	b.basicAuth = "Basic " + basic(url.QueryEscape(created.ClientID), url.QueryEscape(created.ClientSecret))

	b.users = make([]user, b.cfg.users)
	for i := range b.users {
		b.users[i] = user{username: fmt.Sprintf("bench-%s-%d", suffix, i), password: randomHex(16)}
	}
	// Each user costs the server one argon2id hash: a few in parallel.
	return parallel(ctx, min(b.cfg.users, 8), len(b.users), func(ctx context.Context, i int) error {
		u := &b.users[i]
		var out struct {
			ID string `json:"id"`
		}
		if err := b.admin(ctx, "create user "+u.username, http.MethodPost, "/admin/users",
			map[string]string{"username": u.username, "password": u.password}, http.StatusCreated, &out); err != nil {
			return err
		}
		u.id = out.ID
		return nil
	})
}

// cleanup deletes what provision created, unless --keep. Deleting the
// client ends every token it was issued. Failures only warn.
func (b *bench) cleanup() {
	if b.cfg.keep {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b.clientID != "" {
		if err := b.admin(ctx, "delete client", http.MethodDelete, "/admin/clients/"+url.PathEscape(b.clientID), nil, http.StatusNoContent, nil); err != nil {
			fmt.Fprintf(b.stderr, "warning: %v\n", err)
		}
	}
	_ = parallel(ctx, 8, len(b.users), func(ctx context.Context, i int) error {
		if b.users[i].id == "" {
			return nil
		}
		if err := b.admin(ctx, "delete user", http.MethodDelete, "/admin/users/"+url.PathEscape(b.users[i].id), nil, http.StatusNoContent, nil); err != nil {
			fmt.Fprintf(b.stderr, "warning: %v\n", err)
		}
		return nil
	})
}

// tokenAnswer is the part of a token response the tool uses.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// token runs one grant outside any timed phase and insists on success.
func (b *bench) token(ctx context.Context, form url.Values) (tokenAnswer, error) {
	// Setup runs outside the clock, often beside a password flood (flood.sh)
	// that keeps the hashing pool full: a 503 is waited out, a few times.
	for try := 1; ; try++ {
		t, wait, err := b.tokenOnce(ctx, form)
		if wait == 0 || try == setupTries {
			return t, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return tokenAnswer{}, ctx.Err()
		}
	}
}

// A setup request answered 503 is tried setupTries times in all, setupPause
// apart. Latch's Retry-After (whole seconds) is for real clients; a hashing
// slot frees up every few tens of milliseconds.
const (
	setupTries = 10
	setupPause = 250 * time.Millisecond
)

// tokenOnce posts form once. On a 503 it also returns how long to wait
// before trying again.
func (b *bench) tokenOnce(ctx context.Context, form url.Values) (tokenAnswer, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.baseURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", b.basicAuth)
	res, err := b.hc.Do(req)
	if err != nil {
		return tokenAnswer{}, 0, errors.New(shortNetError(err))
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return tokenAnswer{}, 0, err
	}
	if res.StatusCode != http.StatusOK {
		var wait time.Duration
		if res.StatusCode == http.StatusServiceUnavailable {
			wait = setupPause
		}
		return tokenAnswer{}, wait, fmt.Errorf("%s grant answered %d %s", form.Get("grant_type"), res.StatusCode, oauthErrorCode(raw))
	}
	var t tokenAnswer
	if err := json.Unmarshal(raw, &t); err != nil || t.AccessToken == "" {
		return tokenAnswer{}, 0, fmt.Errorf("%s grant: no access_token in the answer", form.Get("grant_type"))
	}
	return t, 0, nil
}

func passwordForm(u user) url.Values {
	return url.Values{"grant_type": {"password"}, "username": {u.username}, "password": {u.password}, "scope": {"read write"}}
}

var clientCredentialsForm = url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}

// clientCredentialsBody is clientCredentialsForm, encoded once for the timed
// requests.
var clientCredentialsBody = clientCredentialsForm.Encode()

// issueTokens gets n client_credentials access tokens before a timed phase,
// at the run's concurrency (a closed loop, so it never outruns the server).
func (b *bench) issueTokens(ctx context.Context, label string, n int) ([]string, error) {
	out := make([]string, n)
	var done atomic.Int64
	p := startProgress(b.progress, b.stderr, label, &done, 0, int64(n))
	defer p.done()
	err := parallel(ctx, b.cfg.concurrency, n, func(ctx context.Context, i int) error {
		t, err := b.token(ctx, clientCredentialsForm)
		if err != nil {
			return fmt.Errorf("latch-bench: %s: %w", label, err)
		}
		out[i] = t.AccessToken
		done.Add(1)
		return nil
	})
	return out, err
}

// ensureIntrospectPool builds the introspection pool once: --pool
// client_credentials tokens, plus one login's access token per user so that
// user tokens (with sub and username) are introspected too. These logins are
// never refreshed, so their access tokens stay active.
func (b *bench) ensureIntrospectPool(ctx context.Context) error {
	if b.introspectPool != nil {
		return nil
	}
	pool, err := b.issueTokens(ctx, "introspection pool", b.cfg.pool)
	if err != nil {
		return err
	}
	userTokens := make([]string, len(b.users))
	err = parallel(ctx, min(b.cfg.concurrency, len(b.users)), len(b.users), func(ctx context.Context, i int) error {
		t, err := b.token(ctx, passwordForm(b.users[i]))
		if err != nil {
			return fmt.Errorf("latch-bench: introspection pool: login %s: %w", b.users[i].username, err)
		}
		userTokens[i] = t.AccessToken
		return nil
	})
	if err != nil {
		return err
	}
	b.introspectPool = append(pool, userTokens...)
	return nil
}

// parallel calls fn(ctx, i) for every i in [0, n) on up to workers
// goroutines and returns the first error, after which the rest are skipped.
func parallel(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(min(workers, n), 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// oauthErrorCode extracts "error" from an RFC 6749 §5.2 body, or "".
func oauthErrorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error
}

// shortNetError turns a transport error into a short cause for tables and
// messages: "connection refused", "timeout", "eof", ...
func shortNetError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "broken pipe", "refusing to connect", "no such host"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return msg
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
