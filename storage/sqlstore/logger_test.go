package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// TestQuietLogger: GORM's log gets real failures and slow statements, and
// nothing for ordinary outcomes, cancellations or fast statements — whose
// SQL it must not even render.
func TestQuietLogger(t *testing.T) {
	var buf bytes.Buffer
	l := quietLogger{logger.NewSlogLogger(slog.New(slog.NewTextHandler(&buf, nil)), logger.Config{
		SlowThreshold: slowStatement, LogLevel: logger.Warn, IgnoreRecordNotFoundError: true,
	}), slowStatement, false}
	ctx := context.Background()
	rendered := 0
	sql := func(q string) func() (string, int64) {
		return func() (string, int64) { rendered++; return q, 1 }
	}
	now := time.Now()
	l.Trace(ctx, now, sql("fast"), nil)
	l.Trace(ctx, now, sql("taken"), gorm.ErrDuplicatedKey)
	l.Trace(ctx, now, sql("missing"), gorm.ErrRecordNotFound)
	l.Trace(ctx, now.Add(-time.Second), sql("cancelled"), context.Canceled)
	if rendered != 0 || buf.Len() != 0 {
		t.Fatalf("rendered %d statements, logged %q; want nothing", rendered, buf.String())
	}
	l.Trace(ctx, now, sql("broken"), errors.New("boom"))
	l.Trace(ctx, now.Add(-time.Second), sql("slow"), nil)
	out := buf.String()
	for _, want := range []string{"broken", "boom", "slow"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}

	// db.Debug() asks for every statement.
	buf.Reset()
	l.LogMode(logger.Info).Trace(ctx, time.Now(), sql("debugged"), nil)
	if !strings.Contains(buf.String(), "debugged") {
		t.Errorf("LogMode(Info) did not log a fast statement: %q", buf.String())
	}
}
