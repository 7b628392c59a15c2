package sqlstore

import (
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/storage"
)

// TestSQLiteReaders: a SQLite file gets a pool of readers that refuse
// writes, and an in-memory database, which each connection would see
// empty, keeps every statement on its one connection.
func TestSQLiteReaders(t *testing.T) {
	for _, tc := range []struct {
		name        string
		url         string
		wantReaders bool
	}{
		{"file", "sqlite:" + filepath.Join(t.TempDir(), "latch.db"), true},
		{"memory", "sqlite::memory:", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(ctx, tc.url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got := s.readers.sqlDB != s.sqlDB; got != tc.wantReaders {
				t.Fatalf("readers apart from the writer: %v, want %v", got, tc.wantReaders)
			}
			if err := s.CreateClient(ctx, &storage.Client{ID: "c1", AuthMethod: storage.AuthMethodNone}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetClient(ctx, "c1"); err != nil {
				t.Fatalf("GetClient after CreateClient: %v", err)
			}
			if tc.wantReaders {
				if _, err := s.readers.sqlDB.ExecContext(ctx, `DELETE FROM clients`); err == nil {
					t.Error("a reader ran a DELETE")
				}
			}
		})
	}
}
