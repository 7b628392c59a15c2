package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ratioBar is one line of issue 16's table: Latch's rate on an endpoint over the
// rate of the same database work alone must reach min.
type ratioBar struct {
	endpoint string // Latch's scenario
	alone    string // the scenario it is held against
	// inLatchRun: the alone rate comes from the Latch run's own report
	// (hash runs in the load tool), not from the alone report.
	inLatchRun bool
	what       string // what the alone rate measures
	min        map[string]float64
}

var ratioBars = []ratioBar{
	{"refresh", "refresh", false, "rotation tx", map[string]float64{"postgres": 0.6, "sqlite": 0.35}},
	{"client_credentials", "client_credentials", false, "insert", map[string]float64{"postgres": 0.35, "sqlite": 0.25}},
	{"introspect", "introspect", false, "PK read", map[string]float64{"postgres": 0.35, "sqlite": 0.2}},
	{"revoke", "revoke", false, "PK update", map[string]float64{"postgres": 0.3, "sqlite": 0.15}},
	{"password", "hash", true, "argon2id", map[string]float64{"postgres": 0.9, "sqlite": 0.9}},
}

// ratioDatabases are the databases --ratios looks for, in this order.
var ratioDatabases = []string{"sqlite", "postgres"}

// formatRatios reads latch-<db>.json (the load tool's --out against Latch)
// and alone-<db>.json (--alone --out) from dir, for each database that has
// them, and renders the ratio of each endpoint against its bar.
func formatRatios(dir string) (string, error) {
	rows := [][]string{{"database", "endpoint", "latch req/s", "alone", "alone req/s", "ratio", "bar", ""}}
	found := false
	for _, db := range ratioDatabases {
		latch, err := readReport(filepath.Join(dir, "latch-"+db+".json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return "", err
		}
		alone, err := readReport(filepath.Join(dir, "alone-"+db+".json"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		found = true
		for _, b := range ratioBars {
			l, okL := latch[b.endpoint]
			src := alone
			if b.inLatchRun {
				src = latch
			}
			a, okA := src[b.alone]
			if !okL || !okA {
				continue
			}
			ratio := 0.0
			if a.RPS > 0 {
				ratio = l.RPS / a.RPS
			}
			verdict := "meets"
			if ratio < b.min[db] {
				verdict = "BELOW"
			}
			if l.Errors > 0 || a.Errors > 0 {
				verdict += " (errors: does not count)"
			}
			rows = append(rows, []string{
				db, b.endpoint, fmt.Sprintf("%.0f", l.RPS), b.what, fmt.Sprintf("%.0f", a.RPS),
				fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≥%.2f", b.min[db]), verdict,
			})
		}
	}
	if !found {
		return "", fmt.Errorf("latch-bench: --ratios: no latch-<database>.json in %s", dir)
	}
	return alignRows(rows), nil
}

// readReport reads a --out file into its results by scenario.
func readReport(path string) (map[string]result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("latch-bench: --ratios: %s: %w", path, err)
	}
	out := make(map[string]result, len(rep.Results))
	for _, r := range rep.Results {
		out[r.Scenario] = r
	}
	return out, nil
}

// alignRows aligns columns: text left, numbers right (a cell that starts
// with a digit).
func alignRows(rows [][]string) string {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			if cell != "" && cell[0] >= '0' && cell[0] <= '9' {
				line.WriteString(pad + cell)
			} else {
				line.WriteString(cell + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}
