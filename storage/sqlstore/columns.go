package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// A table's columns are spelled once per dialect. In SQL, by its
// migrations: a new column needs a migration file for each dialect
// (migrations/postgres and migrations/sqlite), as the schema always did.
// In Go, by one list per table in rows.go, a line per column that names it
// and the field of the row struct holding it. The hot statements' column
// lists, placeholders, bound values and scan destinations all follow from
// that list: newHotSQL builds their text once, at Open, and a call only
// walks the list (no reflection, no allocation beyond the []any a
// statement takes). The row struct is also the table's GORM model for the
// statements off the hot path; TestTableColumns checks that list, model and
// migrated schema agree on both databases.

// column is one column of a table of rows R.
type column[R any] struct {
	name string
	// field points into a row, at the field that holds the column: where
	// a select scans it and, dereferenced by value, what an insert binds.
	field func(*R) any
}

// table is how the hot statements see a table of rows R.
type table[R any] struct {
	name    string
	columns []column[R]
	// insert are the columns an insert gives: all of them except the one
	// the database generates, if any.
	insert []column[R]
	// selects is the column list of a select under the table's alias
	// (`f.id, f.client_id, ...`), in the order of columns; inserts
	// the column list of an insert, in the order of insert.
	selects, inserts string
}

// newTable describes table name, read under alias, whose column generated
// (if not "") the database fills in.
func newTable[R any](name, alias, generated string, columns []column[R]) *table[R] {
	t := &table[R]{name: name, columns: columns}
	var selects, inserts []string
	for _, c := range columns {
		selects = append(selects, alias+"."+quote(c.name))
		if c.name != generated {
			t.insert = append(t.insert, c)
			inserts = append(inserts, quote(c.name))
		}
	}
	t.selects, t.inserts = strings.Join(selects, ", "), strings.Join(inserts, ", ")
	return t
}

// quote spells a column name in SQL: quoted if it is a keyword of SQLite
// or PostgreSQL (a new column named like one needs adding here; the
// conformance suite fails on the syntax error otherwise), as written
// otherwise, which keeps the statements short.
func quote(name string) string {
	if keywords[name] {
		return `"` + name + `"`
	}
	return name
}

// keywords are the column names quote quotes.
var keywords = map[string]bool{"key": true}

// insertPosition is the 1-based position of column name in an insert's
// values.
func (t *table[R]) insertPosition(name string) int {
	for i, c := range t.insert {
		if c.name == name {
			return i + 1
		}
	}
	// The names are constants of this package; TestTableColumns reaches
	// every call.
	panic(fmt.Sprintf("sqlstore: table %s has no column %q", t.name, name))
}

// appendValues appends what an insert of r binds, in the order of inserts.
func (t *table[R]) appendValues(dst []any, r *R) []any {
	for _, c := range t.insert {
		dst = append(dst, valueOf(c.field(r)))
	}
	return dst
}

// values is what an insert of r binds, in the order of inserts.
func (t *table[R]) values(r *R) []any {
	return t.appendValues(make([]any, 0, len(t.insert)), r)
}

// dests is where a row of selects scans into r.
func (t *table[R]) dests(r *R) []any {
	return t.appendDests(make([]any, 0, len(t.columns)), r)
}

// appendDests appends where a row of selects scans into r.
func (t *table[R]) appendDests(dst []any, r *R) []any {
	for _, c := range t.columns {
		dst = append(dst, c.field(r))
	}
	return dst
}

// appendNullDests is appendDests for the optional side of a LEFT JOIN:
// ns (one per column) wrap r's fields, and report whether the row was
// there.
func (t *table[R]) appendNullDests(dst []any, r *R, ns []nullable) []any {
	for i, c := range t.columns {
		ns[i].field = c.field(r)
		dst = append(dst, &ns[i])
	}
	return dst
}

// valueOf is the value at a field pointer, as an insert binds it. It
// knows the field types of rows.go; TestTableColumns passes every column
// through it.
func valueOf(field any) any {
	switch p := field.(type) {
	case *string:
		return *p
	case *bool:
		return *p
	case *int64:
		return *p
	case *time.Time:
		return *p
	case **time.Time:
		return *p
	case *nullBytes:
		return *p
	case *[]byte:
		return *p
	}
	panic(fmt.Sprintf("sqlstore: no value for a field of type %T", field))
}

// nullable scans a column of the optional side of a LEFT JOIN into a row's
// field: NULL leaves the field as it is, and valid says whether a value
// came. The drivers give text as string (or []byte), booleans as bool,
// integers as int64 and timestamps as time.Time.
type nullable struct {
	field any
	valid bool
}

// Scan implements [sql.Scanner].
func (n *nullable) Scan(src any) error {
	if src == nil {
		return nil
	}
	n.valid = true
	switch f := n.field.(type) {
	case sql.Scanner:
		return f.Scan(src)
	case *string:
		switch v := src.(type) {
		case string:
			*f = v
			return nil
		case []byte:
			*f = string(v)
			return nil
		}
	case *bool:
		if v, ok := src.(bool); ok {
			*f = v
			return nil
		}
	case *int64:
		if v, ok := src.(int64); ok {
			*f = v
			return nil
		}
	case *time.Time:
		if v, ok := src.(time.Time); ok {
			*f = v
			return nil
		}
	case **time.Time:
		if v, ok := src.(time.Time); ok {
			*f = &v
			return nil
		}
	}
	return fmt.Errorf("sqlstore: cannot scan %T into %T", src, n.field)
}

// anyValid reports whether any of ns scanned a value: whether the optional
// row was there.
func anyValid(ns []nullable) bool {
	for _, n := range ns {
		if n.valid {
			return true
		}
	}
	return false
}
