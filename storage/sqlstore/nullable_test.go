package sqlstore

import (
	"testing"
	"time"
)

// TestNullableScan: the optional side of a LEFT JOIN scans each field type
// of the rows from what the drivers give, and leaves a field alone on NULL.
func TestNullableScan(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	var r struct {
		s      string
		b      bool
		t      time.Time
		pt     *time.Time
		replay nullBytes
	}
	for _, tc := range []struct {
		name  string
		field any
		src   any
		check func() bool
	}{
		{"string", &r.s, "text", func() bool { return r.s == "text" }},
		{"string from bytes", &r.s, []byte("bytes"), func() bool { return r.s == "bytes" }},
		{"bool", &r.b, true, func() bool { return r.b }},
		{"time", &r.t, at, func() bool { return r.t.Equal(at) }},
		{"optional time", &r.pt, at, func() bool { return r.pt != nil && r.pt.Equal(at) }},
		{"scanner", &r.replay, []byte{9}, func() bool { return len(r.replay) == 1 && r.replay[0] == 9 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			null := nullable{field: tc.field}
			if err := null.Scan(nil); err != nil || null.valid {
				t.Fatalf("Scan(nil) = %v, valid %v; want nil, false", err, null.valid)
			}
			n := nullable{field: tc.field}
			if err := n.Scan(tc.src); err != nil {
				t.Fatal(err)
			}
			if !n.valid || !tc.check() {
				t.Errorf("Scan(%v): valid %v, field %v", tc.src, n.valid, tc.field)
			}
		})
	}
	n := nullable{field: &r.b}
	if err := n.Scan("text"); err == nil {
		t.Error("Scan(text) into a bool succeeded")
	}
}
