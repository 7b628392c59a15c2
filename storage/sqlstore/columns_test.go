package sqlstore_test

import (
	"slices"
	"testing"

	"github.com/latchhq/latch/storage/sqlstore"
)

// TestTableColumns: the Go list of each table the hot statements use names
// the columns of the table's GORM model, in the order of its fields, and
// the columns the migrations create, on both databases. A column added to
// a struct or a migration but not to its list (or the other way round)
// fails here rather than in a statement.
func TestTableColumns(t *testing.T) {
	tables, err := sqlstore.HotTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			s := db.new(t)
			for _, table := range tables {
				if !slices.Equal(table.Columns, table.ModelColumns) {
					t.Errorf("%s: list %v, GORM model %v", table.Name, table.Columns, table.ModelColumns)
				}
				got, err := sqlstore.SchemaColumns(t.Context(), s, table.Model)
				if err != nil {
					t.Fatal(err)
				}
				// Migrations add columns at the end: the order may differ.
				want := slices.Sorted(slices.Values(table.Columns))
				if slices.Sort(got); !slices.Equal(got, want) {
					t.Errorf("%s: migrated schema %v, list %v", table.Name, got, want)
				}
			}
		})
	}
}
