package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the smallest sample such that at
// least p% of the samples are less than or equal to it. It returns 0 for no
// samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// errKey classifies a failed request: the HTTP status and the OAuth2 error
// code of its body, or status 0 and a short cause for a transport failure.
type errKey struct {
	status int
	code   string
}

func (k errKey) String() string {
	switch {
	case k.status == 0:
		return "net: " + k.code
	case k.code == "":
		return fmt.Sprint(k.status)
	default:
		return fmt.Sprintf("%d %s", k.status, k.code)
	}
}

// samples is what one worker measured for one operation. Workers never share
// them, so recording takes no lock; [summarize] merges them at the end.
type samples struct {
	lat  []time.Duration
	errs map[errKey]int
}

func (s *samples) fail(k errKey) {
	if s.errs == nil {
		s.errs = make(map[errKey]int)
	}
	s.errs[k]++
}

// latencySummary is in milliseconds, for people and machines alike.
type latencySummary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// result is the outcome of one scenario, or of one operation within mixed.
type result struct {
	Scenario        string         `json:"scenario"`
	Concurrency     int            `json:"concurrency,omitempty"`
	DurationSeconds float64        `json:"duration_seconds"`
	Requests        int            `json:"requests"`
	RPS             float64        `json:"requests_per_second"`
	LatencyMS       latencySummary `json:"latency_ms"`
	Errors          int            `json:"errors"`
	ErrorsBy        map[string]int `json:"errors_by,omitempty"`
	// ServerCPUMicros is the server's CPU time (user and system) over the
	// timed phase divided by its requests, when its /metrics says.
	ServerCPUMicros float64 `json:"server_cpu_us_per_request,omitempty"`
	// DatabaseCPUMicros is the same for this machine's postgres processes
	// (--pg-cpu).
	DatabaseCPUMicros float64 `json:"database_cpu_us_per_request,omitempty"`
	// Ops breaks a mixed scenario down by operation.
	Ops  []result `json:"ops,omitempty"`
	Note string   `json:"note,omitempty"`
}

// summarize merges the samples of every worker into one result over elapsed.
// Requests counts every answered request, failed ones included; latencies
// cover them all.
func summarize(name string, elapsed time.Duration, parts []*samples) result {
	var all []time.Duration
	errs := map[errKey]int{}
	for _, p := range parts {
		all = append(all, p.lat...)
		for k, n := range p.errs {
			errs[k] += n
		}
	}
	slices.Sort(all)
	r := result{Scenario: name, DurationSeconds: elapsed.Seconds(), Requests: len(all)}
	if elapsed > 0 {
		r.RPS = float64(len(all)) / elapsed.Seconds()
	}
	if len(all) > 0 {
		r.LatencyMS = latencySummary{
			P50: ms(percentile(all, 50)),
			P90: ms(percentile(all, 90)),
			P99: ms(percentile(all, 99)),
			Max: ms(all[len(all)-1]),
		}
	}
	for k, n := range errs {
		if r.ErrorsBy == nil {
			r.ErrorsBy = map[string]int{}
		}
		r.ErrorsBy[k.String()] += n
		r.Errors += n
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errorSummary renders errors as "3 (400 invalid_grant: 2, net: eof: 1)",
// most frequent first.
func errorSummary(r result) string {
	if r.Errors == 0 {
		return "0"
	}
	keys := make([]string, 0, len(r.ErrorsBy))
	for k := range r.ErrorsBy {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ErrorsBy[keys[i]] != r.ErrorsBy[keys[j]] {
			return r.ErrorsBy[keys[i]] > r.ErrorsBy[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, r.ErrorsBy[k])
	}
	return fmt.Sprintf("%d (%s)", r.Errors, strings.Join(parts, ", "))
}
