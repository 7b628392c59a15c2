package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// newHTTPClient returns the suite's client: loopback only, no proxy from
// the environment, a bound on every request, and no retries of its own
// (net/http resends no POST).
func newHTTPClient(conns int) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second, Control: loopbackOnly}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
			Proxy:               nil,
		},
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// loopbackOnly refuses to connect anywhere but a loopback address.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("latch-faults: refusing to connect to non-loopback address %s", address)
	}
	return nil
}

// answer is one HTTP exchange as a client saw it.
type answer struct {
	status     int
	retryAfter string
	// balancerErr is the X-Balancer-Error header: the status HAProxy
	// turned into its 503 (see errorFile).
	balancerErr string
	body        []byte
	err         error
}

// ambiguous reports an answer after which the client cannot know whether
// its request took effect, and must retry: a transport error or a 503.
func (a answer) ambiguous() bool { return a.err != nil || a.status == http.StatusServiceUnavailable }

func (a answer) code() string {
	if a.err != nil {
		return "transport: " + shortError(a.err)
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(a.body, &e)
	return fmt.Sprintf("%d %s", a.status, e.Error)
}

// shortError names a transport error's cause in a few words.
func shortError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "broken pipe"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return msg
}

// client sends the suite's requests and counts every answer into the
// ledger of the current phase.
type client struct {
	hc        *http.Client
	basicAuth string
	ledger    *ledger
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// post sends form to base+path, authenticated as the suite's client, and
// records the answer.
func (c *client) post(ctx context.Context, base, path string, form url.Values) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", c.basicAuth)
	req.Header.Set("User-Agent", "latch-faults")
	a := c.do(req)
	if ctx.Err() == nil {
		c.ledger.record(path, a)
	}
	return a
}

func (c *client) do(req *http.Request) answer {
	res, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return answer{err: err}
	}
	return answer{
		status:      res.StatusCode,
		retryAfter:  res.Header.Get("Retry-After"),
		balancerErr: res.Header.Get("X-Balancer-Error"),
		body:        body,
	}
}

// admin calls the admin API at base and decodes the answer into out.
func (c *client) admin(ctx context.Context, base, token, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	// Setup runs before the faults, but the balancer may still be marking
	// nodes up: a 503 is waited out a few times.
	for try := 1; ; try++ {
		if seeker, ok := body.(io.Seeker); ok {
			_, _ = seeker.Seek(0, io.SeekStart)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		a := c.do(req)
		if a.ambiguous() && try < 20 && method == http.MethodGet {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if a.err != nil {
			return fmt.Errorf("latch-faults: %s %s: %w", method, path, a.err)
		}
		if a.status != want {
			return fmt.Errorf("latch-faults: %s %s answered %s, want %d", method, path, a.code(), want)
		}
		if out != nil {
			return json.Unmarshal(a.body, out)
		}
		return nil
	}
}

// tokens is the part of a token response the suite keeps.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// user is a resource owner the suite created.
type user struct {
	id, name, password string
}

// workload drives the traffic of one phase against one base URL: refresh
// chains, each with its own user, and client_credentials workers.
type workload struct {
	c      *client
	base   string
	users  []user
	until  time.Time
	logf   func(format string, args ...any)
	ledger *ledger
	// retryBudget bounds how long one request is retried after transport
	// errors and 503s before the suite calls it lost.
	retryBudget time.Duration

	stopping atomic.Bool
	// plant, when set, is called by chain 0 once, after its first
	// rotation (self-test).
	plant func(ctx context.Context, u user)

	mu      sync.Mutex
	revoked []tokens
}

// retry sends a request until it gets an answer that is not ambiguous, or
// the retry budget is spent. It waits between tries as Retry-After says,
// at most a second. The last answer comes back, with the number of
// ambiguous answers before it.
func (w *workload) retry(ctx context.Context, send func() answer) (answer, int) {
	start := time.Now()
	tries := 0
	for {
		a := send()
		if !a.ambiguous() || ctx.Err() != nil || time.Since(start) > w.retryBudget {
			return a, tries
		}
		tries++
		wait := 250 * time.Millisecond
		if a.retryAfter != "" {
			wait = time.Second
		}
		wait += rand.N(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			return a, tries
		case <-time.After(wait):
		}
	}
}

func (w *workload) login(ctx context.Context, u user) (tokens, error) {
	form := url.Values{"grant_type": {"password"}, "username": {u.name}, "password": {u.password}, "scope": {"read write"}}
	a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/token", form) })
	if a.err != nil || a.status != http.StatusOK {
		return tokens{}, fmt.Errorf("login %s: %s", u.name, a.code())
	}
	var t tokens
	if err := json.Unmarshal(a.body, &t); err != nil || t.RefreshToken == "" {
		return tokens{}, fmt.Errorf("login %s: no refresh token in the answer", u.name)
	}
	return t, nil
}

// chain is one login refreshed over and over: the refresh token a client
// app keeps. answers holds the answer to every refresh token it presented,
// so that a second answer to the same token can be compared (fork).
type chain struct {
	id      int
	u       user
	cur     tokens
	prev    string // the refresh token spent last, for deliberate replays
	answers map[string]tokens
	rng     *rand.Rand
}

// run drives one chain until the phase ends.
func (w *workload) runChain(ctx context.Context, ch *chain) {
	l := w.ledger
	relogin := func() bool {
		for !w.over(ctx) {
			t, err := w.login(ctx, ch.u)
			if err == nil {
				ch.cur, ch.prev = t, ""
				return true
			}
			l.note("login failed: " + err.Error())
			sleep(ctx, time.Second)
		}
		return false
	}
	if !relogin() {
		return
	}
	planted := false
	for !w.over(ctx) {
		// A refresh: the same token is presented again after every
		// ambiguous answer, as a careful client app does.
		rt := ch.cur.RefreshToken
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		a, tries := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/token", form) })
		if ctx.Err() != nil {
			return
		}
		switch {
		case a.status == http.StatusOK:
			var t tokens
			if err := json.Unmarshal(a.body, &t); err != nil || t.RefreshToken == "" {
				l.violate(invChainLost, fmt.Sprintf("chain %d: 200 without a refresh token", ch.id))
				if !relogin() {
					return
				}
				continue
			}
			l.count(invChainLost)
			if tries > 0 {
				l.retriedOK.Add(1)
			}
			ch.answers[rt] = t
			ch.prev, ch.cur = rt, t
		case a.ambiguous():
			l.violate(invChainLost, fmt.Sprintf("chain %d: no answer within %s of retries: %s", ch.id, w.retryBudget, a.code()))
			if !relogin() {
				return
			}
			continue
		default:
			l.violate(invChainLost, fmt.Sprintf("chain %d: refresh answered %s after %d retries", ch.id, a.code(), tries))
			if !relogin() {
				return
			}
			continue
		}
		if w.plant != nil && ch.id == 0 && !planted {
			planted = true
			w.plant(ctx, ch.u)
		}

		// Now and then, the token just spent once more: within the grace
		// window it must get the very same answer (API.md), from whichever
		// node the balancer picks.
		if ch.rng.IntN(10) == 0 {
			w.replay(ctx, ch, ch.prev)
		}
		if ch.rng.IntN(5) == 0 {
			w.introspectLive(ctx, ch.cur.AccessToken, fmt.Sprintf("chain %d", ch.id))
		}
		if ch.rng.IntN(40) == 0 {
			if w.revoke(ctx, ch) && !relogin() {
				return
			}
		}
		sleep(ctx, 20*time.Millisecond+rand.N(30*time.Millisecond))
	}
}

// replay presents a spent refresh token again and compares the answer with
// the first one.
func (w *workload) replay(ctx context.Context, ch *chain, rt string) {
	first, ok := ch.answers[rt]
	if !ok {
		return
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/token", form) })
	switch {
	case ctx.Err() != nil:
	case a.status == http.StatusOK:
		var t tokens
		_ = json.Unmarshal(a.body, &t)
		if t != first {
			w.ledger.violate(invFork, fmt.Sprintf("chain %d: a spent refresh token got a second, different answer", ch.id))
			return
		}
		w.ledger.count(invFork)
	case a.ambiguous():
		w.ledger.note("replay without an answer within the retry budget: " + a.code())
	default:
		w.ledger.violate(invFork, fmt.Sprintf("chain %d: a replay within the grace window answered %s", ch.id, a.code()))
	}
}

// introspectLive checks that a token the suite holds as live is active.
func (w *workload) introspectLive(ctx context.Context, tok, who string) {
	form := url.Values{"token": {tok}}
	a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/introspect", form) })
	if ctx.Err() != nil || a.ambiguous() {
		return
	}
	var in struct {
		Active bool `json:"active"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &in) != nil || !in.Active {
		w.ledger.violate(invLiveActive, fmt.Sprintf("%s: a live token introspected %s active=%v", who, a.code(), in.Active))
		return
	}
	w.ledger.count(invLiveActive)
}

// revoke ends the chain's login by revoking its refresh or access token
// and, once the answer is 200, checks through the balancer that both are
// inactive. It reports whether the login ended.
func (w *workload) revoke(ctx context.Context, ch *chain) bool {
	tok, hint := ch.cur.RefreshToken, "refresh_token"
	if ch.rng.IntN(2) == 0 {
		tok, hint = ch.cur.AccessToken, "access_token"
	}
	form := url.Values{"token": {tok}, "token_type_hint": {hint}}
	a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/revoke", form) })
	if ctx.Err() != nil || a.status != http.StatusOK {
		if a.status != http.StatusOK && !a.ambiguous() {
			w.ledger.note("revocation answered " + a.code())
		}
		// Not known to be revoked: the chain goes on with a new login
		// anyway, since its state is unknown.
		return a.status == http.StatusOK || a.ambiguous()
	}
	w.mu.Lock()
	w.revoked = append(w.revoked, ch.cur)
	w.mu.Unlock()
	for _, t := range []string{ch.cur.AccessToken, ch.cur.RefreshToken} {
		w.checkInactive(ctx, w.base, t, fmt.Sprintf("chain %d, right after its revocation", ch.id))
	}
	return true
}

// checkInactive introspects tok at base, which must answer active=false.
func (w *workload) checkInactive(ctx context.Context, base, tok, who string) {
	form := url.Values{"token": {tok}}
	a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, base, "/oauth2/introspect", form) })
	if ctx.Err() != nil {
		return
	}
	var in struct {
		Active bool `json:"active"`
	}
	switch {
	case a.status == http.StatusOK && json.Unmarshal(a.body, &in) == nil && !in.Active:
		w.ledger.count(invRevocation)
	case a.status == http.StatusOK:
		w.ledger.violate(invRevocation, fmt.Sprintf("%s: a revoked token introspects active at %s", who, base))
	default:
		w.ledger.violate(invRevocation, fmt.Sprintf("%s: introspection at %s answered %s", who, base, a.code()))
	}
}

// runClientCredentials issues client_credentials tokens and introspects
// each until the phase ends.
func (w *workload) runClientCredentials(ctx context.Context) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	for !w.over(ctx) {
		a, _ := w.retry(ctx, func() answer { return w.c.post(ctx, w.base, "/oauth2/token", form) })
		if a.status == http.StatusOK {
			var t tokens
			if json.Unmarshal(a.body, &t) == nil && t.AccessToken != "" {
				w.introspectLive(ctx, t.AccessToken, "client_credentials")
			}
		}
		sleep(ctx, 50*time.Millisecond+rand.N(50*time.Millisecond))
	}
}

// over reports the end of the phase: its deadline, a stop, or ctx.
func (w *workload) over(ctx context.Context) bool {
	return ctx.Err() != nil || w.stopping.Load() || time.Now().After(w.until)
}

// run starts the chains and client_credentials workers and returns a
// function that stops them and waits.
func (w *workload) run(ctx context.Context, ccWorkers int) (stop func()) {
	var wg sync.WaitGroup
	for i, u := range w.users {
		ch := &chain{id: i, u: u, answers: map[string]tokens{}, rng: rand.New(rand.NewPCG(uint64(i), 17))}
		wg.Go(func() { w.runChain(ctx, ch) })
	}
	for range ccWorkers {
		wg.Go(func() { w.runClientCredentials(ctx) })
	}
	return func() {
		w.stopping.Store(true)
		wg.Wait()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
