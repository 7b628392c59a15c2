package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// eventList is the answer of GET /admin/events.
type eventList struct {
	Items []struct {
		Type      string    `json:"type"`
		SessionID string    `json:"session_id"`
		ClientID  string    `json:"client_id"`
		UserID    string    `json:"user_id"`
		CreatedAt time.Time `json:"created_at"`
		Enforced  *bool     `json:"enforced"`
	} `json:"items"`
	Next string `json:"next"`
}

func (s *testServer) searchEvents(t testing.TB, query string) eventList {
	t.Helper()
	res := s.adminDo(t, http.MethodGet, "/admin/events"+query, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /admin/events%s: %s", query, res)
	}
	var l eventList
	if err := json.Unmarshal(res.body, &l); err != nil || l.Items == nil {
		t.Fatalf("GET /admin/events%s: %v: %s", query, err, res)
	}
	return l
}

// TestSearchEvents: GET /admin/events lists the events of every login,
// newest first, each with its session_id; each filter narrows it, the
// limit cuts it, and next pages through it without gaps.
func TestSearchEvents(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := newTestServer(t, withClock(clk), withGrace(0))
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	alice := s.createUser(t, "alice", "pw-alice")
	bob := s.createUser(t, "bob", "pw-bob")

	clk.Advance(time.Second)
	a := s.login(t, app, "alice", "pw-alice", "")
	clk.Advance(time.Second)
	b := s.login(t, app, "bob", "pw-bob", "")
	clk.Advance(time.Second)
	if res := s.refresh(t, app, a.Refresh, ""); res.status != http.StatusOK {
		t.Fatalf("refresh: %s", res)
	}
	clk.Advance(time.Second)
	s.wantRefreshDead(t, "reuse", app, a.Refresh) // reuse_detected, family_revoked
	_ = b

	all := s.searchEvents(t, "")
	var types []string
	for i, e := range all.Items {
		types = append(types, e.Type)
		if e.SessionID == "" {
			t.Errorf("item %d (%s) has no session_id", i, e.Type)
		}
		if i > 0 && e.CreatedAt.After(all.Items[i-1].CreatedAt) {
			t.Errorf("item %d is newer than item %d: not newest first", i, i-1)
		}
	}
	if got, want := strings.Join(types, ","), "family_revoked,reuse_detected,refreshed,issued,issued"; got != want {
		t.Fatalf("types %s, want %s", got, want)
	}
	if all.Next != "" {
		t.Errorf("next = %q on a page that is not full", all.Next)
	}
	if e := all.Items[1]; e.Enforced == nil || !*e.Enforced || e.UserID != alice {
		t.Errorf("reuse_detected item = %+v, want enforced for alice", e)
	}

	for _, tc := range []struct {
		query string
		want  string
	}{
		{"?type=issued", "issued,issued"},
		{"?user_id=" + url.QueryEscape(bob), "issued"},
		{"?type=refreshed&user_id=" + url.QueryEscape(alice), "refreshed"},
		{"?type=refreshed&user_id=" + url.QueryEscape(bob), ""},
		{"?since=" + url.QueryEscape(all.Items[2].CreatedAt.Format(time.RFC3339Nano)), "family_revoked,reuse_detected,refreshed"},
		{"?since=" + url.QueryEscape(clk.Now().Add(time.Hour).Format(time.RFC3339)), ""},
		{"?type=no_such_type", ""},
		{"?limit=2", "family_revoked,reuse_detected"},
	} {
		l := s.searchEvents(t, tc.query)
		var got []string
		for _, e := range l.Items {
			got = append(got, e.Type)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: types %v, want %s", tc.query, got, tc.want)
		}
	}

	// Pages of two: the full ones name the next, and together they are
	// the whole list.
	var paged []string
	query := "?limit=2"
	for range 5 {
		l := s.searchEvents(t, query)
		for _, e := range l.Items {
			paged = append(paged, e.Type)
		}
		if l.Next == "" {
			break
		}
		query = "?limit=2&before=" + url.QueryEscape(l.Next)
	}
	if got, want := strings.Join(paged, ","), strings.Join(types, ","); got != want {
		t.Errorf("by pages: %s, want %s", got, want)
	}
}

// TestSearchEventsBadFilters: every malformed filter answers 400
// invalid_request naming the parameter, never a 500 or a silently wider
// answer.
func TestSearchEventsBadFilters(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, tc := range []struct {
		query string
		names string
	}{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=-5", "limit"},
		{"?limit=ten", "limit"},
		{"?limit=99999999999999999999", "limit"},
		{"?since=yesterday", "since"},
		{"?since=2026-12-08", "since"},
		{"?since=2026-12-08T25:00:00Z", "since"},
		{"?type=Refreshed", "type"},
		{"?type=" + strings.Repeat("a", 65), "type"},
		{"?type=%00", "type"},
		{"?user_id=%01", "user_id"},
		{"?user_id=%ff", "user_id"},
		{"?before=!!", "before"},
		{"?before=" + url.QueryEscape("bm90LmFfY3Vyc29y"), "before"},
		{"?user=alice", "unknown parameter"},
		{"?type=issued&type=refreshed", "more than once"},
		{"?limit=%zz", "malformed"},
	} {
		res := s.adminDo(t, http.MethodGet, "/admin/events"+tc.query, nil)
		wantOAuthError(t, tc.query, res, http.StatusBadRequest, "invalid_request")
		if desc := str(res.object(t)["error_description"]); !strings.Contains(desc, tc.names) {
			t.Errorf("%s: error_description %q does not name %q", tc.query, desc, tc.names)
		}
	}
	if res := s.adminDo(t, http.MethodGet, "/admin/events?limit=1000", nil); res.status != http.StatusOK {
		t.Errorf("limit=1000: %s, want 200", res)
	}
}
