package handlers_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/latchhq/latch/oauth"
)

// TestReuseDetectionModes: a spent refresh token presented after the grace
// window answers invalid_grant in both modes of LATCH_REUSE_DETECTION. With
// enforce the login ends; with report (shadow mode) it stays live and its
// newest refresh token goes on working. The reuse_detected event says which
// through the admin API ("enforced", on that event only), and
// latch_refresh_reuse_total counts it by mode.
func TestReuseDetectionModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode      string
		enforced  bool
		wantTypes []string
	}{
		{oauth.ReuseEnforce, true, []string{"issued", "refreshed", "reuse_detected", "family_revoked"}},
		{oauth.ReuseReport, false, []string{"issued", "refreshed", "reuse_detected", "refreshed"}},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, withGrace(0), withReuseDetection(tc.mode))
			app := s.newPasswordClient(t, "app", "client_secret_basic")
			uid := s.createUser(t, "alice", "pw-alice")
			first := s.login(t, app, "alice", "pw-alice", "")
			listSessions := func() []any {
				return asSlice(s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil).object(t)["items"])
			}
			sessions := listSessions()
			if len(sessions) != 1 {
				t.Fatalf("sessions after login: %v", sessions)
			}
			sid := str(sessions[0].(map[string]any)["id"])
			res := s.refresh(t, app, first.Refresh, "")
			if res.status != http.StatusOK {
				t.Fatalf("refresh: %s", res)
			}
			next := tokens{Access: str(res.object(t)["access_token"]), Refresh: str(res.object(t)["refresh_token"])}

			wantOAuthError(t, "reused refresh token", s.refresh(t, app, first.Refresh, ""), 400, "invalid_grant")

			sessions = listSessions()
			reuses := 1.0
			if tc.enforced {
				s.wantLoginDead(t, "after enforced reuse", app, next)
				if len(sessions) != 0 {
					t.Errorf("live sessions after enforced reuse: %v", sessions)
				}
			} else {
				s.wantActive(t, "newest access token after reported reuse", next.Access)
				if res := s.refresh(t, app, next.Refresh, ""); res.status != http.StatusOK {
					t.Errorf("newest refresh token after reported reuse: %s, want 200", res)
				}
				if len(sessions) != 1 {
					t.Errorf("sessions after reported reuse: %v, want the one login", sessions)
				}
				// The reused token stays refused, and is reuse again.
				wantOAuthError(t, "reused refresh token again", s.refresh(t, app, first.Refresh, ""), 400, "invalid_grant")
				tc.wantTypes = append(tc.wantTypes, "reuse_detected")
				reuses++
			}

			res = s.adminDo(t, http.MethodGet, "/admin/sessions/"+sid+"/events", nil)
			if res.status != http.StatusOK {
				t.Fatalf("events: %s", res)
			}
			var types []string
			for _, it := range asSlice(res.object(t)["items"]) {
				e, _ := it.(map[string]any)
				typ := str(e["type"])
				types = append(types, typ)
				enforced, has := e["enforced"]
				switch {
				case typ == "reuse_detected" && enforced != tc.enforced:
					t.Errorf("reuse_detected event has enforced = %v (present %v), want %v: %v", enforced, has, tc.enforced, e)
				case typ != "reuse_detected" && has:
					t.Errorf("%s event has enforced: %v", typ, e)
				}
			}
			if !slices.Equal(types, tc.wantTypes) {
				t.Errorf("events %v, want %v", types, tc.wantTypes)
			}

			other := oauth.ReuseReport
			if !tc.enforced {
				other = oauth.ReuseEnforce
			}
			if got, _ := s.metric(t, "latch_refresh_reuse_total", "mode", tc.mode); got != reuses {
				t.Errorf("latch_refresh_reuse_total{mode=%q} = %v, want %v", tc.mode, got, reuses)
			}
			if got, ok := s.metric(t, "latch_refresh_reuse_total", "mode", other); ok {
				t.Errorf("latch_refresh_reuse_total{mode=%q} = %v, want no series", other, got)
			}
		})
	}
}
