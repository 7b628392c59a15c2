package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// report is the --json output: one object for the whole run.
type report struct {
	URL             string   `json:"url"`
	Concurrency     int      `json:"concurrency"`
	Rate            float64  `json:"rate,omitempty"` // requests/s of an open-loop run
	DurationSeconds float64  `json:"duration_seconds"`
	Results         []result `json:"results"`
}

func writeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// cpu/req is the server's CPU time per request in µs ("-" when its
// /metrics does not say); db/req the local postgres processes' (--pg-cpu).
var tableHeader = []string{"scenario", "conc", "duration", "requests", "req/s", "p50", "p90", "p99", "max", "cpu/req", "db/req", "errors"}

// formatTable renders results as an aligned text table: names and errors
// left-aligned, numbers right-aligned. Operations of a mixed scenario follow
// it as indented rows. Notes (such as an exhausted token pool) come after the
// table.
func formatTable(results []result) string {
	rows := [][]string{tableHeader}
	var notes []string
	for _, r := range results {
		rows = append(rows, tableRow(r.Scenario, r, true))
		for _, op := range r.Ops {
			rows = append(rows, tableRow("  "+op.Scenario, op, false))
		}
		if r.Note != "" {
			notes = append(notes, r.Scenario+": "+r.Note)
		}
	}
	widths := make([]int, len(tableHeader))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(cell))
			switch {
			case i == len(row)-1:
				b.WriteString(cell) // last column: no trailing blanks
			case i == 0:
				b.WriteString(cell + pad)
			default:
				b.WriteString(pad + cell)
			}
		}
		b.WriteByte('\n')
	}
	for _, n := range notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

func tableRow(name string, r result, top bool) []string {
	conc, dur := "", ""
	if top {
		conc = itoa(r.Concurrency)
		dur = fmt.Sprintf("%.1fs", r.DurationSeconds)
	}
	return []string{
		name, conc, dur,
		itoa(r.Requests),
		fmt.Sprintf("%.0f", r.RPS),
		formatMS(r.LatencyMS.P50),
		formatMS(r.LatencyMS.P90),
		formatMS(r.LatencyMS.P99),
		formatMS(r.LatencyMS.Max),
		formatMicros(r.ServerCPUMicros),
		formatMicros(r.DatabaseCPUMicros),
		errorSummary(r),
	}
}

// formatMicros shows a CPU time per request in whole µs ("us": the table
// aligns by bytes).
func formatMicros(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fus", v)
}

// formatMS shows a latency in milliseconds with three significant digits
// (0.123ms, 1.23ms, 12.3ms, 123ms), and in seconds from 10 s on.
func formatMS(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	case v < 10000:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fs", v/1000)
	}
}
