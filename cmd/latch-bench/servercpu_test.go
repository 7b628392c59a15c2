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
