package oauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
