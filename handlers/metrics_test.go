package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMetricsContract scrapes /metrics after a password grant, a refresh,
// failed grants, revocations and introspections, and checks that each
// series API.md's "Metrics" names moved with the right labels, and that
// labels a caller chooses (an unknown grant type) are not label values.
func TestMetricsContract(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	s.createUser(t, "alice", "pw-alice")

	login := s.login(t, app, "alice", "pw-alice", "")
	res := s.refresh(t, app, login.Refresh, "")
	if res.status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	rotated := tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}
	wrong := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}
	wantOAuthError(t, "wrong password", s.post(t, "/oauth2/token", app, wrong), 400, "invalid_grant")
	odd := url.Values{"grant_type": {"urn:example:made-up"}}
	wantOAuthError(t, "unknown grant type", s.post(t, "/oauth2/token", app, odd), 400, "unsupported_grant_type")

	s.wantActive(t, "rotated access token", rotated.Access)
	if res := s.post(t, "/oauth2/revoke", app, url.Values{"token": {rotated.Refresh}}); res.status != http.StatusOK {
		t.Fatalf("revoke: %s", res)
	}
	badSecret := client{ID: app.ID, Secret: "not-the-secret", AuthMethod: app.AuthMethod}
	wantOAuthError(t, "revoke with a wrong secret", s.post(t, "/oauth2/revoke", badSecret, url.Values{"token": {login.Refresh}}), 401, "invalid_client")
	s.wantInactive(t, "revoked access token", rotated.Access)

	res = s.get(t, "/metrics")
	if res.status != http.StatusOK {
		t.Fatalf("/metrics: %s", res)
	}
	body := string(res.body)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latch_token_requests_total", []string{"grant_type", "password", "result", "ok"}, 1},
		{"latch_token_requests_total", []string{"grant_type", "refresh_token", "result", "ok"}, 1},
		{"latch_token_requests_total", []string{"grant_type", "password", "result", "invalid_grant"}, 1},
		{"latch_token_requests_total", []string{"grant_type", "other", "result", "unsupported_grant_type"}, 1},
		{"latch_revocations_total", []string{"result", "ok"}, 1},
		{"latch_revocations_total", []string{"result", "invalid_client"}, 1},
		{"latch_introspections_total", []string{"active", "true"}, 1},
		{"latch_introspections_total", []string{"active", "false"}, 1},
		{"latch_audit_events_total", []string{"type", "issued", "reason", ""}, 1},
		{"latch_audit_events_total", []string{"type", "refreshed", "reason", ""}, 1},
		{"latch_audit_events_total", []string{"type", "revoked", "reason", ""}, 1},
		{"latch_audit_events_total", []string{"type", "family_revoked", "reason", "revoked"}, 1},
		{"latch_logins_refused_total", []string{"reason", "bad_credentials"}, 1},
		{"latch_http_requests_total", []string{"route", "token", "method", "POST", "status", "200"}, 2},
		{"latch_http_requests_total", []string{"route", "token", "method", "POST", "status", "400"}, 2},
		{"latch_http_requests_total", []string{"route", "revoke", "method", "POST", "status", "200"}, 1},
		{"latch_http_requests_total", []string{"route", "introspect", "method", "POST", "status", "200"}, 2},
		{"latch_http_request_duration_seconds_count", []string{"route", "token"}, 4},
		{"latch_http_request_duration_seconds_count", []string{"route", "introspect"}, 2},
	}
	for _, tc := range tests {
		if got, ok := metricIn(t, body, tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%q = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if strings.Contains(body, "made-up") {
		t.Errorf("a grant type the caller chose is a label value:\n%s", body)
	}
	// The refresh came from the login's address and User-Agent: every
	// signal's series is there, at zero (signals_test.go moves them).
	for _, signal := range []string{"address_changed", "user_agent_changed", "refresh_burst"} {
		if got, ok := metricIn(t, body, "latch_refresh_signals_total", "signal", signal); !ok || got != 0 {
			t.Errorf("latch_refresh_signals_total{signal=%q} = %v (present %v), want 0", signal, got, ok)
		}
	}
}
