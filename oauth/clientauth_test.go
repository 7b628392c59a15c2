package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chosenSecret is the secret an operator chose for client "chosen".
const chosenSecret = "an operator's choice"

// newChosenFixture is newFixture with a client "chosen" (client_credentials)
// whose secret an operator chose, so is hashed with argon2id, and a client
// "generated" whose secret Latch generated (SHA-256), returned.
func newChosenFixture(t *testing.T, tweak func(*Config)) (*fixture, string) {
	t.Helper()
	f := newFixture(t, tweak)
	ctx := context.Background()
	if _, _, err := f.p.CreateClient(ctx, ClientSpec{ID: "chosen", Secret: chosenSecret, GrantTypes: []string{GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	_, generated, err := f.p.CreateClient(ctx, ClientSpec{ID: "generated", GrantTypes: []string{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	return f, generated
}

// clientAnswer is a token endpoint's answer to a client_credentials grant.
type clientAnswer struct {
	status     int
	body       string
	retryAfter time.Duration
}

// asClient asks for a client_credentials token with id and secret in HTTP
// Basic, and returns the answer as written.
func (f *fixture) asClient(ctx context.Context, id, secret string) clientAnswer {
	form := url.Values{"grant_type": {GrantClientCredentials}}
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	w := httptest.NewRecorder()
	d, _ := RetryAfter(f.serveToken(ctx, w, r))
	return clientAnswer{status: w.Code, body: w.Body.String(), retryAfter: d}
}

func (a clientAnswer) errorCode() string {
	var e struct{ Error string }
	_ = json.Unmarshal([]byte(a.body), &e)
	return e.Error
}

// TestChosenSecretWaitsForTheHashingPool: a client secret that an operator
// chose is verified in the hashing pool: with the pool full, right and
// wrong secrets alike are answered 503 with a Retry-After, no hash runs,
// and nothing counts against the client. (They were hashed at once,
// outside the pool: 48 at once ran 47 hashes side by side.)
func TestChosenSecretWaitsForTheHashingPool(t *testing.T) {
	t.Parallel()
	f, _ := newChosenFixture(t, func(c *Config) {
		c.HashConcurrency, c.HashQueueWait = 1, 10*time.Millisecond
		c.ClientAuthMaxFailures = 2
	})
	ctx := context.Background()
	f.p.pw.slots <- struct{}{} // the one hashing slot is taken
	checks := f.p.pw.checks.Load()
	for i, secret := range []string{"wrong", chosenSecret, "wrong", "wrong", "wrong"} {
		a := f.asClient(ctx, "chosen", secret)
		if a.status != http.StatusServiceUnavailable || a.errorCode() != "temporarily_unavailable" || a.retryAfter <= 0 {
			t.Fatalf("attempt %d with the pool full: %d %s (retry after %v), want 503 temporarily_unavailable with a Retry-After", i, a.status, a.body, a.retryAfter)
		}
	}
	if n := f.p.pw.checks.Load() - checks; n != 0 {
		t.Fatalf("%d secrets were hashed with the pool full", n)
	}
	<-f.p.pw.slots
	if a := f.asClient(ctx, "chosen", chosenSecret); a.status != http.StatusOK {
		t.Fatalf("after the busy spell: %d %s; busy answers must not count as failures", a.status, a.body)
	}
}

// TestUnknownClientCostsAChosenSecretsVerify: a secret presented with an
// unknown client id costs one argon2id verification, as a wrong chosen
// secret does, and gets the same answer, so neither answer nor time tells
// that a chosen-secret client exists. (It cost a failed lookup only:
// 1.4 ms against 31 ms.) A generated secret, and a request without a
// secret, cost no verification.
func TestUnknownClientCostsAChosenSecretsVerify(t *testing.T) {
	t.Parallel()
	f, _ := newChosenFixture(t, nil)
	ctx := context.Background()
	answers := map[string]string{}
	for _, tc := range []struct {
		name, id, secret string
		checks           int64
	}{
		{"wrong chosen secret", "chosen", "wrong", 1},
		{"unknown id", "nobody", "wrong", 1},
		{"wrong generated secret", "generated", "wrong", 0},
		{"unknown id without a secret", "nobody", "", 0},
		{"chosen-secret client without a secret", "chosen", "", 0},
	} {
		before := f.p.pw.checks.Load()
		a := f.asClient(ctx, tc.id, tc.secret)
		if a.status != http.StatusUnauthorized || a.errorCode() != "invalid_client" {
			t.Errorf("%s: %d %s, want 401 invalid_client", tc.name, a.status, a.body)
		}
		if n := f.p.pw.checks.Load() - before; n != tc.checks {
			t.Errorf("%s: %d argon2id verifications, want %d", tc.name, n, tc.checks)
		}
		answers[tc.name] = a.body
	}
	if answers["wrong chosen secret"] != answers["unknown id"] {
		t.Errorf("answers differ:\n wrong secret: %s\n unknown id:   %s", answers["wrong chosen secret"], answers["unknown id"])
	}
}

// TestClientGuardRefusesWithoutHashing: past ClientAuthMaxFailures wrong
// secrets for one client id, its authentications are refused, the right
// secret's too, without a hash, with the answer of any failure and a
// Retry-After, until the window has passed. Unknown ids are counted alike;
// right secrets are not counted; failures are counted by reason.
func TestClientGuardRefusesWithoutHashing(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f, generated := newChosenFixture(t, func(c *Config) {
		c.ClientAuthMaxFailures, c.ClientAuthLockout = 3, 15*time.Minute
		c.Registerer = reg
	})
	ctx := context.Background()
	for i := range 10 {
		if a := f.asClient(ctx, "chosen", chosenSecret); a.status != http.StatusOK {
			t.Fatalf("right secret %d: %d %s", i, a.status, a.body)
		}
	}
	var failed string
	for _, id := range []string{"chosen", "nobody"} {
		for i := range 3 {
			a := f.asClient(ctx, id, fmt.Sprint("wrong", i))
			if a.status != http.StatusUnauthorized || a.retryAfter != 0 {
				t.Fatalf("%s, failure %d: %d %s (retry after %v)", id, i, a.status, a.body, a.retryAfter)
			}
			failed = a.body
		}
	}
	f.clock.Advance(time.Minute)
	checks := f.p.pw.checks.Load()
	for _, id := range []string{"chosen", "nobody"} {
		for _, secret := range []string{"wrong", chosenSecret} {
			a := f.asClient(ctx, id, secret)
			if a.status != http.StatusUnauthorized || a.body != failed || a.retryAfter != 14*time.Minute {
				t.Errorf("%s, locked out: %d %s (retry after %v), want 401 %s, retry after 14m", id, a.status, a.body, a.retryAfter, failed)
			}
		}
	}
	if n := f.p.pw.checks.Load() - checks; n != 0 {
		t.Errorf("locked-out authentications ran %d argon2id verifications", n)
	}
	if a := f.asClient(ctx, "generated", generated); a.status != http.StatusOK {
		t.Errorf("a generated secret, not guarded: %d %s", a.status, a.body)
	}
	for reason, want := range map[string]float64{"wrong_secret": 3, "unknown_client": 3, "locked_out": 4} {
		if got := testutil.ToFloat64(f.p.metrics.clientAuth.WithLabelValues(reason)); got != want {
			t.Errorf("latch_client_auth_failures_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	f.clock.Advance(14 * time.Minute)
	if a := f.asClient(ctx, "chosen", chosenSecret); a.status != http.StatusOK {
		t.Errorf("after the lockout: %d %s", a.status, a.body)
	}
}

// TestClientGuardIsExactUnderConcurrency: 64 wrong secrets at once for one
// chosen-secret client run no more argon2id verifications than the limit.
func TestClientGuardIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	f, _ := newChosenFixture(t, func(c *Config) { c.ClientAuthMaxFailures = 5 })
	before := f.p.pw.checks.Load()
	answers := make(chan clientAnswer, 64)
	start := make(chan struct{})
	for i := range 64 {
		go func() {
			<-start
			answers <- f.asClient(context.Background(), "chosen", fmt.Sprint("wrong", i))
		}()
	}
	close(start)
	for range 64 {
		if a := <-answers; a.status != http.StatusUnauthorized {
			t.Errorf("got %d %s, want 401", a.status, a.body)
		}
	}
	if n := f.p.pw.checks.Load() - before; n > 5 {
		t.Errorf("%d argon2id verifications ran, want at most 5", n)
	}
}

// TestEndedClientAuthCountsNoFailure: client authentications whose
// requests end while they wait for a hashing slot count no failure.
func TestEndedClientAuthCountsNoFailure(t *testing.T) {
	t.Parallel()
	f, _ := newChosenFixture(t, func(c *Config) {
		c.HashConcurrency, c.HashQueueWait = 1, time.Minute
		c.ClientAuthMaxFailures = 2
	})
	f.p.pw.slots <- struct{}{}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		a := f.asClient(ctx, "chosen", "wrong")
		cancel()
		if a.status != StatusClientClosedRequest {
			t.Fatalf("attempt %d, ended while waiting: %d %s", i, a.status, a.body)
		}
	}
	<-f.p.pw.slots
	if a := f.asClient(context.Background(), "chosen", chosenSecret); a.status != http.StatusOK {
		t.Fatalf("the right secret after ended attempts: %d %s", a.status, a.body)
	}
}
