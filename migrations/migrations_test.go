package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fileName is the form goose needs to find a migration's version; it
// skips other files without a word.
var fileName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// mustNames returns the names of the files of dialect, sorted.
func mustNames(t *testing.T, dialect string) []string {
	t.Helper()
	fsys, err := FS(dialect)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestFiles checks each dialect's files: named NNNN_description.sql,
// numbered 1, 2, 3... without gaps, and each with the "-- +goose Up"
// annotation that goose needs to run it.
func TestFiles(t *testing.T) {
	for _, dialect := range []string{Postgres, SQLite} {
		t.Run(dialect, func(t *testing.T) {
			fsys, err := FS(dialect)
			if err != nil {
				t.Fatal(err)
			}
			names := mustNames(t, dialect)
			if len(names) == 0 || names[0] != "0001_init.sql" {
				t.Fatalf("files %v, want 0001_init.sql first", names)
			}
			for i, name := range names {
				m := fileName.FindStringSubmatch(name)
				if m == nil {
					t.Errorf("%s: name is not NNNN_description.sql (goose would skip it)", name)
					continue
				}
				if want := fmt.Sprintf("%04d", i+1); m[1] != want {
					t.Errorf("%s: version %s, want %s (no gaps)", name, m[1], want)
				}
				b, err := fs.ReadFile(fsys, name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(strings.Split(string(b), "\n"), "-- +goose Up") {
					t.Errorf("%s has no line \"-- +goose Up\"; see the package doc", name)
				}
			}
		})
	}
}

// TestDialectsAgree checks that every version exists for every dialect.
func TestDialectsAgree(t *testing.T) {
	pg, lite := mustNames(t, Postgres), mustNames(t, SQLite)
	if !slices.Equal(pg, lite) {
		t.Errorf("postgres has %v, sqlite %v", pg, lite)
	}
}

func TestUnknownDialect(t *testing.T) {
	if _, err := FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded, want an error")
	}
}
