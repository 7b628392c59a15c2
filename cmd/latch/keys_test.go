package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/oauth"
)

// TestRunKeys: "latch keys rotate" creates a signing key sealed under the
// server's secret (the one kept beside the SQLite file), "latch keys list"
// shows it; a second rotation retires the first, which stays published.
func TestRunKeys(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCH_ACCESS_TOKEN_TTL"] = "10m"

	c.mustRun("", "migrate") // keys list only reads
	if out := c.mustRun("", "keys", "list"); strings.TrimSpace(out) != "KID  ALG  CREATED  RETIRED  PUBLISH_UNTIL" {
		t.Errorf("keys list on a fresh database printed %q, want the header only", out)
	}
	out := c.mustRun("", "keys", "rotate")
	if !strings.Contains(out, "(ES256)") {
		t.Errorf("keys rotate printed %q", out)
	}
	firstKid := strings.Fields(strings.TrimPrefix(out, "new signing key "))[0]
	out = c.mustRun("", "keys", "rotate", "--algorithm", "RS256")
	if !strings.Contains(out, "(RS256)") || !strings.Contains(out, "11m0s") {
		t.Errorf("keys rotate --algorithm RS256 printed %q", out)
	}
	lines := strings.Split(strings.TrimSpace(c.mustRun("", "keys", "list")), "\n")
	if len(lines) != 3 {
		t.Fatalf("keys list printed %d lines, want a header and two keys:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	newest, first := strings.Fields(lines[1]), strings.Fields(lines[2])
	if newest[1] != "RS256" || newest[3] != "-" || newest[4] != "-" {
		t.Errorf("current key listed as %q", lines[1])
	}
	if first[0] != firstKid || first[1] != "ES256" || first[3] == "-" || first[4] == "-" {
		t.Errorf("retired key listed as %q", lines[2])
	}
	retired, err1 := time.Parse(time.RFC3339, first[3])
	until, err2 := time.Parse(time.RFC3339, first[4])
	if err1 != nil || err2 != nil || until.Sub(retired) != 11*time.Minute {
		t.Errorf("retired %s, published until %s: want access token TTL plus a minute", first[3], first[4])
	}

	err := c.mustFail("", "keys", "rotate", "--algorithm", "HS256")
	if !strings.Contains(err.Error(), "algorithm") {
		t.Errorf("keys rotate --algorithm HS256: err = %v", err)
	}
	if err := c.mustFail("", "keys"); !strings.Contains(err.Error(), "subcommand") {
		t.Errorf("keys without subcommand: %v", err)
	}
	if err := c.mustFail("", "keys", "burn"); !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("keys burn: %v", err)
	}

	// The server, with the secret kept beside the database, signs with the
	// key the CLI made.
	if _, err := os.Stat(c.db + ".secret"); err != nil {
		t.Fatalf("keys rotate kept no secret beside the database: %v", err)
	}
	p := newServerProvider(t, c, oauth.Config{AccessTokenFormat: oauth.FormatJWT})
	ctx := context.Background()
	if err := p.EnsureSigningKey(ctx); err != nil {
		t.Errorf("the server cannot use the CLI's key: %v", err)
	}
	if set, err := p.JWKS(ctx); err != nil || len(set.Keys) != 2 {
		t.Errorf("jwks: %v, %v", set, err)
	}
}
