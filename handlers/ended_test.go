package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/latchhq/latch/oauth"
)

// TestEndedRequestsAnswerQuietly: a request whose client hung up or ran
// out of time before its answer, at every endpoint that reads the database,
// is answered 499 and logged at Debug only: no WARN or ERROR line, and no
// 5xx in latch_http_requests_total. The database reported such a request
// as an outage (503 and a WARN at the OAuth endpoints, an ERROR at the
// admin API and the keys).
func TestEndedRequestsAnswerQuietly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withJWT(""))
	app := ts.newPasswordClient(t, "app", "client_secret_basic")
	ts.createUser(t, "alice", "correct horse")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	form := func(v url.Values) io.Reader { return strings.NewReader(v.Encode()) }
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   io.Reader
		as     client
	}{
		{"password grant", http.MethodPost, "/oauth2/token", form(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}}), app},
		{"introspection", http.MethodPost, "/oauth2/introspect", form(url.Values{"token": {"latch_at_x.y"}}), ts.introspector},
		{"revocation", http.MethodPost, "/oauth2/revoke", form(url.Values{"token": {"latch_rt_x.y"}}), app},
		{"admin API", http.MethodGet, "/admin/clients", nil, client{}},
		{"keys", http.MethodGet, "/.well-known/jwks.json", nil, client{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.logs.String())
			req := httptest.NewRequestWithContext(ended, tc.method, tc.path, tc.body)
			if tc.body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.as.ID != "" {
				req.SetBasicAuth(tc.as.ID, tc.as.Secret)
			} else {
				req.Header.Set("Authorization", "Bearer "+ts.admin)
			}
			w := httptest.NewRecorder()
			ts.srv.Config.Handler.ServeHTTP(w, req)
			if w.Code != oauth.StatusClientClosedRequest {
				t.Errorf("answered %d %s, want %d", w.Code, w.Body, oauth.StatusClientClosedRequest)
			}
			for line := range strings.Lines(ts.logs.String()[before:]) {
				var l struct{ Level string }
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if l.Level == slog.LevelWarn.String() || l.Level == slog.LevelError.String() {
					t.Errorf("logged %s", line)
				}
			}
		})
	}
	metrics := ts.get(t, "/metrics")
	for line := range strings.Lines(string(metrics.body)) {
		if strings.HasPrefix(line, "latch_http_requests_total{") && strings.Contains(line, `status="5`) {
			t.Errorf("metrics count a server failure: %s", line)
		}
	}
}
