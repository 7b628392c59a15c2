package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRunServeDrainDelay checks the order of a shutdown with a drain delay:
// on SIGTERM (a cancelled context) /readyz answers 503 at once, while the
// node still accepts connections and answers everything else, and only
// after the delay does it stop.
func TestRunServeDrainDelay(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	addr := freeAddr(t)
	c.env["LATCH_ADDR"] = addr
	c.env["LATCH_DRAIN_DELAY"] = "2s"
	stderr := new(syncBuffer)
	stop, done := startServe(t, c, new(syncBuffer), stderr)
	// A new connection per request: a refused one shows that the
	// listener is closed.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + addr
	waitServing(t, client, base+"/readyz", done, stderr)

	stopped := time.Now()
	stop()
	get := func(path string) int {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s %.1fs after SIGTERM: %v, want an answer while draining\nstderr:\n%s", path, time.Since(stopped).Seconds(), err, stderr.String())
		}
		resp.Body.Close()
		if path == "/readyz" && resp.Header.Get("Retry-After") == "" && resp.StatusCode == http.StatusServiceUnavailable {
			t.Error("the draining 503 has no Retry-After")
		}
		return resp.StatusCode
	}
	for {
		if get("/readyz") == http.StatusServiceUnavailable {
			break
		}
		if time.Since(stopped) > time.Second {
			t.Fatalf("/readyz still not 503 %.1fs after SIGTERM", time.Since(stopped).Seconds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := get("/healthz"); got != http.StatusOK {
		t.Errorf("GET /healthz while draining = %d, want 200", got)
	}
	waitServeReturns(t, done, stderr)
	if took := time.Since(stopped); took < 2*time.Second {
		t.Errorf("serve returned %.1fs after SIGTERM, before the 2s drain delay", took.Seconds())
	}
}

// TestDrainerPaths checks which requests the drainer answers itself: GET
// and HEAD of /readyz, at the root and under the issuer's path, once
// draining.
func TestDrainerPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		path     string
		draining bool
		want     int
	}{
		{"ready before the drain", http.MethodGet, "/readyz", false, http.StatusOK},
		{"readyz while draining", http.MethodGet, "/readyz", true, http.StatusServiceUnavailable},
		{"HEAD readyz while draining", http.MethodHead, "/readyz", true, http.StatusServiceUnavailable},
		{"readyz under the issuer path", http.MethodGet, "/auth/readyz", true, http.StatusServiceUnavailable},
		{"POST readyz goes to the router", http.MethodPost, "/readyz", true, http.StatusOK},
		{"healthz while draining", http.MethodGet, "/healthz", true, http.StatusOK},
		{"token while draining", http.MethodPost, "/oauth2/token", true, http.StatusOK},
		{"an admin id named readyz", http.MethodGet, "/admin/users/readyz", true, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDrainer("https://example.com/auth/")
			d.draining.Store(tc.draining)
			h := d.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.want {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.want)
			}
		})
	}
}
