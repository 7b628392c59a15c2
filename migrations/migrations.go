// Package migrations holds Latch's database schema as versioned SQL files,
// one directory per dialect (postgres, sqlite), embedded in the binary.
// Applying them is left to package storage/sqlstore, which runs them with
// goose (github.com/pressly/goose/v3) and records them in goose's table
// goose_db_version.
//
// # Writing a migration
//
// Add one file per dialect, under the same name: NNNN_description.sql, where
// NNNN is the next version, one above the highest there is. goose reads the
// version from the number and silently skips a file whose name does not start
// with one, so the tests of this package check the names. A migration is
// never edited once released: fix a mistake with the next one.
//
// A file starts with comments that say why the change is made, then the
// annotation line
//
//	-- +goose Up
//
// and the statements, each ending with a semicolon at the end of a line.
// A file without the annotation fails the tests here and every migration at
// run time. A statement that holds semicolons itself (a function body) goes
// between "-- +goose StatementBegin" and "-- +goose StatementEnd" lines.
// Latch never migrates down, so files have no "-- +goose Down" part: a
// release is rolled back by rolling forward.
//
// Each file runs in its own transaction, with its version recorded in the
// same transaction: it is applied wholly or not at all. Some statements
// cannot run in a transaction, such as PostgreSQL's CREATE INDEX
// CONCURRENTLY, which builds an index on a big table without blocking
// writes to it. Such a file has the line
//
//	-- +goose NO TRANSACTION
//
// before "-- +goose Up", and should hold that one statement: its statements
// run one by one, and a failure leaves the ones before it applied and the
// version unrecorded, so the next run starts the file again. Write it so
// that a second run works (CREATE INDEX CONCURRENTLY IF NOT EXISTS; and drop
// an index left INVALID by a failed build first). The SQLite file of the
// same version needs no such care: SQLite has no CONCURRENTLY and builds
// the index in a transaction.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialects supported by [FS].
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// FS returns the migration files of dialect at the root of the returned file
// system. It returns an error for an unknown dialect.
func FS(dialect string) (fs.FS, error) {
	if dialect != Postgres && dialect != SQLite {
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	return fs.Sub(files, dialect)
}
