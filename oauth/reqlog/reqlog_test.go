package reqlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"

	"github.com/latchhq/latch/oauth/reqlog"
)

// mustLog returns a logger through a reqlog handler and a function that
// decodes the one line it has written since the last call.
func mustLog(t testing.TB) (*slog.Logger, func() map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	l := slog.New(reqlog.NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return l, func() map[string]any {
		t.Helper()
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("not one JSON line: %v: %q", err, buf.String())
		}
		buf.Reset()
		return line
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	authenticated := reqlog.NewContext(t.Context(), "r1")
	reqlog.SetClientID(authenticated, "app")
	tests := []struct {
		name       string
		ctx        context.Context
		log        func(l *slog.Logger, ctx context.Context)
		wantID     any // nil: no request_id key
		wantClient any // nil: no client_id key
	}{
		{"outside a request", t.Context(),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") }, nil, nil},
		{"request before client authentication", reqlog.NewContext(t.Context(), "r0"),
			func(l *slog.Logger, ctx context.Context) { l.DebugContext(ctx, "m") }, "r0", nil},
		{"authenticated request", authenticated,
			func(l *slog.Logger, ctx context.Context) { l.WarnContext(ctx, "m") }, "r1", "app"},
		{"a line's own client_id stays", authenticated,
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "client_id", "other") }, "r1", "other"},
		{"a logger's client_id stays", authenticated,
			func(l *slog.Logger, ctx context.Context) { l.With("client_id", "other").InfoContext(ctx, "m") }, "r1", "other"},
		{"a line's own request_id stays", authenticated,
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "request_id", "r1") }, "r1", "app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, line := mustLog(t)
			tc.log(l, tc.ctx)
			got := line()
			if got["request_id"] != tc.wantID || got["client_id"] != tc.wantClient {
				t.Errorf("request_id %v client_id %v, want %v and %v: %v", got["request_id"], got["client_id"], tc.wantID, tc.wantClient, got)
			}
		})
	}
}

// TestHandlerNoDuplicateKeys: a key the line or the logger already has is
// not written a second time, which JSON consumers would read either way.
func TestHandlerNoDuplicateKeys(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(reqlog.NewHandler(slog.NewTextHandler(&buf, nil)))
	ctx := reqlog.NewContext(t.Context(), "r1")
	reqlog.SetClientID(ctx, "app")
	l.With("request_id", "r1").InfoContext(ctx, "m", "client_id", "app")
	if n := bytes.Count(buf.Bytes(), []byte("request_id=")); n != 1 {
		t.Errorf("request_id written %d times: %s", n, buf.String())
	}
	if n := bytes.Count(buf.Bytes(), []byte("client_id=")); n != 1 {
		t.Errorf("client_id written %d times: %s", n, buf.String())
	}
}

type otherKey struct{}

// TestSetClientIDSharedByTheRequest: the client id set deep inside, on a
// context derived from the edge's, is seen through the edge's context, and
// a concurrent reader sees either nothing or the whole id (run with -race).
func TestSetClientIDSharedByTheRequest(t *testing.T) {
	t.Parallel()
	edge := reqlog.NewContext(t.Context(), "r1")
	deep, cancel := context.WithCancel(context.WithValue(edge, otherKey{}, 1))
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if id := reqlog.ClientID(edge); id != "" && id != "app" {
			t.Errorf("ClientID = %q mid-write", id)
		}
	})
	reqlog.SetClientID(deep, "app")
	wg.Wait()
	if got := reqlog.ClientID(edge); got != "app" {
		t.Errorf("ClientID(edge) = %q, want app", got)
	}
	if got := reqlog.RequestID(deep); got != "r1" {
		t.Errorf("RequestID(deep) = %q, want r1", got)
	}
	reqlog.SetClientID(t.Context(), "nobody") // outside a request: no effect, no panic
	if got := reqlog.ClientID(t.Context()); got != "" {
		t.Errorf("ClientID outside a request = %q", got)
	}
}
