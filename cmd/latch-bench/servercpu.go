package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverCPU reads the server's process_cpu_seconds_total from its /metrics
// (Prometheus's process collector, which latch serve registers). ok is false
// when the server does not say, as a test server without the collector.
//
// CPU per request is the figure to compare builds by on a shared machine:
// requests per second move with whatever else runs, the CPU a request
// costs the server much less.
func (b *bench) serverCPU(ctx context.Context) (seconds float64, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.baseURL+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	res, err := b.hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseCPUSeconds(res.Body)
}

// postgresCPU sums the CPU time (user and system) of this machine's
// processes named postgres, from /proc: the database's share of a
// scenario's cost when PostgreSQL runs here. Backends are the pool's, so
// they live through the timed phase; ok is false without /proc or postgres.
func postgresCPU() (seconds float64, ok bool) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended
		}
		if t, isPG := postgresTicks(string(b)); isPG {
			ticks += t
			ok = true
		}
	}
	return float64(ticks) / clockTicks, ok
}

// clockTicks is the kernel's USER_HZ, 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// postgresTicks parses a /proc/PID/stat line: whether its command is
// postgres, and its utime + stime in clock ticks. The command is in
// parentheses and may hold spaces, so fields count from the last ')'.
func postgresTicks(stat string) (int64, bool) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open || stat[open+1:end] != "postgres" {
		return 0, false
	}
	// After ") ": state is field 3; utime and stime are fields 14 and 15.
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}

// microsPerRequest is the CPU seconds between two readings per request, in
// µs, or 0 (not shown) when nothing was served or the total went down: a
// postgres process that ended meanwhile took its time with it.
func microsPerRequest(before, after float64, requests int) float64 {
	if requests <= 0 || after < before {
		return 0
	}
	return (after - before) * 1e6 / float64(requests)
}

// parseCPUSeconds finds process_cpu_seconds_total in a Prometheus text
// exposition.
func parseCPUSeconds(r io.Reader) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total ")
		if !found {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}
