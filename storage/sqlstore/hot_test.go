package sqlstore

import (
	"context"
	"path/filepath"
	"testing"
)

// TestHotStatementsPrepared: on SQLite, every hot statement is prepared
// once the schema exists. A statement that fails to prepare (a typo, a
// renamed column) would otherwise only be slower, and no other test would
// notice.
func TestHotStatementsPrepared(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latch.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.stmts.Load() != nil {
		t.Fatal("statements prepared before the schema exists")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.stmts.Load()
	if m == nil {
		t.Fatal("no statements prepared after Migrate")
	}
	for _, q := range s.hot.sqlite() {
		if (*m)[q] == nil {
			t.Errorf("not prepared: %s", q)
		}
	}
}
