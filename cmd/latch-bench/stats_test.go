package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(i+1) * time.Millisecond // 1ms..10ms
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", []time.Duration{7}, 1, 7},
		{"one sample max", []time.Duration{7}, 100, 7},
		{"median of ten is the fifth", ten, 50, 5 * time.Millisecond},
		{"p90 of ten is the ninth", ten, 90, 9 * time.Millisecond},
		{"p99 of ten is the max", ten, 99, 10 * time.Millisecond},
		{"p100 is the max", ten, 100, 10 * time.Millisecond},
		{"tiny p is the min", ten, 0.1, time.Millisecond},
		{"p0 clamps to the min", ten, 0, time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 1..100 rounds up", hundred, 99.9, 100 * time.Millisecond},
		{"p90.5 of 1..100 rounds up", hundred, 90.5, 91 * time.Millisecond},
		{"two samples median is the lower", []time.Duration{1, 2}, 50, 1},
		{"two samples p51 is the upper", []time.Duration{1, 2}, 51, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

// TestSummarizeMerges checks that per-worker samples are merged before the
// percentiles are taken, not averaged per worker.
func TestSummarizeMerges(t *testing.T) {
	t.Parallel()
	fast := &samples{}
	slow := &samples{}
	for range 90 {
		fast.lat = append(fast.lat, time.Millisecond)
	}
	for range 10 {
		slow.lat = append(slow.lat, 100*time.Millisecond)
	}
	slow.fail(errKey{status: 400, code: "invalid_grant"})
	slow.fail(errKey{status: 400, code: "invalid_grant"})
	fast.fail(errKey{code: "eof"})
	r := summarize("x", 2*time.Second, []*samples{slow, fast})
	if r.Requests != 100 || r.RPS != 50 {
		t.Errorf("requests, rps = %d, %v; want 100, 50", r.Requests, r.RPS)
	}
	want := latencySummary{P50: 1, P90: 1, P99: 100, Max: 100}
	if r.LatencyMS != want {
		t.Errorf("latency = %+v, want %+v", r.LatencyMS, want)
	}
	if r.Errors != 3 || r.ErrorsBy["400 invalid_grant"] != 2 || r.ErrorsBy["net: eof"] != 1 {
		t.Errorf("errors = %d %v", r.Errors, r.ErrorsBy)
	}
	if got, want := errorSummary(r), "3 (400 invalid_grant: 2, net: eof: 1)"; got != want {
		t.Errorf("errorSummary = %q, want %q", got, want)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	t.Parallel()
	r := summarize("x", 0, []*samples{{}})
	if r.Requests != 0 || r.RPS != 0 || r.LatencyMS != (latencySummary{}) || errorSummary(r) != "0" {
		t.Errorf("empty summary = %+v", r)
	}
}
