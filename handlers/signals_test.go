package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/oauth"
)

// tokenAs posts a token request as c from User-Agent ua, with
// X-Forwarded-For xff unless it is empty.
func (s *testServer) tokenAs(t testing.TB, c client, form url.Values, ua, xff string) response {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "User-Agent": {ua}}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	return s.send(t, http.MethodPost, "/oauth2/token", c, h, form.Encode(), false)
}

// signalsSession logs alice in as app from ua and xff, and returns her
// tokens and the session id.
func (s *testServer) signalsSession(t testing.TB, app client, ua, xff string) (tokens, string) {
	t.Helper()
	uid := s.createUser(t, "alice", "pw-alice")
	res := s.tokenAs(t, app, pwForm("alice", "pw-alice"), ua, xff)
	if res.status != http.StatusOK {
		t.Fatalf("login: %s", res)
	}
	items := asSlice(s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil).object(t)["items"])
	if len(items) != 1 {
		t.Fatalf("sessions after login: %v", items)
	}
	return tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}, str(items[0].(map[string]any)["id"])
}

// eventSignals is the events of a session as the admin API lists them:
// type, reason and signals of each.
func (s *testServer) eventSignals(t testing.TB, sid string) []string {
	t.Helper()
	var out []string
	for _, it := range asSlice(s.adminDo(t, http.MethodGet, "/admin/sessions/"+sid+"/events", nil).object(t)["items"]) {
		e := it.(map[string]any)
		var signals []string
		for _, sig := range asSlice(e["signals"]) {
			signals = append(signals, str(sig))
		}
		if _, ok := e["signals"]; ok && len(signals) == 0 {
			t.Errorf("event %v has an empty signals member; want it left out", e)
		}
		out = append(out, str(e["type"])+":"+str(e["reason"])+":"+strings.Join(signals, ","))
	}
	return out
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// TestRefreshSignalsBehindProxy: behind a trusted proxy, the client
// address of X-Forwarded-For is what address_changed compares (/24 for
// IPv4, /48 for IPv6), the signals are in the events of the admin API
// ("signals", only where raised) and in latch_refresh_signals_total, and
// with LATCH_ANOMALY_ACTION=log the login goes on.
func TestRefreshSignalsBehindProxy(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withTrustedProxies("127.0.0.0/8", "::1/128"))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok, sid := s.signalsSession(t, app, "app/1", "203.0.113.9")
	steps := []struct{ xff, ua, want string }{
		{"203.0.113.250", "app/1", "refreshed::"},
		{"192.0.2.1, 203.0.114.250", "app/1", "refreshed::address_changed"}, // the right-most untrusted hop
		{"2001:db8:aa::1", "app/1", "refreshed::address_changed"},
		{"2001:db8:aa:ffff::1", "app/1", "refreshed::"},
		{"2001:db8:ab::1", "app/1", "refreshed::address_changed"},
		{"2001:db8:ab::1", "app/2", "refreshed::user_agent_changed"},
	}
	want := []string{"issued::"}
	for i, st := range steps {
		res := s.tokenAs(t, app, refreshForm(tok.Refresh), st.ua, st.xff)
		if res.status != http.StatusOK {
			t.Fatalf("refresh %d: %s", i, res)
		}
		tok.Refresh = str(res.object(t)["refresh_token"])
		want = append(want, st.want)
	}
	if got := s.eventSignals(t, sid); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	for signal, n := range map[string]float64{"address_changed": 3, "user_agent_changed": 1, "refresh_burst": 0} {
		if got, ok := s.metric(t, "latch_refresh_signals_total", "signal", signal); !ok || got != n {
			t.Errorf("latch_refresh_signals_total{signal=%q} = %v (present %v), want %v", signal, got, ok, n)
		}
	}
}

// TestRefreshSignalsUntrustedForwardedFor: without a trusted proxy,
// X-Forwarded-For is the client's own say and moves no address: the
// address compared is the peer's.
func TestRefreshSignalsUntrustedForwardedFor(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok, sid := s.signalsSession(t, app, "app/1", "203.0.113.9")
	for i, xff := range []string{"198.51.100.1", "2001:db8::1", ""} {
		res := s.tokenAs(t, app, refreshForm(tok.Refresh), "app/1", xff)
		if res.status != http.StatusOK {
			t.Fatalf("refresh %d: %s", i, res)
		}
		tok.Refresh = str(res.object(t)["refresh_token"])
	}
	want := []string{"issued::", "refreshed::", "refreshed::", "refreshed::"}
	if got := s.eventSignals(t, sid); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

// TestAnomalyRevokeOverHTTP: with LATCH_ANOMALY_ACTION=revoke (and the
// default LATCH_ANOMALY_SIGNALS, user_agent_changed), the refresh that
// changes the User-Agent is refused with invalid_grant and ends the
// login: its tokens stop working, it leaves the user's sessions, and its
// events end with family_revoked, reason anomaly, naming the signal.
func TestAnomalyRevokeOverHTTP(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withAnomaly(oauth.AnomalyRevoke, nil, 0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok, sid := s.signalsSession(t, app, "app/1", "")
	res := s.tokenAs(t, app, refreshForm(tok.Refresh), "app/1", "")
	if res.status != http.StatusOK {
		t.Fatalf("refresh with the same User-Agent: %s", res)
	}
	tok = tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}
	wantOAuthError(t, "refresh with another User-Agent", s.tokenAs(t, app, refreshForm(tok.Refresh), "app/2", ""), 400, "invalid_grant")
	s.wantLoginDead(t, "after the anomaly", app, tok)
	want := []string{"issued::", "refreshed::", "family_revoked:anomaly:user_agent_changed"}
	if got := s.eventSignals(t, sid); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	if got, ok := s.metric(t, "latch_refresh_signals_total", "signal", "user_agent_changed"); !ok || got != 1 {
		t.Errorf("latch_refresh_signals_total{user_agent_changed} = %v (present %v), want 1", got, ok)
	}
	if got, ok := s.metric(t, "latch_audit_events_total", "type", "family_revoked", "reason", "anomaly"); !ok || got != 1 {
		t.Errorf("latch_audit_events_total{family_revoked, anomaly} = %v (present %v), want 1", got, ok)
	}
}

// TestAnomalyLogKeepsLogin: with the default action (log), the same
// change of User-Agent is recorded and the login goes on.
func TestAnomalyLogKeepsLogin(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok, sid := s.signalsSession(t, app, "app/1", "")
	res := s.tokenAs(t, app, refreshForm(tok.Refresh), "app/2", "")
	if res.status != http.StatusOK {
		t.Fatalf("refresh with another User-Agent: %s", res)
	}
	next := tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}
	s.wantActive(t, "access token after a logged signal", next.Access)
	if res := s.tokenAs(t, app, refreshForm(next.Refresh), "app/2", ""); res.status != http.StatusOK {
		t.Fatalf("next refresh: %s", res)
	}
	want := []string{"issued::", "refreshed::user_agent_changed", "refreshed::"}
	if got := s.eventSignals(t, sid); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}
