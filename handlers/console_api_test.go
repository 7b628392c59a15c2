package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

type statsAnswer struct {
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Buckets    []bucket  `json:"buckets"`
	LiveLogins int64     `json:"live_logins"`
	LastHour   bucket    `json:"last_hour"`
	Failures   []struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
		Count  int64  `json:"count"`
	} `json:"failures_last_hour"`
}

type bucket struct {
	Start           time.Time `json:"start"`
	Logins          int64     `json:"logins"`
	Refreshes       int64     `json:"refreshes"`
	RefusedLogins   int64     `json:"refused_logins"`
	ReuseDetections int64     `json:"reuse_detections"`
	Revocations     int64     `json:"revocations"`
	Signals         int64     `json:"signals"`
}

func (s *testServer) stats(t testing.TB, query string) statsAnswer {
	t.Helper()
	res := s.adminDo(t, http.MethodGet, "/admin/stats"+query, nil)
	if res.status != http.StatusOK {
		t.Fatalf("stats%s: %s", query, res)
	}
	var st statsAnswer
	if err := json.Unmarshal(res.body, &st); err != nil {
		t.Fatalf("stats%s: %v", query, err)
	}
	return st
}

// TestStats: GET /admin/stats counts what happened, per bucket and in the
// last hour: two logins, two refreshes (one from another User-Agent, which
// raises a signal), a reuse that ended one login, a lockout; the live
// logins are the ones left.
func TestStats(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0), withLoginLimits(2, 0))
	app := s.newPasswordClient(t, "web-app", "client_secret_basic")
	s.createUser(t, "alice", "correct horse battery")
	first := s.login(t, app, "alice", "correct horse battery", "read")
	second := s.login(t, app, "alice", "correct horse battery", "read")
	if res := s.refresh(t, app, first.Refresh, ""); res.status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	if res := s.tokenAs(t, app, refreshForm(second.Refresh), "another-app/2", ""); res.status != http.StatusOK {
		t.Fatalf("refresh from another User-Agent: %s", res)
	}
	s.wantRefreshDead(t, "the spent refresh token, presented again", app, first.Refresh)
	for range 3 {
		s.post(t, "/oauth2/token", app, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"wrong"}})
	}

	st := s.stats(t, "?window=1h&step=1m")
	if len(st.Buckets) != 60 {
		t.Fatalf("%d buckets for window=1h&step=1m, want 60", len(st.Buckets))
	}
	var sum bucket
	for i, b := range st.Buckets {
		if want := st.Since.Add(time.Duration(i) * time.Minute); !b.Start.Equal(want) {
			t.Errorf("bucket %d starts at %v, want %v", i, b.Start, want)
		}
		sum.Logins += b.Logins
		sum.Refreshes += b.Refreshes
		sum.RefusedLogins += b.RefusedLogins
		sum.ReuseDetections += b.ReuseDetections
		sum.Revocations += b.Revocations
		sum.Signals += b.Signals
	}
	want := bucket{Logins: 2, Refreshes: 2, RefusedLogins: 1, ReuseDetections: 1, Revocations: 1, Signals: 1}
	if sum != want {
		t.Errorf("sums of the buckets %+v, want %+v", sum, want)
	}
	last := st.LastHour
	last.Start = time.Time{}
	if last != want {
		t.Errorf("last hour %+v, want %+v", last, want)
	}
	if st.LiveLogins != 1 {
		t.Errorf("live_logins %d, want 1 (the reuse ended the other)", st.LiveLogins)
	}
	var failures []string
	for _, f := range st.Failures {
		failures = append(failures, f.Type+"/"+f.Reason)
	}
	for _, w := range []string{"family_revoked/reuse_detected", "lockout/username", "reuse_detected/"} {
		if !slices.Contains(failures, w) {
			t.Errorf("failures_last_hour %v lack %s", failures, w)
		}
	}
	if got := len(s.stats(t, "").Buckets); got != 288 {
		t.Errorf("default stats: %d buckets, want 288 (24h in 5m)", got)
	}
}

// TestStatsParameters: a window or step that is no duration, out of
// bounds, or that makes too many buckets is 400, never a 500.
func TestStatsParameters(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, q := range []string{
		"?window=abc", "?step=5", "?window=0s", "?window=-1h", "?window=200h", "?step=30s",
		"?window=1h&step=2h", "?window=48h&step=1m", "?window=1h&step=" + url.QueryEscape("1m\x00"),
	} {
		wantAdminError(t, "stats"+q, s.adminDo(t, http.MethodGet, "/admin/stats"+q, nil), http.StatusBadRequest, "")
	}
	if res := s.adminDo(t, http.MethodGet, "/admin/stats?window=24h&step=1m", nil); res.status != http.StatusOK {
		t.Errorf("1440 buckets: %s, want 200", res)
	}
	off := newTestServer(t)
	off.admin = "wrong"
	wantAdminError(t, "stats without the bearer", off.adminDo(t, http.MethodGet, "/admin/stats", nil), http.StatusUnauthorized, "")
}

// TestRotateClientSecret: the new secret works, the old one is refused at
// once, the client's logins go on; a public client has no secret to
// rotate and an unknown one is 404.
func TestRotateClientSecret(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	svc := s.createClient(t, map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "read"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	s.tokenOK(t, svc, cc)

	res := s.adminDo(t, http.MethodPost, "/admin/clients/svc/secret", nil)
	if res.status != http.StatusOK || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotate: %s (Cache-Control %q)", res, res.header.Get("Cache-Control"))
	}
	m := res.object(t)
	fresh := client{ID: "svc", Secret: str(m["client_secret"]), AuthMethod: svc.AuthMethod}
	if fresh.Secret == "" || fresh.Secret == svc.Secret || str(m["client_id"]) != "svc" {
		t.Fatalf("rotate answered %s", res.body)
	}
	wantOAuthError(t, "the old secret", s.post(t, "/oauth2/token", svc, cc), http.StatusUnauthorized, "invalid_client")
	s.tokenOK(t, fresh, cc)
	if res := s.adminDo(t, http.MethodGet, "/admin/clients/svc", nil); res.status != http.StatusOK || res.object(t)["client_secret"] != nil {
		t.Errorf("GET the client after rotation: %s (no secret may show)", res)
	}

	app := s.newPasswordClient(t, "web-app", "client_secret_post")
	s.createUser(t, "alice", "correct horse battery")
	login := s.login(t, app, "alice", "correct horse battery", "read")
	res = s.adminDo(t, http.MethodPost, "/admin/clients/web-app/secret", nil)
	if res.status != http.StatusOK {
		t.Fatalf("rotate web-app: %s", res)
	}
	s.wantActive(t, "a login of a client whose secret was rotated", login.Access)

	s.createClient(t, map[string]any{"client_id": "spa", "grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none"})
	wantAdminError(t, "rotate a public client", s.adminDo(t, http.MethodPost, "/admin/clients/spa/secret", nil), http.StatusBadRequest, "public")
	wantAdminError(t, "rotate an unknown client", s.adminDo(t, http.MethodPost, "/admin/clients/nope/secret", nil), http.StatusNotFound, "")
	wantAdminError(t, "GET the secret", s.adminDo(t, http.MethodGet, "/admin/clients/svc/secret", nil), http.StatusMethodNotAllowed, "")
}

// TestSearchUsers: username_prefix finds the users whose name starts with
// it, case-sensitive, ordered, at most limit; bad limits are 400.
func TestSearchUsers(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, name := range []string{"alice", "alicia", "Alina", "bob"} {
		s.createUser(t, name, "a long enough password")
	}
	names := func(query string) []string {
		t.Helper()
		res := s.adminDo(t, http.MethodGet, "/admin/users?"+query, nil)
		if res.status != http.StatusOK {
			t.Fatalf("users?%s: %s", query, res)
		}
		var out struct {
			Items []struct {
				ID       string `json:"id"`
				Username string `json:"username"`
				Disabled *bool  `json:"disabled"`
			} `json:"items"`
		}
		if err := json.Unmarshal(res.body, &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range out.Items {
			if u.ID == "" || u.Disabled == nil {
				t.Errorf("users?%s: item %+v lacks id or disabled", query, u)
			}
			got = append(got, u.Username)
		}
		return got
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"username_prefix=ali", []string{"alice", "alicia"}},
		{"username_prefix=ali&limit=1", []string{"alice"}},
		{"username_prefix=Ali", []string{"Alina"}},
		{"username_prefix=", []string{"Alina", "alice", "alicia", "bob"}},
		{"username_prefix=zed", nil},
		{"username=alice", []string{"alice"}},
	} {
		if got := names(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("users?%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"username_prefix=a&limit=0", "username_prefix=a&limit=101", "username_prefix=a&limit=x"} {
		wantAdminError(t, "users?"+q, s.adminDo(t, http.MethodGet, "/admin/users?"+q, nil), http.StatusBadRequest, "limit")
	}
}
