package handlers

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchhq/latch/oauth"
)

// The admin endpoints the operator console needs beyond API.md's list:
// GET /admin/stats, POST /admin/clients/{id}/secret and the username_prefix
// search of GET /admin/users. The README documents them.

type statsBucketJSON struct {
	Start           time.Time `json:"start"`
	Logins          int64     `json:"logins"`
	Refreshes       int64     `json:"refreshes"`
	RefusedLogins   int64     `json:"refused_logins"`
	ReuseDetections int64     `json:"reuse_detections"`
	Revocations     int64     `json:"revocations"`
	Signals         int64     `json:"signals"`
}

type failureJSON struct {
	Type   string `json:"type"`
	Reason string `json:"reason,omitempty"`
	Count  int64  `json:"count"`
}

type statsJSON struct {
	Window     string            `json:"window"`
	Step       string            `json:"step"`
	Since      time.Time         `json:"since"`
	Until      time.Time         `json:"until"`
	Buckets    []statsBucketJSON `json:"buckets"`
	LiveLogins int64             `json:"live_logins"`
	LastHour   statsBucketJSON   `json:"last_hour"`
	Failures   []failureJSON     `json:"failures_last_hour"`
}

func toBucketJSON(b oauth.StatsBucket) statsBucketJSON {
	return statsBucketJSON{
		Start: b.Start, Logins: b.Logins, Refreshes: b.Refreshes, RefusedLogins: b.RefusedLogins,
		ReuseDetections: b.ReuseDetections, Revocations: b.Revocations, Signals: b.Signals,
	}
}

// handleStats serves GET /admin/stats?window=24h&step=5m: the audit events
// of the window counted in SQL per step, and the live counts. Both
// parameters are Go durations; window defaults to 24h and step to 5m.
func handleStats(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		window, ok := durationParam(w, q.Get("window"), "window", 24*time.Hour)
		if !ok {
			return
		}
		step, ok := durationParam(w, q.Get("step"), "step", 5*time.Minute)
		if !ok {
			return
		}
		st, err := p.Stats(r.Context(), window, step)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := statsJSON{
			Window: q.Get("window"), Step: q.Get("step"), Since: st.Since, Until: st.Until,
			Buckets: make([]statsBucketJSON, len(st.Buckets)), LiveLogins: st.LiveLogins,
			LastHour: toBucketJSON(st.LastHour), Failures: []failureJSON{},
		}
		if out.Window == "" {
			out.Window = "24h"
		}
		if out.Step == "" {
			out.Step = "5m"
		}
		for i, b := range st.Buckets {
			out.Buckets[i] = toBucketJSON(b)
		}
		for _, f := range st.Failures {
			out.Failures = append(out.Failures, failureJSON{Type: f.Type, Reason: f.Reason, Count: f.Count})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// durationParam parses a query parameter that is a Go duration, answering
// 400 when it is not one.
func durationParam(w http.ResponseWriter, raw, name string, def time.Duration) (time.Duration, bool) {
	if raw == "" {
		return def, true
	}
	d, err := time.ParseDuration(raw)
	if err != nil || len(raw) > 32 {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", name+": must be a duration such as 24h or 5m")
		return 0, false
	}
	return d, true
}

// handleRotateClientSecret serves POST /admin/clients/{id}/secret: a new
// generated secret, shown this once; the old one is refused at once.
func handleRotateClientSecret(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		secret, err := p.RotateClientSecret(r.Context(), id)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, struct {
			ClientID              string `json:"client_id"`
			ClientSecret          string `json:"client_secret"`
			ClientSecretExpiresAt int64  `json:"client_secret_expires_at"`
		}{id, secret, 0})
	})
}

// handleSearchUsers serves GET /admin/users?username_prefix=P&limit=N: the
// users whose username starts with P (case-sensitive), ordered by
// username, at most N (default 20, at most oauth.MaxUserSearch).
func handleSearchUsers(logger *slog.Logger, p *oauth.Provider, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 20
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "limit: must be a whole number")
			return
		}
		limit = n
	}
	users, err := p.SearchUsers(r.Context(), q.Get("username_prefix"), limit)
	if err != nil {
		writeAdminError(w, r, logger, err)
		return
	}
	out := list[userJSON]{Items: []userJSON{}}
	for i := range users {
		out.Items = append(out.Items, toUserJSON(&users[i]))
	}
	writeJSON(w, http.StatusOK, out)
}
