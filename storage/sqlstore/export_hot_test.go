package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"gorm.io/gorm/schema"
)

// HotTable is a table of the hot statements (columns.go) as the tests
// see it.
type HotTable struct {
	Name string
	// Columns is the table's Go list, in order; ModelColumns are the
	// columns of its GORM model, in the order of its fields.
	Columns, ModelColumns []string
	// Model is the GORM model, for reading the migrated schema.
	Model any
}

// HotTables lists the tables the hot statements read or write. It passes a
// row of each through valueOf, which panics on a field type it does not
// know.
func HotTables() ([]HotTable, error) {
	var ts []HotTable
	for _, t := range []func() (HotTable, error){
		hotTable(clientTable), hotTable(familyTable), hotTable(tokenTable), hotTable(eventTable),
	} {
		ht, err := t()
		if err != nil {
			return nil, err
		}
		ts = append(ts, ht)
	}
	return ts, nil
}

func hotTable[R any](t *table[R]) func() (HotTable, error) {
	return func() (HotTable, error) {
		model := new(R)
		s, err := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			return HotTable{}, fmt.Errorf("parse model of %s: %w", t.name, err)
		}
		ht := HotTable{Name: t.name, ModelColumns: s.DBNames, Model: model}
		for _, c := range t.columns {
			ht.Columns = append(ht.Columns, c.name)
			valueOf(c.field(model))
		}
		return ht, nil
	}
}

// SchemaColumns returns the columns of model's table in s's database.
func SchemaColumns(ctx context.Context, s *Store, model any) ([]string, error) {
	types, err := s.db.WithContext(ctx).Migrator().ColumnTypes(model)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(types))
	for i, ct := range types {
		names[i] = ct.Name()
	}
	return names, nil
}
