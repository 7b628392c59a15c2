package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	l := newQuietLogger(slog.New(slog.NewTextHandler(&buf, nil)))
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
	l.Trace(ctx, now.Add(-time.Second), sql("timed out"), fmt.Errorf("driver: %w", context.DeadlineExceeded))
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

// TestLogHoldsNoBoundValue: a failed statement is logged through GORM, but
// never with its bound values, which can be password or secret hashes.
func TestLogHoldsNoBoundValue(t *testing.T) {
	var buf bytes.Buffer
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "latch.db"), Options{
		Logger: slog.New(slog.NewTextHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const secret = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0$c2VjcmV0LWhhc2gtdmFsdWU"
	if err := s.db.Exec("UPDATE no_such_table SET password_hash = ?", secret).Error; err == nil {
		t.Fatal("an update of a missing table succeeded")
	}
	if !strings.Contains(buf.String(), "no_such_table") {
		t.Fatalf("the failed statement was not logged: %q", buf.String())
	}
	if strings.Contains(buf.String(), "c2VjcmV0") {
		t.Fatalf("the log holds a bound value: %q", buf.String())
	}
}
