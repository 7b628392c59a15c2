package migrations

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	for _, dialect := range []string{Postgres, SQLite} {
		t.Run(dialect, func(t *testing.T) {
			ms, err := Load(dialect)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 || ms[0].Version != 1 || ms[0].Name != "0001_init.sql" {
				t.Fatalf("Load(%q) = %+v, want 0001_init.sql first", dialect, ms)
			}
			for i, m := range ms {
				if m.Version != int64(i+1) {
					t.Errorf("migration %s has version %d, want %d (no gaps)", m.Name, m.Version, i+1)
				}
				if !strings.Contains(m.SQL, "CREATE TABLE") && i == 0 {
					t.Errorf("%s holds no CREATE TABLE", m.Name)
				}
			}
		})
	}
}

// TestDialectsAgree checks that every version exists for every dialect.
func TestDialectsAgree(t *testing.T) {
	pg, err := Load(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := Load(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Name != lite[i].Name {
			t.Errorf("migration %d is %s on postgres, %s on sqlite", i, pg[i].Name, lite[i].Name)
		}
	}
}

func TestUnknownDialect(t *testing.T) {
	if _, err := FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded, want an error")
	}
	if _, err := Load("mysql"); err == nil {
		t.Error("Load(mysql) succeeded, want an error")
	}
}
