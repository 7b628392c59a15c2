package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type raceResult struct {
	status int
	body   map[string]any
	err    error
}

// raceRefresh releases n goroutines together (a closed channel is the
// barrier), each presenting refreshToken once.
func raceRefresh(t *testing.T, s *testServer, c client, refreshToken string, n int) []raceResult {
	t.Helper()
	hc := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 2 * n, MaxIdleConnsPerHost: 2 * n, MaxConnsPerHost: 0},
		Timeout:   30 * time.Second,
	}
	defer hc.CloseIdleConnections()
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}.Encode()
	start := make(chan struct{})
	results := make([]raceResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
			<-start
			res, err := hc.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			results[i].status = res.StatusCode
			if err == nil {
				err = json.Unmarshal(b, &results[i].body)
			}
			results[i].err = err
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// TestConcurrentRefreshExactlyOneWins: without a grace window, of N
// simultaneous refreshes with one token exactly one rotates; every other is
// reuse, answered invalid_grant (never a 5xx or invalid_request), and the
// login ends.
func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(0))
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	for _, n := range []int{2, 8, 32} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			tok := s.login(t, app, "alice", "pw-alice", "")
			results := raceRefresh(t, s, app, tok.Refresh, n)
			var winner map[string]any
			wins := 0
			for i, r := range results {
				switch {
				case r.err != nil:
					t.Errorf("request %d: %v", i, r.err)
				case r.status == http.StatusOK:
					wins++
					winner = r.body
				case r.status >= 500:
					t.Errorf("request %d: %d %v", i, r.status, r.body)
				case r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant":
					t.Errorf("request %d: %d %v, want 400 invalid_grant", i, r.status, r.body)
				}
			}
			if wins != 1 {
				t.Fatalf("%d of %d refreshes won, want exactly 1", wins, n)
			}
			// The losers were reuse: the login is over, winner included.
			s.wantLoginDead(t, "winner's tokens after reuse", app, tokens{Access: str(winner["access_token"]), Refresh: str(winner["refresh_token"])})
		})
	}
}

// TestConcurrentRefreshWithinGrace: within LATCH_REFRESH_GRACE, parallel
// refreshes with one token from its client all get the one rotation's
// response and the login lives on (API.md).
func TestConcurrentRefreshWithinGrace(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withGrace(10*time.Second))
	s.createUser(t, "alice", "pw-alice")
	app := s.newPasswordClient(t, "app", "client_secret_basic")
	tok := s.login(t, app, "alice", "pw-alice", "")
	results := raceRefresh(t, s, app, tok.Refresh, 8)
	var access, refresh string
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Errorf("request %d: %d %v %v, want 200", i, r.status, r.body, r.err)
			continue
		}
		if access == "" {
			access, refresh = str(r.body["access_token"]), str(r.body["refresh_token"])
		} else if str(r.body["access_token"]) != access || str(r.body["refresh_token"]) != refresh {
			t.Errorf("request %d got another rotation's tokens", i)
		}
	}
	if refresh != "" {
		s.wantActive(t, "rotated refresh token", refresh)
	}
}
