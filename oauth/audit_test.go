package oauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchhq/latch/storage"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAuditReportedAfterCommit: an audit event recorded in a transaction
// is logged and counted once the transaction commits, and never when it
// rolls back, so logs and metrics agree with the audit table.
func TestAuditReportedAfterCommit(t *testing.T) {
	var logs lockedBuffer
	f := newFixture(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.Registerer = prometheus.NewRegistry()
	})
	ctx := context.Background()
	counted := func() float64 { return testutil.ToFloat64(f.p.metrics.events.WithLabelValues(EventLogoutAll, "")) }

	boom := errors.New("boom")
	err := f.p.inTx(ctx, func(ctx context.Context) error {
		if err := f.p.audit(ctx, storage.Event{Type: EventLogoutAll, UserID: "user-rolled-back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("inTx = %v, want boom", err)
	}
	if strings.Contains(logs.String(), "user-rolled-back") || counted() != 0 {
		t.Fatalf("a rolled-back event was reported: count %v, logs %s", counted(), logs.String())
	}

	err = f.p.inTx(ctx, func(ctx context.Context) error {
		if err := f.p.audit(ctx, storage.Event{Type: EventLogoutAll, UserID: "user-committed"}); err != nil {
			return err
		}
		// A nested transaction joins the outer one and reports with it.
		if err := f.p.inTx(ctx, func(ctx context.Context) error {
			return f.p.audit(ctx, storage.Event{Type: EventLogoutAll, UserID: "user-nested"})
		}); err != nil {
			return err
		}
		if strings.Contains(logs.String(), "user-committed") || strings.Contains(logs.String(), "user-nested") {
			t.Error("an event was reported before its transaction committed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"user-committed", "user-nested"} {
		if !strings.Contains(logs.String(), user) {
			t.Errorf("the committed event of %s was not logged", user)
		}
	}
	if counted() != 2 {
		t.Errorf("counted %v events, want 2", counted())
	}
}

// TestMetricsRegistered: every protocol series of API.md's "Metrics" is
// registered, latch_refresh_signals_total included, though it has no
// values until refresh-time signals exist: registering any of them again
// fails.
func TestMetricsRegistered(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	newFixture(t, func(c *Config) { c.Registerer = reg })
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"latch_token_requests_total", []string{"grant_type", "result"}},
		{"latch_revocations_total", []string{"result"}},
		{"latch_introspections_total", []string{"active"}},
		{"latch_audit_events_total", []string{"type", "reason"}},
		{"latch_refresh_signals_total", []string{"signal"}},
		{"latch_logins_refused_total", []string{"reason"}},
		{"latch_refresh_reuse_total", []string{"mode"}},
	} {
		err := reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.name, Help: "again"}, c.labels))
		if err == nil {
			t.Errorf("%s was not registered", c.name)
		}
	}
}

// TestLoginsRefused: each refused password grant counts once in
// latch_logins_refused_total, by reason, and a login that succeeds not at
// all.
func TestLoginsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.LoginMaxFailures = 2 })
	ctx := t.Context()
	password := func(user, pw string) tokenResponse {
		return f.token(t, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}})
	}
	f.login(t)
	wantGrantError(t, password("alice", "wrong"))
	wantGrantError(t, password("nobody", "wrong"))
	bob, err := f.p.CreateUser(ctx, "bob", "bob's password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.SetUserDisabled(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	wantGrantError(t, password("bob", "bob's password"))
	wantGrantError(t, password("alice", "wrong")) // the second failure: a lockout after it
	wantGrantError(t, password("alice", "correct horse"))
	for reason, want := range map[string]float64{"bad_credentials": 3, "user_disabled": 1, "locked_out": 1} {
		if got := testutil.ToFloat64(f.p.metrics.loginsRefused.WithLabelValues(reason)); got != want {
			t.Errorf("latch_logins_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if got := testutil.CollectAndCount(f.p.metrics.loginsRefused); got != 3 {
		t.Errorf("latch_logins_refused_total has %d series, want 3", got)
	}
}
