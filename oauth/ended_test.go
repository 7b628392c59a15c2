package oauth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// endAfterLookup ends a login's request shortly after its user is read, so
// that it ends while the login waits for a hashing slot.
type endAfterLookup struct {
	storage.Store
	end func()
}

func (s *endAfterLookup) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := s.Store.GetUserByUsername(ctx, username)
	if end := s.end; end != nil {
		time.AfterFunc(10*time.Millisecond, end)
	}
	return u, err
}

// wantQuietLog fails t if logs, JSON lines, hold a line at WARN or above.
func wantQuietLog(t *testing.T, logs string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		var l struct{ Level string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Level == slog.LevelWarn.String() || l.Level == slog.LevelError.String() {
			t.Errorf("a request that ended logged %s", line)
		}
	}
}

// TestEndedLoginsCountNoFailure: logins whose requests end (cancelled, or
// past their deadline) while they wait for a hashing slot judged no
// password: they count no failure, release their reservations, and log
// nothing above Debug. More of them than LoginMaxFailures, with the right
// password and wrong ones, leave the right password working (two timeouts
// had locked it out, and each logged ERROR "unusable password hash").
func TestEndedLoginsCountNoFailure(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	store := &endAfterLookup{Store: sqlstoretest.New(t)}
	f := newFixtureOn(t, store, func(c *Config) {
		c.LoginMaxFailures, c.LoginMaxFailuresPerAddress = 2, 2
		c.HashConcurrency, c.HashQueueWait = 1, time.Minute
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	base := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.40"})
	f.p.pw.slots <- struct{}{} // the one hashing slot is taken
	checks := f.p.pw.checks.Load()
	for i := range 6 {
		var ctx context.Context
		var cancel context.CancelFunc
		if i%2 == 0 {
			ctx, cancel = context.WithCancel(base)
			store.end = cancel
		} else {
			ctx, cancel = context.WithTimeout(base, 200*time.Millisecond)
			store.end = nil
		}
		password := []string{"correct horse", "wrong"}[i/2%2]
		r := f.password(t, ctx, "alice", password)
		cancel()
		if r.status != StatusClientClosedRequest || r.Error != "request_canceled" {
			t.Fatalf("login %d, ended while waiting: %d %q, want %d request_canceled", i, r.status, r.Error, StatusClientClosedRequest)
		}
	}
	store.end = nil
	<-f.p.pw.slots
	if n := f.p.pw.checks.Load() - checks; n != 0 {
		t.Fatalf("ended logins ran %d password checks", n)
	}
	if r := f.password(t, base, "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("the right password after 6 ended logins: %d %q", r.status, r.Error)
	}
	wantQuietLog(t, logs.String())
}
