package main

import (
	"strings"
	"testing"
)

func TestParseCPUSeconds(t *testing.T) {
	t.Parallel()
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.75
process_cpu_seconds_total_other 3
`
	if got, ok := parseCPUSeconds(strings.NewReader(text)); !ok || got != 12.75 {
		t.Errorf("parseCPUSeconds = %v, %v; want 12.75, true", got, ok)
	}
	for _, text := range []string{"", "go_goroutines 7\n", "process_cpu_seconds_total twelve\n"} {
		if got, ok := parseCPUSeconds(strings.NewReader(text)); ok {
			t.Errorf("parseCPUSeconds(%q) = %v, true; want not found", text, got)
		}
	}
}

func TestPostgresTicks(t *testing.T) {
	t.Parallel()
	// /proc/PID/stat of a backend: utime 250 and stime 31 (fields 14, 15).
	line := "4242 (postgres) S 900 900 900 0 -1 4194560 1200 0 0 0 250 31 0 0 20 0 1 0 5000 230000000 3000 18446744073709551615"
	if got, ok := postgresTicks(line); !ok || got != 281 {
		t.Errorf("postgresTicks(backend) = %d, %v; want 281, true", got, ok)
	}
	for _, line := range []string{
		"4243 (latch) S 1 1 1 0 -1 0 0 0 0 0 250 31 0 0",
		"4244 (post gres) S 1 1 1 0 -1 0 0 0 0 0 250 31 0 0",
		"4245 (postgres) S 1",
		"garbage",
	} {
		if got, ok := postgresTicks(line); ok {
			t.Errorf("postgresTicks(%q) = %d, true; want not postgres", line, got)
		}
	}
}

func TestMicrosPerRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		before, after float64
		requests      int
		want          float64
	}{
		{10, 12, 4000, 500},
		{10, 10, 100, 0},
		{10, 9.5, 100, 0}, // a process ended: not shown rather than negative
		{10, 12, 0, 0},
	} {
		if got := microsPerRequest(tc.before, tc.after, tc.requests); got != tc.want {
			t.Errorf("microsPerRequest(%v, %v, %d) = %v, want %v", tc.before, tc.after, tc.requests, got, tc.want)
		}
	}
}
