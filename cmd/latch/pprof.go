//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A build with -tags pprof serves the runtime profiles on
// LATCH_PPROF_ADDR (say 127.0.0.1:6060) for performance work; release
// builds have no such listener. See docs/performance.md.
func init() {
	settings = append(settings, setting{env: "LATCH_PPROF_ADDR", kind: envSetting})
	if addr := os.Getenv("LATCH_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
