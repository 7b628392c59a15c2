package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

const testAdminToken = "bench-admin-token-0123456789"

// syncBuffer is an io.Writer the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestServer starts a whole Latch on httptest over a fresh store (SQLite,
// or PostgreSQL when LATCH_TEST_DATABASE_URL is set), with cheap password
// hashes so that the password scenarios stay fast under -race.
func newTestServer(t testing.TB) *httptest.Server {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log (warnings and errors):\n%s", logs.String())
		}
	})
	store := sqlstoretest.New(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	srv := httptest.NewUnstartedServer(nil)
	p, err := oauth.NewProvider(oauth.Config{
		Issuer:          "http://" + srv.Listener.Addr().String(),
		Secret:          secret,
		AccessTokenTTL:  15 * time.Minute,
		RefreshTokenTTL: 720 * time.Hour,
		SessionMaxAge:   2160 * time.Hour,
		RefreshGrace:    10 * time.Second,
		Argon2:          oauth.Argon2Params{MemoryKiB: 256, Time: 1, Threads: 1},
		Logger:          logger,
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = handlers.New(logger, p, handlers.Options{AdminToken: testAdminToken})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func noEnv(string) string { return "" }

// TestEndToEnd runs every scenario for about a second at concurrency 4
// against a real Latch and expects requests and no errors, then checks that
// the tool deleted what it provisioned.
func TestEndToEnd(t *testing.T) {
	srv := newTestServer(t)
	settled := filepath.Join(t.TempDir(), "settled")
	var stdout, stderr bytes.Buffer
	args := []string{
		"--url", srv.URL, "--admin-token", testAdminToken,
		"--scenario", "all", "--duration", "1s", "--concurrency", "4",
		"--pool", "50", "--revoke-pool", "300", "--json",
		"--settle", "echo settled >> " + settled,
	}
	if err := run(t.Context(), args, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, stdout.String())
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Scenario)
		if r.Requests == 0 || r.RPS <= 0 || r.LatencyMS.P50 <= 0 || r.LatencyMS.Max < r.LatencyMS.P99 {
			t.Errorf("%s: no measurement: %+v", r.Scenario, r)
		}
		if r.Errors != 0 {
			t.Errorf("%s: %s", r.Scenario, errorSummary(r))
		}
		if r.Concurrency != 4 {
			t.Errorf("%s: concurrency %d, want 4", r.Scenario, r.Concurrency)
		}
		if r.Scenario == "mixed" {
			for _, op := range r.Ops {
				if op.Errors != 0 {
					t.Errorf("mixed/%s: %s", op.Scenario, errorSummary(op))
				}
			}
			// Any operation will do: on a busy machine a short run may
			// hold no password grant (4% of the mix).
			if !slices.ContainsFunc(r.Ops, func(op result) bool { return op.Requests > 0 }) {
				t.Errorf("mixed: no per-operation breakdown: %+v", r.Ops)
			}
		}
	}
	if b, err := os.ReadFile(settled); err != nil || strings.Count(string(b), "settled\n") != len(scenarioNames) {
		t.Errorf("--settle ran %q (%v), want once per scenario (%d)", b, err, len(scenarioNames))
	}
	if !slices.Equal(names, scenarioNames) {
		t.Errorf("scenarios run: %v, want %v", names, scenarioNames)
	}

	// The provisioned client is gone.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/admin/clients", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Items []struct {
			ClientID string `json:"client_id"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Items {
		if strings.HasPrefix(c.ClientID, "latch-bench-") {
			t.Errorf("client %s left behind", c.ClientID)
		}
	}
}

// TestTable checks the human output of a short real run.
func TestTable(t *testing.T) {
	srv := newTestServer(t)
	var stdout, stderr bytes.Buffer
	args := []string{"--url", srv.URL, "--scenario", "client_credentials,introspect", "--duration", "300ms", "--concurrency", "2", "--pool", "10"}
	getenv := func(k string) string {
		if k == "LATCH_ADMIN_TOKEN" {
			return testAdminToken
		}
		return ""
	}
	if err := run(t.Context(), args, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "scenario") ||
		!strings.HasPrefix(lines[1], "client_credentials ") || !strings.HasPrefix(lines[2], "introspect ") {
		t.Errorf("table:\n%s", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is no terminal, yet got %q", stderr.String())
	}
}

// TestFailsClearly checks the one-line errors for an unreachable server and
// refused provisioning.
func TestFailsClearly(t *testing.T) {
	srv := newTestServer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unreachable", []string{"--url", downURL, "--admin-token", "x"}, "cannot reach the server"},
		{"wrong admin token", []string{"--url", srv.URL, "--admin-token", "wrong"}, "answered 401"},
		{"no admin token", []string{"--url", srv.URL}, "--admin-token"},
		{"not loopback", []string{"--url", "http://192.0.2.1:8080", "--admin-token", "x"}, "not a loopback address"},
		{"unknown scenario", []string{"--url", srv.URL, "--admin-token", "x", "--scenario", "login"}, "unknown scenario"},
		{"negative rate", []string{"--url", srv.URL, "--admin-token", "x", "--rate", "-1"}, "--rate must be"},
		{"rate not a number", []string{"--url", srv.URL, "--admin-token", "x", "--rate", "NaN"}, "--rate must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(tc.args, "--scenario", "client_credentials", "--duration", "100ms")
			if slices.Contains(tc.args, "--scenario") {
				args = append(tc.args, "--duration", "100ms")
			}
			err := run(t.Context(), args, noEnv, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line containing %q", err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

// TestOpenLoop: with --rate, requests go out on the schedule whatever the
// answers' speed: 100/s for one second is exactly 100 requests, and the
// report carries the rate.
func TestOpenLoop(t *testing.T) {
	srv := newTestServer(t)
	var stdout, stderr bytes.Buffer
	args := []string{
		"--url", srv.URL, "--admin-token", testAdminToken,
		"--scenario", "client_credentials", "--duration", "1s", "--concurrency", "2", "--rate", "100", "--json",
	}
	if err := run(t.Context(), args, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if rep.Rate != 100 || len(rep.Results) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if r := rep.Results[0]; r.Requests != 100 || r.Errors != 0 {
		t.Errorf("%d requests with %d errors at 100/s for 1s, want 100 without errors", r.Requests, r.Errors)
	}
}
