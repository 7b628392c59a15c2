package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchhq/latch/storage"
)

func TestAddressChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		prev, next string
		want       bool
	}{
		{"same address", "192.0.2.1", "192.0.2.1", false},
		{"same /24", "192.0.2.1", "192.0.2.254", false},
		{"next /24", "192.0.2.255", "192.0.3.0", true},
		{"IPv4-mapped in the same /24", "192.0.2.1", "::ffff:192.0.2.9", false},
		{"IPv6, same /48", "2001:db8:1::1", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", false},
		{"IPv6, next /48", "2001:db8:1::1", "2001:db8:2::1", true},
		{"IPv6 with a zone, same /48", "fe80::1%eth0", "fe80::2", false},
		{"IPv4 to IPv6", "192.0.2.1", "2001:db8::1", true},
		{"no IP address, same", "cli", "cli", false},
		{"no IP address to one", "cli", "192.0.2.1", true},
		{"none to none", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := addressChanged(tc.prev, tc.next); got != tc.want {
				t.Errorf("addressChanged(%q, %q) = %v, want %v", tc.prev, tc.next, got, tc.want)
			}
			if got := addressChanged(tc.next, tc.prev); got != tc.want {
				t.Errorf("addressChanged(%q, %q) = %v, want %v (the other way)", tc.next, tc.prev, got, tc.want)
			}
		})
	}
}

// TestNextStep: the burst minute and a login without a recorded step.
func TestNextStep(t *testing.T) {
	t.Parallel()
	p := &Provider{cfg: Config{RefreshBurst: 2}}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := WithRequestInfo(context.Background(), RequestInfo{Address: "198.51.100.1", UserAgent: "other"})
	tests := []struct {
		name      string
		prev      storage.Step
		now       time.Time
		wantStart time.Time
		wantCount int64
		want      []string
	}{
		{"no step recorded", storage.Step{}, t0, t0, 1, nil},
		{"at the limit", storage.Step{Address: "198.51.100.9", UserAgent: "other", BurstStart: t0, BurstCount: 1}, t0.Add(59 * time.Second), t0, 2, nil},
		{"past the limit", storage.Step{Address: "198.51.100.9", UserAgent: "other", BurstStart: t0, BurstCount: 2}, t0.Add(59 * time.Second), t0, 3, []string{SignalRefreshBurst}},
		{"a minute later", storage.Step{Address: "198.51.100.9", UserAgent: "other", BurstStart: t0, BurstCount: 9}, t0.Add(time.Minute), t0.Add(time.Minute), 1, nil},
		{"a minute started ahead of this clock", storage.Step{Address: "198.51.100.9", UserAgent: "other", BurstStart: t0.Add(time.Second), BurstCount: 2}, t0, t0.Add(time.Second), 3, []string{SignalRefreshBurst}},
		{"all three", storage.Step{Address: "192.0.2.1", UserAgent: "app/1", BurstStart: t0, BurstCount: 2}, t0, t0, 3, Signals},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, got := p.nextStep(ctx, tc.prev, tc.now)
			if !slices.Equal(got, tc.want) {
				t.Errorf("signals %v, want %v", got, tc.want)
			}
			if !next.BurstStart.Equal(tc.wantStart) || next.BurstCount != tc.wantCount {
				t.Errorf("burst %v, %d; want %v, %d", next.BurstStart, next.BurstCount, tc.wantStart, tc.wantCount)
			}
			if next.Address != "198.51.100.1" || next.UserAgent != "other" {
				t.Errorf("next step %+v, want the caller's address and User-Agent", next)
			}
		})
	}
}

func TestAnomalyConfig(t *testing.T) {
	t.Parallel()
	base := Config{Issuer: "http://127.0.0.1:8080", Secret: make([]byte, 32), AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour, SessionMaxAge: time.Hour}
	p, err := NewProvider(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.AnomalyAction != AnomalyLog || !slices.Equal(p.cfg.AnomalySignals, []string{SignalUserAgentChanged}) || p.cfg.RefreshBurst != DefaultRefreshBurst {
		t.Errorf("defaults: action %q, signals %v, burst %d", p.cfg.AnomalyAction, p.cfg.AnomalySignals, p.cfg.RefreshBurst)
	}
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
		want  string
	}{
		{"unknown action", func(c *Config) { c.AnomalyAction = "block" }, `anomaly action "block" is not log or revoke`},
		{"unknown signal", func(c *Config) { c.AnomalySignals = []string{"user_agent_changed", "geo_changed"} }, `anomaly signal "geo_changed" is not one of address_changed, user_agent_changed, refresh_burst`},
		{"negative burst", func(c *Config) { c.RefreshBurst = -1 }, "refresh burst -1 is not positive"},
	} {
		cfg := base
		tc.tweak(&cfg)
		if _, err := NewProvider(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewProvider = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// caller is a context of a request from address with User-Agent ua.
func caller(address, ua string) context.Context {
	return WithRequestInfo(context.Background(), RequestInfo{Address: address, UserAgent: ua})
}

func (f *fixture) refreshFrom(t testing.TB, ctx context.Context, rt string) tokenResponse {
	t.Helper()
	return f.tokenCtx(t, ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (f *fixture) loginFrom(t testing.TB, ctx context.Context) tokenResponse {
	t.Helper()
	r := f.password(t, ctx, "alice", "correct horse")
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.Error)
	}
	return r
}

// signalTrail is the events of a login as type:reason[signals...].
func signalTrail(t testing.TB, f *fixture, familyID string) string {
	t.Helper()
	events, err := f.p.SessionEvents(t.Context(), familyID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range events {
		trail = append(trail, e.Type+":"+e.Reason+strings.Join(e.Signals, ","))
	}
	return strings.Join(trail, " ")
}

// TestRefreshSignals: each refresh is compared with the previous step of
// its login (the login itself first), the signals it raises are on its
// refreshed event, counted and logged; with the action log the login goes
// on.
func TestRefreshSignals(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	f := newFixture(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.Registerer = prometheus.NewRegistry()
	})
	r := f.loginFrom(t, caller("192.0.2.10", "app/1"))
	fam := familyOf(t, f, r.RefreshToken)
	var refreshTokens []string
	steps := []struct {
		address, ua string
		want        string
	}{
		{"192.0.2.200", "app/1", "refreshed:"},                                     // same /24
		{"192.0.3.200", "app/1", "refreshed:address_changed"},                      // next /24
		{"2001:db8:1:2::1", "app/1", "refreshed:address_changed"},                  // to IPv6
		{"2001:db8:1:ffff::9", "app/1", "refreshed:"},                              // same /48
		{"2001:db8:2::1", "app/2", "refreshed:address_changed,user_agent_changed"}, // next /48, new agent
		{"2001:db8:2::1", "app/2", "refreshed:"},
		{"2001:db8:2::1", "", "refreshed:user_agent_changed"}, // no User-Agent is a change too
	}
	want := []string{"issued:"}
	for i, st := range steps {
		refreshTokens = append(refreshTokens, r.RefreshToken)
		r = f.refreshFrom(t, caller(st.address, st.ua), r.RefreshToken)
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d: %d %s (the action log ends no login)", i, r.status, r.Error)
		}
		want = append(want, st.want)
		if got := signalTrail(t, f, fam); got != strings.Join(want, " ") {
			t.Fatalf("after refresh %d from %s %q: events %q, want %q", i, st.address, st.ua, got, strings.Join(want, " "))
		}
	}
	for signal, n := range map[string]float64{SignalAddressChanged: 3, SignalUserAgentChanged: 2, SignalRefreshBurst: 0} {
		if got := testutil.ToFloat64(f.p.metrics.refreshSignals.WithLabelValues(signal)); got != n {
			t.Errorf("latch_refresh_signals_total{signal=%q} = %v, want %v", signal, got, n)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"signals":["address_changed","user_agent_changed"]`) {
		t.Errorf("no audit line names the signals:\n%s", out)
	}
	for _, rt := range append(refreshTokens, r.RefreshToken, r.AccessToken) {
		if strings.Contains(out, rt) || strings.Contains(out, strings.TrimPrefix(rt, RefreshTokenPrefix)) {
			t.Fatalf("the log holds a token:\n%s", out)
		}
	}
}

// TestRefreshBurst: refresh_burst is raised by the refresh past
// RefreshBurst within a minute of the login's current minute, not by the
// one at it, and a refresh after the minute starts the next one.
func TestRefreshBurst(t *testing.T) {
	t.Parallel()
	const burst = 3
	f := newFixture(t, func(c *Config) { c.RefreshBurst = burst })
	ctx := caller("192.0.2.10", "app/1")
	r := f.loginFrom(t, ctx)
	fam := familyOf(t, f, r.RefreshToken)
	want := []string{"issued:"}
	refresh := func(signals string) {
		t.Helper()
		if r = f.refreshFrom(t, ctx, r.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.status, r.Error)
		}
		want = append(want, "refreshed:"+signals)
		if got := signalTrail(t, f, fam); got != strings.Join(want, " ") {
			t.Fatalf("events %q, want %q", got, strings.Join(want, " "))
		}
	}
	for range burst {
		refresh("")
	}
	f.clock.Advance(59 * time.Second)
	refresh(SignalRefreshBurst)
	refresh(SignalRefreshBurst)
	f.clock.Advance(time.Second) // the minute from the login is over
	for range burst {
		refresh("")
	}
	refresh(SignalRefreshBurst)
	if got := testutil.ToFloat64(f.p.metrics.refreshSignals.WithLabelValues(SignalRefreshBurst)); got != 3 {
		t.Errorf("latch_refresh_signals_total{signal=refresh_burst} = %v, want 3", got)
	}
}

// TestAnomalyRevoke: with the action revoke, the refresh that raises a
// listed signal (user_agent_changed by default) ends the login instead of
// rotating: invalid_grant, the family revoked with reason anomaly and the
// signals on its event; every token of the login stops working. A signal
// not listed only records.
func TestAnomalyRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.AnomalyAction = AnomalyRevoke })
	r0 := f.loginFrom(t, caller("192.0.2.10", "app/1"))
	fam := familyOf(t, f, r0.RefreshToken)
	r1 := f.refreshFrom(t, caller("198.51.100.7", "app/1"), r0.RefreshToken)
	if r1.status != http.StatusOK {
		t.Fatalf("refresh from another address (not listed): %d %s", r1.status, r1.Error)
	}
	wantGrantError(t, f.refreshFrom(t, caller("198.51.100.7", "app/2"), r1.RefreshToken))
	if got, want := signalTrail(t, f, fam), "issued: refreshed:address_changed family_revoked:anomalyuser_agent_changed"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if f.active(t, r1.AccessToken) {
		t.Error("the login's access token is active after an anomaly ended it")
	}
	// Not even the agent the login knew gets it back.
	wantGrantError(t, f.refreshFrom(t, caller("198.51.100.7", "app/1"), r1.RefreshToken))
	got, err := f.store.GetFamily(t.Context(), fam)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokeReason != storage.ReasonAnomaly {
		t.Errorf("revoke reason %q, want %q", got.RevokeReason, storage.ReasonAnomaly)
	}
	if n := testutil.ToFloat64(f.p.metrics.events.WithLabelValues(EventFamilyRevoked, storage.ReasonAnomaly)); n != 1 {
		t.Errorf("latch_audit_events_total{family_revoked, anomaly} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(f.p.metrics.refreshSignals.WithLabelValues(SignalUserAgentChanged)); n != 1 {
		t.Errorf("latch_refresh_signals_total{user_agent_changed} = %v, want 1", n)
	}
}

// TestAnomalyRevokeListed: the action revoke acts on the signals listed,
// here the burst, and keeps a login whose User-Agent changed.
func TestAnomalyRevokeListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.AnomalyAction, c.AnomalySignals, c.RefreshBurst = AnomalyRevoke, []string{SignalRefreshBurst}, 2
	})
	r := f.loginFrom(t, caller("192.0.2.10", "app/1"))
	fam := familyOf(t, f, r.RefreshToken)
	for i, ua := range []string{"app/2", "app/3"} {
		if r = f.refreshFrom(t, caller("192.0.2.10", ua), r.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("refresh %d with a new User-Agent (not listed): %d %s", i, r.status, r.Error)
		}
	}
	wantGrantError(t, f.refreshFrom(t, caller("192.0.2.10", "app/3"), r.RefreshToken))
	if got, want := signalTrail(t, f, fam), "issued: refreshed:user_agent_changed refreshed:user_agent_changed family_revoked:anomalyrefresh_burst"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
}
