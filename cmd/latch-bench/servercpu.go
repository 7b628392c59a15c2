package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
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
