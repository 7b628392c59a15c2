package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// drainer is serve's readiness while it drains. On SIGTERM, serve first
// sets it and waits the drain delay, still serving every request, so that
// a load balancer sees /readyz fail (its check interval times its fall
// count) and moves traffic to the other nodes; only then does
// http.Server.Shutdown stop accepting connections. Without the delay, the
// balancer learns of the node's end from refused connections and requests
// that die with it.
type drainer struct {
	draining atomic.Bool
	// paths are the escaped paths of /readyz: at the root, and under the
	// issuer's path when it has one (see handlers.New).
	paths []string
}

func newDrainer(issuer string) *drainer {
	d := &drainer{paths: []string{"/readyz"}}
	if u, err := url.Parse(issuer); err == nil {
		if p := strings.TrimRight(u.EscapedPath(), "/"); p != "" {
			d.paths = append(d.paths, p+"/readyz")
		}
	}
	return d
}

// wrap answers /readyz with 503 while draining and passes everything else,
// and /readyz before, to next.
func (d *drainer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			for _, p := range d.paths {
				if r.URL.EscapedPath() == p {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Retry-After", "5")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, "{\"status\":\"draining\"}\n")
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
