// Package migrations holds Latch's database schema as versioned SQL files,
// one directory per dialect (postgres, sqlite), embedded in the binary.
//
// File names are NNNN_description.sql; the number is the version recorded in
// the schema_migrations table. Applying them (in order, each once, in a
// transaction) is left to package storage/sqlstore.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialects supported by [FS] and [Load].
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Migration is one versioned SQL file.
type Migration struct {
	Version int64  // from the file name prefix: 1 for 0001_init.sql
	Name    string // the file name
	SQL     string
}

// FS returns the migration files of dialect at the root of the returned file
// system. It returns an error for an unknown dialect.
func FS(dialect string) (fs.FS, error) {
	if dialect != Postgres && dialect != SQLite {
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	return fs.Sub(files, dialect)
}

// Load returns the migrations of dialect ordered by version. It returns an
// error for an unknown dialect or a file name without a version prefix.
func Load(dialect string) ([]Migration, error) {
	fsys, err := FS(dialect)
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []Migration
	seen := make(map[int64]string)
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		version, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migrations: %s/%s: name must start with a version like 0001_", dialect, name)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations: %s: %s and %s share version %d", dialect, other, name, version)
		}
		seen[version] = name
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, Migration{Version: version, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}
