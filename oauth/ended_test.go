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
// that it ends while the login waits for a hashing slot; with atOnce, as
// its user is read, so that (with a slot free) the password is hashed for
// a client that has gone.
type endAfterLookup struct {
	storage.Store
	end    func()
	atOnce bool
}

func (s *endAfterLookup) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := s.Store.GetUserByUsername(ctx, username)
	switch end := s.end; {
	case end == nil:
	case s.atOnce:
		end()
	default:
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

// TestLoginEndedMidHash: a login whose client goes away while its
// password is hashed logs nothing at WARN or above (no "unusable password
// hash ... context canceled"), with the right password or a wrong one,
// and is not answered 200. The hash ran and judged the password, so a
// wrong one may count as a failure; the right one still works afterwards.
func TestLoginEndedMidHash(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	store := &endAfterLookup{Store: sqlstoretest.New(t), atOnce: true}
	f := newFixtureOn(t, store, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	base := WithRequestInfo(context.Background(), RequestInfo{Address: "192.0.2.41"})
	for _, password := range []string{"correct horse", "wrong"} {
		checks := f.p.pw.checks.Load()
		ctx, cancel := context.WithCancel(base)
		store.end = cancel
		r := f.password(t, ctx, "alice", password)
		store.end = nil
		cancel()
		t.Logf("password %q, client gone mid-hash: %d %q", password, r.status, r.Error)
		if f.p.pw.checks.Load() == checks {
			t.Fatalf("password %q: no hash ran; the test no longer ends the request mid-hash", password)
		}
		if r.status == http.StatusOK || r.status >= 500 {
			t.Errorf("password %q, client gone mid-hash: %d %q, want no token and no 5xx", password, r.status, r.Error)
		}
	}
	if r := f.password(t, base, "alice", "correct horse"); r.status != http.StatusOK {
		t.Fatalf("the right password afterwards: %d %q", r.status, r.Error)
	}
	wantQuietLog(t, logs.String())
	if strings.Contains(logs.String(), "unusable password hash") {
		t.Errorf("logged an unusable hash:\n%s", logs.String())
	}
}
