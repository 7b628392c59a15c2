// Package fastapi_test runs the FastAPI example (app.py) against a real
// Latch: Debian's /usr/bin/python3 with python3-fastapi, python3-jwt and
// python3-uvicorn.
package fastapi_test

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

const python = "/usr/bin/python3"

// needPython skips the test unless /usr/bin/python3 has the modules,
// or fails it when LATCH_TEST_PYTHON=required (as .ci/run sets it, after
// installing the Debian packages).
func needPython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import fastapi, jwt, uvicorn").CombinedOutput()
	if err == nil {
		return
	}
	msg := python + " lacks fastapi, jwt or uvicorn (apt-get install python3-fastapi python3-jwt python3-uvicorn): " + strings.TrimSpace(string(out))
	if os.Getenv("LATCH_TEST_PYTHON") == "required" {
		t.Fatal("LATCH_TEST_PYTHON=required, but " + msg)
	}
	t.Skip(msg + " (LATCH_TEST_PYTHON=required makes this a failure)")
}

// startLatch runs Latch with JWT access tokens and a 1s status list ttl on
// a fresh store (SQLite, or PostgreSQL with LATCH_TEST_DATABASE_URL), with
// the clients "app" (tokens for https://api.example) and "other" (for
// https://other.example); a client's secret is its id + "-secret".
func startLatch(t *testing.T) string {
	t.Helper()
	store := sqlstoretest.New(t)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	logger := slog.New(slog.DiscardHandler)
	srv := httptest.NewUnstartedServer(nil)
	p, err := oauth.NewProvider(oauth.Config{
		Issuer: "http://" + srv.Listener.Addr().String(), Secret: secret, AccessTokenFormat: oauth.FormatJWT,
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, SessionMaxAge: time.Hour,
		StatusListTTL: time.Second, Logger: logger,
		Argon2: oauth.Argon2Params{MemoryKiB: 256, Time: 1, Threads: 1},
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	for id, aud := range map[string]string{"app": "https://api.example", "other": "https://other.example"} {
		if _, _, err := p.CreateClient(t.Context(), oauth.ClientSpec{
			ID: id, Secret: id + "-secret", GrantTypes: []string{oauth.GrantClientCredentials}, Scope: "read", Audience: []string{aud},
		}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Config.Handler = handlers.New(logger, p, handlers.Options{})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// startAPI runs app.py under uvicorn on a loopback socket this test opens
// (uvicorn --fd), so no port is guessed, and returns its URL.
func startAPI(t *testing.T, issuer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the duplicate in f stays open for uvicorn
	cmd := exec.Command(python, "-m", "uvicorn", "app:app", "--app-dir", ".", "--fd", "3", "--log-level", "warning")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "LATCH_ISSUER="+issuer, "API_AUDIENCE=https://api.example", "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	api := "http://" + ln.Addr().String()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := get(t, api, ""); code == http.StatusUnauthorized {
			return api
		}
		if time.Now().After(deadline) {
			t.Fatal("uvicorn did not answer within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, api, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, api+"/whoami", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func token(t *testing.T, issuer, id string) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: id + "-secret", TokenURL: issuer + "/oauth2/token"}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestFastAPIExample: the example lets a valid token through, refuses a
// token of another audience, and refuses a revoked token once its status
// list has been refetched (ttl 1s; polled, no time asserted).
func TestFastAPIExample(t *testing.T) {
	needPython(t)
	issuer := startLatch(t)
	api := startAPI(t, issuer)

	valid, kept := token(t, issuer, "app"), token(t, issuer, "app")
	if code, body := get(t, api, valid); code != http.StatusOK || !strings.Contains(body, `"client_id":"app"`) {
		t.Fatalf("valid token: %d %s", code, body)
	}
	if code, body := get(t, api, token(t, issuer, "other")); code != http.StatusUnauthorized {
		t.Errorf("token of another audience: %d %s, want 401", code, body)
	}
	if code, body := get(t, api, valid[:len(valid)-4]+"AAAA"); code != http.StatusUnauthorized {
		t.Errorf("token with a broken signature: %d %s, want 401", code, body)
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {valid}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "app-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s", res.Status)
	}
	returned := time.Now()
	deadline := returned.Add(30 * time.Second)
	for {
		code, body := get(t, api, valid)
		if code == http.StatusUnauthorized {
			break
		}
		if code != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("revoked token: %d %s, want 401 within the list's ttl", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the example refused the revoked token %v after the revocation returned (ttl 1s)", time.Since(returned))
	if code, body := get(t, api, kept); code != http.StatusOK {
		t.Errorf("a token of another login after the revocation: %d %s", code, body)
	}
}
