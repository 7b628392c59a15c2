package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheckEnviron(t *testing.T) {
	t.Parallel()
	var every []string
	for _, name := range knownVariables() {
		every = append(every, name+"=x")
	}
	tests := []struct {
		name    string
		environ []string
		want    string // in the error; "" for none
	}{
		{"every setting and secret file", every, ""},
		{"other programs' variables", []string{"PATH=/bin", "HOME=/root", "GOMEMLIMIT=1GiB", "LATCHKEY=x"}, ""},
		{"the test suite's", []string{"LATCH_TEST_DATABASE_URL=postgres://x", "LATCH_TEST_BROWSER=required"}, ""},
		{"typo", []string{"LATCH_DATABSE_URL=sqlite:x.db"}, "unknown variable LATCH_DATABSE_URL (did you mean LATCH_DATABASE_URL?)"},
		{"typo of a secret file", []string{"LATCH_ADMIN_TOKEN_FIEL=/run/secrets/admin"}, "LATCH_ADMIN_TOKEN_FIEL (did you mean LATCH_ADMIN_TOKEN_FILE?)"},
		{"lower case", []string{"latch_access_token_ttl=5m"}, "latch_access_token_ttl (did you mean LATCH_ACCESS_TOKEN_TTL?)"},
		{"empty value", []string{"LATCH_ISUER="}, "LATCH_ISUER (did you mean LATCH_ISSUER?)"},
		{"nothing near", []string{"LATCH_FROBNICATE=1"}, "unknown variable LATCH_FROBNICATE: "},
		{"a file of no secret", []string{"LATCH_ADDR_FILE=/x"}, "unknown variable LATCH_ADDR_FILE: "},
		{"several, each named once", []string{"LATCH_QQ=1", "LATCH_ISUER=x", "LATCH_QQ=2"}, "unknown variable LATCH_ISUER (did you mean LATCH_ISSUER?), LATCH_QQ: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkEnviron(tc.environ)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkEnviron = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkEnviron = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// databaseCommands are command lines of every kind of command that opens
// the database, for the tests that each of them refuses something first.
var databaseCommands = [][]string{
	{"serve"},
	{"migrate"},
	{"janitor"},
	{"clients", "list"},
	{"clients", "create", "--grant-types", "client_credentials"},
	{"users", "create", "alice"},
	{"sessions", "list", "alice"},
	{"keys", "list"},
	{"keys", "rotate"},
}

// TestRunRefusesUnknownVariables checks that every command that reads
// settings stops on an unknown LATCH_* variable before it touches the
// database: a misspelt LATCH_DATABASE_URL must not have "users create"
// write to the default database.
func TestRunRefusesUnknownVariables(t *testing.T) {
	t.Parallel()
	for _, args := range databaseCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.env["LATCH_ADDR"] = "127.0.0.1:0" // should serve start after all
			c.env["LATCH_ADMIN_TOKN"] = "x"
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, _, err := c.run(ctx, "pw\n", args...)
			if err == nil || !strings.Contains(err.Error(), "LATCH_ADMIN_TOKN (did you mean LATCH_ADMIN_TOKEN?)") {
				t.Errorf("err = %v, want it to name LATCH_ADMIN_TOKN and LATCH_ADMIN_TOKEN", err)
			}
			if _, statErr := os.Stat(c.db); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("the refused command created the database: %v", statErr)
			}
		})
	}
	// Commands that read no settings run.
	c := newCLI(t)
	c.env["LATCH_ADMIN_TOKN"] = "x"
	c.mustRun("", "version")
	c.mustRun("", "help")
}
