package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatRatios: each endpoint against its alone rate and its bar, the
// password grant against hash from the Latch run itself, a run with errors
// marked, and a database without its reports left out.
func TestFormatRatios(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, results ...result) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := writeJSON(f, report{Results: results}); err != nil {
			t.Fatal(err)
		}
	}
	write("latch-sqlite.json",
		result{Scenario: "hash", RPS: 100}, result{Scenario: "password", RPS: 95},
		result{Scenario: "refresh", RPS: 300}, result{Scenario: "introspect", RPS: 1000, Errors: 2})
	write("alone-sqlite.json", result{Scenario: "refresh", RPS: 1000}, result{Scenario: "introspect", RPS: 2000})
	got, err := formatRatios(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	want := [][]string{
		{"database", "endpoint", "latch req/s", "alone", "alone req/s", "ratio", "bar"},
		{"sqlite", "refresh", "300", "rotation tx", "1000", "0.30", "≥0.35", "BELOW"},
		{"sqlite", "introspect", "1000", "PK read", "2000", "0.50", "≥0.20", "meets (errors: does not count)"},
		{"sqlite", "password", "95", "argon2id", "100", "0.95", "≥0.90", "meets"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), got)
	}
	for i, cells := range want {
		for _, c := range cells {
			if !strings.Contains(lines[i], c) {
				t.Errorf("line %d %q lacks %q", i, lines[i], c)
			}
		}
	}
	if _, err := formatRatios(t.TempDir()); err == nil {
		t.Error("formatRatios of an empty directory succeeded")
	}
}

func TestCheckAloneURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"sqlite:/tmp/alone.db", true},
		{"sqlite:", false},
		{"sqlite:/tmp/alone.db?_pragma=x", false},
		{"postgres://postgres@127.0.0.1:5432/scratch?sslmode=disable", true},
		{"postgresql://postgres@localhost/scratch", true},
		{"postgres:///scratch?host=/var/run/postgresql", true},
		{"postgres://postgres:hunter2@127.0.0.1/scratch", false},
		{"postgres://postgres@127.0.0.1/scratch?password=hunter2", false},
		{"postgres://postgres@db.example/scratch", false},
		{"postgres://postgres@127.0.0.1/scratch?host=db.example", false},
		{"postgres://postgres@127.0.0.1/scratch?hostaddr=10.0.0.1", false},
		{"mysql://127.0.0.1/scratch", false},
	} {
		err := checkAloneURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkAloneURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("checkAloneURL(%q) error shows the password", tc.url)
		}
	}
}
