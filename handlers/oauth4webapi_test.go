package handlers_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oauth4webapiDir holds the JS test run by TestDPoPWithOAuth4WebAPI, with
// its package.json and package-lock.json (npm ci installs the modules).
const oauth4webapiDir = "../clients/oauth4webapi"

// node finds node and the installed oauth4webapi module. Without either
// the test skips, unless LATCH_TEST_NODE=required (as .ci/run sets it,
// after npm ci), when it fails.
func node(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("node")
	missing := "node is not on PATH"
	if err == nil {
		if _, err = os.Stat(filepath.Join(oauth4webapiDir, "node_modules", "oauth4webapi", "package.json")); err == nil {
			return path
		}
		missing = "oauth4webapi is not installed (npm ci in clients/oauth4webapi)"
	}
	if os.Getenv("LATCH_TEST_NODE") == "required" {
		t.Fatalf("LATCH_TEST_NODE=required, but %s", missing)
	}
	t.Skipf("%s (LATCH_TEST_NODE=required makes this a failure)", missing)
	return ""
}

// TestDPoPWithOAuth4WebAPI runs clients/oauth4webapi/dpop.test.mjs, a
// client nobody here wrote (the npm package oauth4webapi), against a real
// Latch with JWT access tokens: the password grant with DPoP for a public
// client (ES256 and Ed25519 keys), cnf.jkt equal to the key's RFC 7638
// thumbprint, a refresh with another key and one without a proof refused,
// and a refresh with the same key accepted afterwards.
func TestDPoPWithOAuth4WebAPI(t *testing.T) {
	nodePath := node(t)
	t.Parallel()
	for _, nonce := range []string{"off", "on"} {
		t.Run("nonce "+nonce, func(t *testing.T) {
			t.Parallel()
			opts := []serverOption{withJWT("https://api.example")}
			if nonce == "on" {
				opts = append(opts, withDPoPNonce())
			}
			s := newTestServer(t, opts...)
			s.createUser(t, "alice", "pw-alice")
			s.createClient(t, map[string]any{
				"client_id": "spa", "grant_types": []string{"password", "refresh_token"}, "scope": "read",
				"token_endpoint_auth_method": "none",
			})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, nodePath, "dpop.test.mjs")
			cmd.Dir = oauth4webapiDir
			cmd.Env = append(os.Environ(),
				"LATCH_ISSUER="+s.URL, "LATCH_CLIENT_ID=spa", "LATCH_USERNAME=alice", "LATCH_PASSWORD=pw-alice",
				"LATCH_DPOP_NONCE="+nonce)
			out, err := cmd.CombinedOutput()
			t.Logf("node dpop.test.mjs:\n%s", out)
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			if !strings.Contains(string(out), "ok all") {
				t.Fatal(`the script did not print "ok all"`)
			}
		})
	}
}
