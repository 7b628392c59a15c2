package handlers_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

// TestConsole: the operator console is a page without data, served without
// the bearer while the admin API is on, under a policy that allows only its
// own script; its data still needs the admin token.
func TestConsole(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	res, body := get(t, s.URL+"/admin/ui/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("console: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("console CSP %q", csp)
	}
	if !strings.Contains(body, s.URL) || strings.Contains(body, "<script>") {
		t.Fatalf("console page: no issuer, or an inline script:\n%s", body)
	}
	res, js := get(t, s.URL+"/admin/ui/static/console.js")
	if res.StatusCode != http.StatusOK || !strings.Contains(js, "Authorization") || strings.Contains(js, "innerHTML") {
		t.Fatalf("console script: %d (it must send the bearer and never use innerHTML)", res.StatusCode)
	}
	res, chart := get(t, s.URL+"/admin/ui/static/chart.js")
	if res.StatusCode != http.StatusOK || !strings.Contains(chart, "createElementNS") || strings.Contains(chart, "innerHTML") {
		t.Fatalf("chart script: %d (it must draw SVG and never use innerHTML)", res.StatusCode)
	}
	if res, _ := get(t, s.URL+"/admin/clients"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the admin API answered %d without the bearer", res.StatusCode)
	}

	off := newTestServer(t, withAdminToken(""))
	if res, _ := get(t, off.URL+"/admin/ui/"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("console without an admin token: %d, want 404", res.StatusCode)
	}
}
