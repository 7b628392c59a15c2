package oauth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEventRetention: the janitor deletes the audit events older than
// LATCH_EVENT_RETENTION, keeps the others, counts them in its answer and
// its log line; without a retention it keeps every event.
func TestEventRetention(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	f := newFixture(t, func(c *Config) {
		c.EventRetention = 24 * time.Hour
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx := t.Context()
	tok := f.login(t) // issued, at the start
	f.clock.Advance(23 * time.Hour)
	if r := f.refresh(t, tok.RefreshToken); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.Error)
	}
	f.clock.Advance(2 * time.Hour) // the issued event is 25 h old, refreshed 2 h

	// Without a retention, nothing goes.
	forever := f.cfg
	forever.EventRetention = 0
	keep := f.nodeWith(t, f.store, forever)
	if n, err := keep.p.Purge(ctx); err != nil || n.Events != 0 {
		t.Fatalf("purge without retention: %+v, %v; want no event dropped", n, err)
	}
	if page, err := f.p.SearchEvents(ctx, EventQuery{}); err != nil || len(page.Events) != 2 {
		t.Fatalf("events before the janitor: %+v, %v; want 2", page, err)
	}

	// The janitor of serve runs Purge every interval and logs the count.
	jctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.p.RunJanitor(jctx, time.Millisecond)
	}()
	var line map[string]any
	for deadline := time.Now().Add(20 * time.Second); line == nil && time.Now().Before(deadline); {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"janitor purged"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	if line == nil {
		t.Fatalf("no janitor line in the logs:\n%s", logs.String())
	}
	if line["events"] != float64(1) {
		t.Errorf("janitor line %v, want events=1", line)
	}

	page, err := f.p.SearchEvents(ctx, EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Type != EventRefreshed {
		t.Errorf("events after the janitor: %+v, want only the refreshed one", page.Events)
	}
	if n, err := f.p.Purge(ctx); err != nil || n.Events != 0 {
		t.Errorf("second purge: %+v, %v; want nothing more", n, err)
	}
	if got := testutil.ToFloat64(f.p.metrics.purged.WithLabelValues("events")); got != 1 {
		t.Errorf("latch_janitor_purged_total{kind=events} = %v, want 1", got)
	}
}
