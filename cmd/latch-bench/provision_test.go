package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSetupWaitsOutBusy: a setup login answered 503 (the hashing pool full
// under a flood) is tried again, a bounded number of times; other errors
// are not retried.
func TestSetupWaitsOutBusy(t *testing.T) {
	tests := []struct {
		name      string
		busy      int // answers of 503 before a 200
		status    int // the answer after them
		wantCalls int64
		wantErr   string
	}{
		{"busy twice", 2, http.StatusOK, 3, ""},
		{"always busy", 1 << 30, http.StatusOK, setupTries, "answered 503 temporarily_unavailable"},
		{"refused", 0, http.StatusBadRequest, 1, "answered 400 invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch n := calls.Add(1); {
				case n <= int64(tc.busy):
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write([]byte(`{"error":"temporarily_unavailable"}`))
				case tc.status == http.StatusOK:
					w.Write([]byte(`{"access_token":"at","refresh_token":"rt"}`))
				default:
					w.WriteHeader(tc.status)
					w.Write([]byte(`{"error":"invalid_grant"}`))
				}
			}))
			defer srv.Close()
			b := &bench{cfg: &config{baseURL: srv.URL}, hc: srv.Client()}
			got, err := b.token(t.Context(), passwordForm(user{username: "u", password: "p"}))
			if calls.Load() != tc.wantCalls {
				t.Errorf("server saw %d requests, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil || got.RefreshToken != "rt" {
					t.Errorf("token = %+v, %v; want the refresh token", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
