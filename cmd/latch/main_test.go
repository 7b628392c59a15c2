package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cli runs the whole program through run, with its own environment and
// a fresh SQLite database in a temporary directory.
type cli struct {
	t   testing.TB
	db  string // path of the SQLite file
	env map[string]string
}

// newCLI returns a cli whose LATCH_DATABASE_URL names a SQLite file in
// t.TempDir(). Even when LATCH_TEST_DATABASE_URL is set, the CLI tests stay
// on SQLite: they test the command line, not the backend.
func newCLI(t testing.TB) *cli {
	t.Helper()
	db := filepath.Join(t.TempDir(), "latch.db")
	return &cli{t: t, db: db, env: map[string]string{"LATCH_DATABASE_URL": "sqlite:" + db}}
}

// run runs "latch args..." with stdin as standard input.
func (c *cli) run(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	err = run(ctx, args, c.getenv(), environFunc(c.env), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// getenv reads c.env, and fails the test when the program asks for a
// LATCH_* variable that is not in settings: checkEnviron would refuse it.
func (c *cli) getenv() func(string) string {
	known := knownVariables()
	return func(k string) string {
		if strings.HasPrefix(k, "LATCH_") && !slices.Contains(known, k) {
			c.t.Errorf("the program reads %s, which is not in settings; add it there", k)
		}
		return c.env[k]
	}
}

// mustRun runs "latch args..." and fails the test if it returns an error.
func (c *cli) mustRun(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(context.Background(), stdin, args...)
	if err != nil {
		c.t.Fatalf("latch %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// mustFail runs "latch args..." and returns its error, failing the test if
// there is none. Every error must be one line: main prints it as is.
func (c *cli) mustFail(stdin string, args ...string) error {
	c.t.Helper()
	out, _, err := c.run(context.Background(), stdin, args...)
	if err == nil {
		c.t.Fatalf("latch %s succeeded, want an error; stdout:\n%s", strings.Join(args, " "), out)
	}
	if strings.Contains(err.Error(), "\n") {
		c.t.Errorf("latch %s: error is not one line: %q", strings.Join(args, " "), err)
	}
	return err
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	if out := c.mustRun("", "version"); out != "latch "+latchVersion()+"\n" {
		t.Errorf("version printed %q", out)
	}
}

func TestVersionOf(t *testing.T) {
	t.Parallel()
	vcs := func(mainVersion, revision, modified string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/latchhq/latch", Version: mainVersion}}
		if revision != "" {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: "vcs", Value: "git"},
				debug.BuildSetting{Key: "vcs.revision", Value: revision})
		}
		if modified != "" {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: "vcs.modified", Value: modified})
		}
		return info
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		set  string // -X main.version
		info *debug.BuildInfo
		want string
	}{
		{"set at build time", "v1.4.0-3-gabcdef0-dirty", vcs("v1.2.3", rev, "true"), "v1.4.0-3-gabcdef0-dirty"},
		{"no build info", "", nil, "dev"},
		{"go install of a release", "", vcs("v1.2.3", "", ""), "v1.2.3"},
		{"clean checkout", "", vcs("(devel)", rev, "false"), "0123456789ab"},
		{"checkout with changes", "", vcs("(devel)", rev, "true"), "0123456789ab-dirty"},
		{"go run or -buildvcs=false", "", vcs("(devel)", "", ""), "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := versionOf(tc.set, tc.info); got != tc.want {
				t.Errorf("versionOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no command", nil, "command is required"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"group without subcommand", []string{"clients"}, "needs a subcommand"},
		{"unknown subcommand", []string{"clients", "frobnicate"}, `unknown command "clients frobnicate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			out, errOut, err := c.run(t.Context(), "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if !strings.Contains(errOut, "usage:") {
				t.Errorf("stderr has no usage:\n%s", errOut)
			}
			if _, statErr := os.Stat(c.db); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("a failed command created the database: %v", statErr)
			}
		})
	}
}

// TestRunMigrate checks that migrate says what it did: from which schema
// version to which, and on a second run that there was nothing to do.
func TestRunMigrate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.mustRun("", "migrate")
	m := regexp.MustCompile(`^latch: migrated the database from schema version 0 to ([1-9][0-9]*)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("first migrate printed %q", out)
	}
	if out := c.mustRun("", "migrate"); out != "latch: database is up to date (schema version "+m[1]+")\n" {
		t.Errorf("second migrate printed %q", out)
	}
}

// TestRunReadOnlyCommandsDoNotMigrate checks that the commands that only
// read ask for "latch migrate" instead of migrating: they create no
// database where there is none, and leave an empty one empty.
func TestRunReadOnlyCommandsDoNotMigrate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	commands := [][]string{{"clients", "list"}, {"sessions", "list", "alice"}, {"keys", "list"}}
	for _, args := range commands {
		err := c.mustFail("", args...)
		if !strings.Contains(err.Error(), "no database at "+c.db+"; run latch migrate") {
			t.Errorf("latch %s without a database: err = %v, want no database ...; run latch migrate", strings.Join(args, " "), err)
		}
		if _, err := os.Stat(c.db); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("latch %s created the database: %v", strings.Join(args, " "), err)
		}
	}

	// An empty file is an empty SQLite database.
	if err := os.WriteFile(c.db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range commands {
		err := c.mustFail("", args...)
		if !strings.Contains(err.Error(), "has no schema yet") || !strings.HasSuffix(err.Error(), "; run latch migrate") {
			t.Errorf("latch %s on an empty database: err = %v, want no schema yet ...; run latch migrate", strings.Join(args, " "), err)
		}
	}
	if tables := mustQueryTables(t, c.db); len(tables) > 0 {
		t.Errorf("read-only commands created tables %v", tables)
	}

	c.mustRun("", "migrate")
	c.mustRun("", "clients", "list")
	c.mustRun("", "keys", "list")
}

// TestRunRefusesNewerSchema checks that every command that opens the
// database, serve included, refuses one that a later latch migrated, and
// changes nothing in it.
func TestRunRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCH_ADDR"] = "127.0.0.1:0"
	c.mustRun("", "migrate")
	db := mustOpenSQLite(t, c.db)
	if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, 1)"); err != nil {
		t.Fatal(err)
	}
	before := mustQueryTables(t, c.db)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, args := range databaseCommands {
		_, _, err := c.run(ctx, "pw\n", args...)
		if err == nil || !strings.Contains(err.Error(), "database schema version 999 is newer than this latch (") || !strings.HasSuffix(err.Error(), "); upgrade latch") {
			t.Errorf("latch %s: err = %v, want database schema version 999 is newer than this latch (N); upgrade latch", strings.Join(args, " "), err)
		}
	}
	if after := mustQueryTables(t, c.db); !slices.Equal(after, before) {
		t.Errorf("tables changed from %v to %v", before, after)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM clients").Scan(&n); err != nil || n != 0 {
		t.Errorf("clients: %d, %v; want none", n, err)
	}
}

// mustOpenSQLite opens the SQLite file at path with database/sql, beside
// the program's own connections.
func mustOpenSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path) // registered by glebarez/go-sqlite, under sqlstore
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustQueryTables returns the names of the tables in the SQLite file at
// path, sorted.
func mustQueryTables(t *testing.T, path string) []string {
	t.Helper()
	rows, err := mustOpenSQLite(t, path).Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

var (
	clientIDLine     = regexp.MustCompile(`(?m)^client_id:\s+(\S+)$`)
	clientSecretLine = regexp.MustCompile(`(?m)^client_secret:\s+(\S+)$`)
	userIDLine       = regexp.MustCompile(`\(id (\S+)\)`)
)

func TestRunClients(t *testing.T) {
	t.Parallel()
	c := newCLI(t)

	out := c.mustRun("", "clients", "create", "--id", "app", "--grant-types", "password,refresh_token", "--scope", "read write")
	if m := clientIDLine.FindStringSubmatch(out); m == nil || m[1] != "app" {
		t.Errorf("clients create: no client_id app in\n%s", out)
	}
	m := clientSecretLine.FindStringSubmatch(out)
	if m == nil || len(m[1]) < 32 {
		t.Fatalf("clients create: no generated client_secret in\n%s", out)
	}
	secret := m[1]

	err := c.mustFail("", "clients", "create", "--id", "app", "--grant-types", "password")
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate client: err = %v, want already exists", err)
	}

	err = c.mustFail("", "clients", "create", "--id", "spa", "--auth-method", "none", "--grant-types", "client_credentials")
	if !strings.Contains(err.Error(), "grant_types") {
		t.Errorf("public client with client_credentials: err = %v, want it to name grant_types", err)
	}
	err = c.mustFail("", "clients", "create", "--id", "x", "--grant-types", "implicit")
	if !strings.Contains(err.Error(), "grant_types") {
		t.Errorf("unknown grant type: err = %v, want it to name grant_types", err)
	}
	err = c.mustFail("", "clients", "create", "--id", "x")
	if !strings.Contains(err.Error(), "grant_types") {
		t.Errorf("no grant types: err = %v, want it to name grant_types", err)
	}

	out = c.mustRun("", "clients", "create", "--id", "spa", "--auth-method", "none", "--grant-types", "password,refresh_token", "--dpop-bound-access-tokens")
	if strings.Contains(out, "client_secret") {
		t.Errorf("a public client got a secret:\n%s", out)
	}

	list := c.mustRun("", "clients", "list")
	for _, want := range []string{"CLIENT_ID", "app", "password,refresh_token", "read write", "spa", "none", "DPOP"} {
		if !strings.Contains(list, want) {
			t.Errorf("clients list lacks %q:\n%s", want, list)
		}
	}
	// Only spa must send DPoP proofs: DPOP, the column before CREATED,
	// says true on its row alone.
	rows := 0
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "app" && f[0] != "spa") {
			continue
		}
		rows++
		if got := f[len(f)-2]; got != strconv.FormatBool(f[0] == "spa") {
			t.Errorf("clients list, DPOP of %s: %q", f[0], got)
		}
	}
	if rows != 2 {
		t.Errorf("clients list: %d rows of app and spa:\n%s", rows, list)
	}
	if strings.Contains(list, secret) {
		t.Errorf("clients list shows the secret:\n%s", list)
	}

	if out := c.mustRun("", "clients", "delete", "app"); !strings.Contains(out, "deleted client app") {
		t.Errorf("clients delete printed %q", out)
	}
	err = c.mustFail("", "clients", "delete", "app")
	if !strings.Contains(err.Error(), "not found") {
		t.Errorf("second delete: err = %v, want not found", err)
	}
	if list := c.mustRun("", "clients", "list"); strings.Contains(list, "app ") {
		t.Errorf("deleted client still listed:\n%s", list)
	}
	err = c.mustFail("", "clients", "delete")
	if !strings.Contains(err.Error(), "CLIENT_ID") {
		t.Errorf("delete without id: err = %v, want it to ask for CLIENT_ID", err)
	}
}

func TestRunUsers(t *testing.T) {
	t.Parallel()
	c := newCLI(t)

	out := c.mustRun("correct horse battery staple\n", "users", "create", "alice")
	m := userIDLine.FindStringSubmatch(out)
	if !strings.Contains(out, "created user alice") || m == nil {
		t.Fatalf("users create printed %q", out)
	}
	id := m[1]

	err := c.mustFail("another password\n", "users", "create", "alice")
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate user: err = %v, want already exists", err)
	}
	for _, stdin := range []string{"", "\n"} {
		err = c.mustFail(stdin, "users", "create", "bob")
		if !strings.Contains(err.Error(), "standard input") {
			t.Errorf("users create with stdin %q: err = %v, want it to name standard input", stdin, err)
		}
	}
	err = c.mustFail("pw\n", "users", "create")
	if !strings.Contains(err.Error(), "USERNAME") {
		t.Errorf("users create without a name: err = %v", err)
	}

	// A user is named by username or by id.
	for _, ref := range []string{"alice", id} {
		if out := c.mustRun("new password "+ref+"\n", "users", "passwd", ref); !strings.Contains(out, "password of alice changed") {
			t.Errorf("users passwd %s printed %q", ref, out)
		}
	}
	if err := c.mustFail("", "users", "passwd", "alice"); !strings.Contains(err.Error(), "standard input") {
		t.Errorf("users passwd with empty stdin: err = %v", err)
	}

	if out := c.mustRun("", "users", "disable", "alice"); !strings.Contains(out, "disabled alice") {
		t.Errorf("users disable printed %q", out)
	}
	if out := c.mustRun("", "users", "delete", id); !strings.Contains(out, "deleted alice") {
		t.Errorf("users delete printed %q", out)
	}

	for _, args := range [][]string{
		{"users", "passwd", "alice"},
		{"users", "disable", "alice"},
		{"users", "delete", "alice"},
		{"sessions", "list", "alice"},
		{"sessions", "revoke", "--user", "alice"},
	} {
		err := c.mustFail("pw\n", args...)
		if !strings.Contains(err.Error(), `"alice"`) {
			t.Errorf("latch %s for a deleted user: err = %v, want it to name the user", strings.Join(args, " "), err)
		}
	}
}

// TestReadPassword checks how users create and users passwd read a
// password: the first line of a pipe, or, at a terminal, after a prompt on
// stderr and without echo.
func TestReadPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"pipe", "correct horse\nsecond line\n", "correct horse"},
		{"pipe without newline", "pw", "pw"},
		{"pipe with CRLF", "pw\r\n", "pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			got, err := readPassword(t.Context(), strings.NewReader(tc.in), &stderr)
			if err != nil || got != tc.want {
				t.Errorf("readPassword(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("a pipe got a prompt: %q", stderr.String())
			}
		})
	}

	// promptTTY runs readPassword on a fresh terminal and returns once the
	// prompt is out and the echo is off (ReadPassword turns it off just
	// after the prompt).
	promptTTY := func(t *testing.T, ctx context.Context) (master, tty *os.File, stderr *syncBuffer, result <-chan string, errc <-chan error) {
		t.Helper()
		master, tty = newPTY(t)
		stderr = new(syncBuffer)
		res, ec := make(chan string, 1), make(chan error, 1)
		go func() {
			pw, err := readPassword(ctx, tty, stderr)
			res <- pw
			ec <- err
		}()
		deadline := time.Now().Add(10 * time.Second)
		for stderr.String() != "Password: " || ttyEchoes(t, tty) {
			if time.Now().After(deadline) {
				t.Fatalf("within 10s, no prompt on stderr (%q) or the echo still on", stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return master, tty, stderr, res, ec
	}

	t.Run("terminal", func(t *testing.T) {
		t.Parallel()
		master, tty, stderr, result, errc := promptTTY(t, t.Context())
		if _, err := master.WriteString("s3cret pw\n"); err != nil {
			t.Fatal(err)
		}
		if got, err := <-result, <-errc; err != nil || got != "s3cret pw" {
			t.Errorf("readPassword = %q, %v; want %q", got, err, "s3cret pw")
		}
		if stderr.String() != "Password: \n" {
			t.Errorf("stderr = %q, want the prompt and a newline", stderr.String())
		}
		if !ttyEchoes(t, tty) {
			t.Error("the echo is still off after the password was read")
		}
		// Nothing typed came back to the screen.
		if err := master.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		screen, _ := io.ReadAll(master)
		if strings.Contains(string(screen), "s3cret") {
			t.Errorf("the password was echoed: %q", screen)
		}
	})

	t.Run("terminal, interrupted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		master, tty, _, _, errc := promptTTY(t, ctx)
		cancel() // Ctrl-C
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("readPassword did not return within 10s of the interrupt")
		}
		if !ttyEchoes(t, tty) {
			t.Error("the echo is still off after the interrupt")
		}

		// The abandoned read still holds tty's descriptor number (a
		// process exits at this point). Were tty closed under it, the
		// number could go to another test's terminal, whose echo the read
		// would set when it ends. So end it first: with the echo off, a
		// line makes it return and restore the echo, which tells that it
		// is done.
		setEcho(t, tty, false)
		if _, err := master.WriteString("\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !ttyEchoes(t, tty) {
			if time.Now().After(deadline) {
				t.Fatal("the abandoned read did not end within 10s of a line")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestRunSessions(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.mustRun("pw\n", "users", "create", "alice")

	out := c.mustRun("", "sessions", "list", "alice")
	if !strings.HasPrefix(out, "SESSION_ID") || strings.Count(out, "\n") != 1 {
		t.Errorf("sessions list of a user without logins printed %q, want the header only", out)
	}
	if out := c.mustRun("", "sessions", "revoke", "--user", "alice"); !strings.Contains(out, "ended every login of alice") {
		t.Errorf("sessions revoke --user printed %q", out)
	}
	err := c.mustFail("", "sessions", "revoke", "NOSUCH")
	if !strings.Contains(err.Error(), "not found") {
		t.Errorf("sessions revoke NOSUCH: err = %v, want not found", err)
	}
	err = c.mustFail("", "sessions", "revoke")
	if !strings.Contains(err.Error(), "SESSION_ID") {
		t.Errorf("sessions revoke without argument: err = %v", err)
	}
}

// TestRunOperatorCommandsSkipServeSettings checks that the operator
// commands run with the settings of a public server, as in the Docker image
// (LATCH_ADDR=0.0.0.0:8080, no https issuer), and with an admin token they
// never use; serve alone refuses them.
func TestRunOperatorCommandsSkipServeSettings(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCH_ADDR"] = "0.0.0.0:8080"
	c.env["LATCH_ADMIN_TOKEN_FILE"] = filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"migrate"},
		{"janitor"},
		{"clients", "list"},
		{"users", "create", "alice"},
		{"sessions", "list", "alice"},
		{"keys", "list"},
	} {
		c.mustRun("pw\n", args...)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, _, err := c.run(ctx, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "must be https") {
		t.Errorf("serve on 0.0.0.0 with an http issuer: err = %v, want must be https", err)
	}
	c.env["LATCH_ADDR"] = "127.0.0.1:0"
	_, _, err = c.run(ctx, "", "serve")
	if err == nil || !strings.Contains(err.Error(), "LATCH_ADMIN_TOKEN_FILE") {
		t.Errorf("serve with a missing admin token file: err = %v", err)
	}
}

// TestRunFlagErrors checks that wrong flags and arguments are refused with
// one line that says what is wrong, before the database is touched.
func TestRunFlagErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		// Go's flag package stops at the first positional argument, so a
		// flag after it would be silently taken as an argument.
		{"flag after positional", []string{"sessions", "revoke", "NOSUCH", "--user", "alice"}, "--user comes after an argument; flags go before arguments"},
		{"flag after username", []string{"users", "create", "alice", "--addr", "127.0.0.1:1"}, "--addr comes after an argument"},
		{"flag after client id", []string{"clients", "delete", "app", "--database-url", "sqlite:other.db"}, "latch clients delete: --database-url comes after an argument"},
		{"positional to clients create", []string{"clients", "create", "app", "--grant-types", "password"}, "--grant-types comes after an argument"},
		{"two client ids", []string{"clients", "delete", "a", "b"}, "expected CLIENT_ID"},
		{"argument to clients list", []string{"clients", "list", "extra"}, "latch clients list: expected no arguments"},
		{"argument to migrate", []string{"migrate", "extra"}, "latch migrate: expected no arguments"},
		{"argument to janitor", []string{"janitor", "extra"}, "latch janitor: expected no arguments"},
		{"argument to serve", []string{"serve", "extra"}, "latch serve: expected no arguments"},
		{"argument to version", []string{"version", "extra"}, "latch version: expected no arguments"},
		{"flag to version", []string{"version", "-h"}, "latch version: expected no arguments"},
		{"argument to keys list", []string{"keys", "list", "extra"}, "latch keys list: expected no positional arguments"},
		{"two files to import", []string{"users", "import", "a", "b"}, "at most one FILE"},
		{"unknown flag", []string{"clients", "list", "--bogus"}, "not defined: -bogus"},
		// Each command takes the flags of the settings it uses, no others.
		{"serve flag to clients list", []string{"clients", "list", "--addr", "127.0.0.1:1"}, "latch clients list: --addr is not a flag of this command, only of latch serve (LATCH_ADDR)"},
		{"serve flag to migrate", []string{"migrate", "-issuer=https://auth.example.com"}, "latch migrate: --issuer is not a flag of this command, only of latch serve (LATCH_ISSUER)"},
		{"serve flag after a command flag", []string{"clients", "create", "--id", "app", "--login-lockout", "1m"}, "--login-lockout is not a flag of this command"},
		{"flag of two commands", []string{"users", "create", "--access-token-ttl", "1h", "alice"}, "only of latch serve and latch keys rotate (LATCH_ACCESS_TOKEN_TTL)"},
		{"janitor's flag to keys list", []string{"keys", "list", "--refresh-grace", "0s"}, "only of latch serve and latch janitor"},
		{"unknown serve flag", []string{"serve", "--bogus"}, "not defined: -bogus"},
		{"unknown migrate flag", []string{"migrate", "--bogus"}, "not defined: -bogus"},
		{"bad duration", []string{"serve", "--access-token-ttl", "forever"}, "--access-token-ttl"},
		{"secret as a flag", []string{"serve", "--secret", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}, "--secret is not a flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.env["LATCH_ADDR"] = "127.0.0.1:0" // should serve start after all
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			_, _, err := c.run(ctx, "pw\n", tc.args...)
			if err == nil {
				t.Fatalf("latch %s succeeded, want an error", strings.Join(tc.args, " "))
			}
			if errors.Is(err, flag.ErrHelp) {
				t.Errorf("err = %v, want a flag error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			if _, statErr := os.Stat(c.db); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("a refused command created the database: %v", statErr)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	if out := c.mustRun("", "help"); !strings.Contains(out, "latch serve") {
		t.Errorf("help printed %q", out)
	}
	_, errOut, err := c.run(t.Context(), "", "clients", "create", "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("clients create -h: err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-grant-types", "-scope", "LATCH_DATABASE_URL"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("clients create -h lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "-secret") || strings.Contains(errOut, "-admin-token") {
		t.Errorf("a secret is offered as a flag:\n%s", errOut)
	}
	if strings.Contains(errOut, "-addr") || strings.Contains(errOut, "-access-token-ttl") {
		t.Errorf("clients create -h offers serve's flags:\n%s", errOut)
	}

	// Every command is in the usage.
	for _, cmd := range commands {
		if !strings.Contains(usage, "latch "+cmd.name+" ") && !strings.Contains(usage, "latch "+cmd.name+"\n") {
			t.Errorf("usage lacks latch %s", cmd.name)
		}
	}
}

// TestRunCommandFlags: each command takes as flags the settings it uses:
// every one the database and the log format, janitor the grace, keys
// rotate the access token lifetime.
func TestRunCommandFlags(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.mustRun("", "migrate", "--database-url", "sqlite:"+c.db, "--log-format", "json")
	c.mustRun("", "janitor", "--refresh-grace", "0s")
	if out := c.mustRun("", "keys", "rotate", "--access-token-ttl", "1h"); !strings.Contains(out, "published for 1h1m0s") {
		t.Errorf("keys rotate --access-token-ttl 1h printed %q", out)
	}
}

// TestRunServePostgresNeedsSecret checks that serve refuses PostgreSQL
// without LATCH_SECRET: every node must share one key, so none may be
// generated. The database is unreachable, so the test never serves.
func TestRunServePostgresNeedsSecret(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := c.run(ctx, "", "serve", "--addr", "127.0.0.1:0",
		"--database-url", "postgres://latch:hunter2@127.0.0.1:1/latch?connect_timeout=2&sslmode=disable")
	if err == nil {
		t.Fatal("serve succeeded")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("serve took %v to fail", d)
	}
	if !strings.Contains(err.Error(), "LATCH_SECRET") {
		t.Errorf("err = %v, want it to ask for LATCH_SECRET", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err leaks the database password: %v", err)
	}
}

// TestRunDatabaseErrors checks that a database that cannot be opened stops
// a command quickly, with a message that names the problem but not the
// password in the URL, wherever the URL holds it.
func TestRunDatabaseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		url  string // LATCH_DATABASE_URL
		want string // in the error
	}{
		{"unreachable, password in user info", []string{"serve"}, "postgres://postgres:hunter2@127.0.0.1:1/x?connect_timeout=2", "failed to connect"},
		{"unreachable, password parameter", []string{"serve"}, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2&password=hunter2", "failed to connect"},
		// pgx quotes the URL it cannot parse, and masks only a
		// password in the user info.
		{"bad sslmode, password parameter", []string{"migrate"}, "postgres://u@127.0.0.1:1/x?password=hunter2&sslmode=bogus", "sslmode is invalid"},
		{"bad sslmode, password in user info", []string{"clients", "list"}, "postgres://u:hunter2@127.0.0.1:1/x?sslmode=bogus", "sslmode is invalid"},
		{"bad sslmode, sslpassword", []string{"migrate"}, "postgres://u@127.0.0.1:1/x?sslpassword=hunter2&sslmode=bogus", "sslmode is invalid"},
		// SQLite itself says "out of memory (14)".
		{"missing directory", []string{"clients", "list"}, "sqlite:/nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"},
		{"missing directory, serve", []string{"serve"}, "sqlite:/nonexistent/dir/x.db", "directory /nonexistent/dir does not exist"},
		{"file for a directory", []string{"migrate"}, "sqlite:" + os.DevNull + "/x.db", os.DevNull + " is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.env["LATCH_DATABASE_URL"] = tc.url
			c.env["LATCH_SECRET"] = strings.Repeat("ab", 32)
			c.env["LATCH_ADDR"] = "127.0.0.1:0"
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			out, errOut, err := c.run(ctx, "", tc.args...)
			if err == nil {
				t.Fatalf("latch %s succeeded", strings.Join(tc.args, " "))
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v to fail", d)
			}
			// pgx lists one line per connection attempt after the first;
			// the first line must say what is wrong.
			if first, _, _ := strings.Cut(err.Error(), "\n"); !strings.Contains(first, "cannot open the database") {
				t.Errorf("err = %v, want its first line to say the database cannot be opened", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
			for _, s := range []string{err.Error(), out, errOut} {
				if strings.Contains(s, "hunter2") {
					t.Errorf("password leaked: %s", s)
				}
			}
		})
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for tests that dial serve without reading its welcome (which names
// the port when LATCH_ADDR asks for port 0).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestRunServe(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	// Any port: the default issuer names the one the system picks.
	c.env["LATCH_ADDR"] = "127.0.0.1:0"
	c.env["LATCH_ADMIN_TOKEN"] = testAdminToken

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, c.getenv(), environFunc(c.env), strings.NewReader(""), &stdout, &stderr)
	}()

	base := waitIssuer(t, &stdout, done, &stderr)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("issuer %q, want http://127.0.0.1: and the port listened on", base)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	waitServing(t, client, base+"/healthz", done, &stderr)
	wantMetadata(t, client, base)

	// The admin API is on with LATCH_ADMIN_TOKEN.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/clients", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /admin/clients: %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}

	fi, err := os.Stat(c.db + ".secret")
	if err != nil {
		t.Fatalf("no generated secret beside the database: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode = %04o, want 0600", perm)
	}

	if !strings.Contains(stdout.String(), base) {
		t.Errorf("welcome lacks the issuer:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String(), testAdminToken) || strings.Contains(stdout.String(), testAdminToken) {
		t.Error("the admin token was printed")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v, want nil (graceful shutdown)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30s of cancel")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

// syncBuffer is a bytes.Buffer that the server goroutine may write while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

var _ io.Writer = (*syncBuffer)(nil)

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunUsersImport(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	good := fmt.Sprintf("{\"username\":\"imported\",\"password_hash\":%q}\n", hash)
	err = c.mustFail(good+"{\"username\":\"broken\",\"password_hash\":\"plain\"}\n", "users", "import")
	if !strings.Contains(err.Error(), "line 2: password_hash") || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("bad import: %q, want one line naming line 2", err)
	}
	c.mustFail("", "users", "disable", "imported") // nothing was half-imported
	if out := c.mustRun(good, "users", "import", "-"); !strings.Contains(out, "imported 1 users") {
		t.Fatalf("import: %q", out)
	}
	c.mustRun("", "users", "disable", "imported")
}

// TestRunSessionsImport: latch sessions import FILE prints the number and
// reason of each bad line and imports nothing; a good file is imported,
// and its login is listed.
func TestRunSessionsImport(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.mustRun("", "clients", "create", "--id", "app", "--grant-types", "password,refresh_token", "--scope", "read")
	c.mustRun("pw\n", "users", "create", "alice")
	now := time.Now().UTC()
	line := func(user, token string) string {
		return fmt.Sprintf(`{"username":%q,"client_id":"app","scope":"read","created_at":%q,"expires_at":%q,"refresh_token":%q}`+"\n",
			user, now.Add(-time.Hour).Format(time.RFC3339), now.Add(24*time.Hour).Format(time.RFC3339), token)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(line("alice", "old-token-1")+line("mallory", "old-token-2")), 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.mustFail("", "sessions", "import", bad)
	if !strings.Contains(err.Error(), "line 2: username: no user \"mallory\"") || !strings.Contains(err.Error(), "nothing imported") {
		t.Fatalf("bad import: %q, want line 2 and its reason", err)
	}
	if strings.Contains(err.Error(), "old-token") {
		t.Errorf("error %q quotes a token", err)
	}
	if out := c.mustRun("", "sessions", "list", "alice"); strings.Contains(out, "app") {
		t.Fatalf("a failed import left a session:\n%s", out)
	}
	if out := c.mustRun(line("alice", "old-token-1"), "sessions", "import", "-"); !strings.Contains(out, "imported 1 sessions") {
		t.Fatalf("import: %q", out)
	}
	if out := c.mustRun("", "sessions", "list", "alice"); !strings.Contains(out, "app") {
		t.Fatalf("imported session not listed:\n%s", out)
	}
	if err := c.mustFail("", "sessions", "import"); !strings.Contains(err.Error(), "FILE") {
		t.Errorf("no file: %v, want it to ask for FILE", err)
	}
}
