package main

import (
	"strings"
	"testing"
)

func TestFormatTable(t *testing.T) {
	t.Parallel()
	results := []result{
		{
			Scenario: "refresh", Concurrency: 32, DurationSeconds: 10.04, Requests: 24100, RPS: 2400.4,
			LatencyMS: latencySummary{P50: 12.345, P90: 20.1, P99: 38.7, Max: 143.2}, ServerCPUMicros: 268.6, DatabaseCPUMicros: 91.2,
		},
		{
			Scenario: "mixed", Concurrency: 32, DurationSeconds: 10, Requests: 1000, RPS: 100,
			LatencyMS: latencySummary{P50: 0.512, P90: 3.2, P99: 9.99, Max: 12000},
			Errors:    3, ErrorsBy: map[string]int{"net: eof": 1, "400 invalid_grant": 2},
			Ops: []result{
				{Scenario: "introspect", DurationSeconds: 10, Requests: 800, RPS: 80, LatencyMS: latencySummary{P50: 0.4, P90: 1, P99: 2, Max: 3}},
			},
		},
		{Scenario: "revoke", Concurrency: 32, DurationSeconds: 2.5, Note: "the pool ran out"},
	}
	want := strings.Join([]string{
		"scenario      conc  duration  requests  req/s      p50     p90     p99     max  cpu/req  db/req  errors",
		"refresh         32     10.0s     24100   2400   12.3ms  20.1ms  38.7ms   143ms    269us    91us  0",
		"mixed           32     10.0s      1000    100  0.512ms  3.20ms  9.99ms   12.0s        -       -  3 (400 invalid_grant: 2, net: eof: 1)",
		"  introspect                       800     80  0.400ms  1.00ms  2.00ms  3.00ms        -       -  0",
		"revoke          32      2.5s         0      0        -       -       -       -        -       -  0",
		"note: revoke: the pool ran out",
		"",
	}, "\n")
	if got := formatTable(results); got != want {
		t.Errorf("formatTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatMS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "-"},
		{0.0421, "0.042ms"},
		{0.999, "0.999ms"},
		{1, "1.00ms"},
		{9.994, "9.99ms"},
		{12.34, "12.3ms"},
		{99.4, "99.4ms"},
		{123.4, "123ms"},
		{9999, "9999ms"},
		{12345, "12.3s"},
	}
	for _, tc := range tests {
		if got := formatMS(tc.in); got != tc.want {
			t.Errorf("formatMS(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frac float64
		want string
	}{
		{-1, "[>    ]"},
		{0, "[>    ]"},
		{0.5, "[==>  ]"},
		{1, "[=====]"},
		{2, "[=====]"},
	}
	for _, tc := range tests {
		if got := bar(tc.frac, 5); got != tc.want {
			t.Errorf("bar(%v) = %q, want %q", tc.frac, got, tc.want)
		}
	}
}
