// Command latch is the Latch OAuth2 authorization server and its operator
// command line: serve, migrate, clients, users, sessions, keys, version.
//
// Settings come from LATCH_* variables and flags of the same name (the flag
// wins); secrets only from the environment or LATCH_*_FILE paths.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build does); when it is empty, [latchVersion] asks the build info.
var version string

// latchVersion returns the version of this binary.
func latchVersion() string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(version, info)
}

// versionOf returns the version set with -X or, without one, what the Go
// toolchain recorded in info: the main module's version (go install
// ...@v1.2.3), or else the VCS revision of a build in a checkout, with
// "-dirty" when it had uncommitted changes. "dev" when nothing is known, as
// with go run or -buildvcs=false.
func versionOf(set string, info *debug.BuildInfo) string {
	if set != "" {
		return set
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return "dev"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		revision += "-dirty"
	}
	return revision
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		tuneRuntime(os.Getenv)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Environ, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

const usage = `latch: an OAuth2 authorization server

usage:
  latch serve                               run the server (applies migrations first)
  latch migrate                             apply database migrations
  latch janitor                             delete expired and revoked rows once
  latch clients create [flags]              register a client; prints its secret once
  latch clients list
  latch clients delete CLIENT_ID
  latch users create USERNAME               password read from standard input
                                            (at a terminal: prompted for, not echoed)
  latch users passwd USER                   new password read from standard input;
                                            also lifts the user's lockout
  latch users unlock USER                   let a user locked out by failed logins in again
  latch users disable USER
  latch users delete USER
  latch users import [FILE]                 JSON lines of username and password_hash
                                            (argon2id or bcrypt); all or nothing
  latch sessions list USER
  latch sessions revoke SESSION_ID          end one login
  latch sessions revoke --user USER         end every login of a user
  latch sessions import FILE                JSON lines of live logins of another system
                                            (raw or SHA-256 refresh tokens); all or nothing
  latch keys list                           JWT signing keys: current, retired, published until
  latch keys rotate [--algorithm RS256]     new signing key (default ES256); old ones stay published
  latch version

USER is a user id or a username. Flags come before positional arguments;
"latch COMMAND -h" lists them. Every setting is a LATCH_* variable, and a flag
of the commands it matters to: serve takes them all, every command
--database-url, --log-format and --log-level, janitor --refresh-grace and
--event-retention, sessions import --session-max-age, keys rotate
--access-token-ttl. The secrets are variables only (LATCH_SECRET,
LATCH_ADMIN_TOKEN...).
`

// invocation is what a command gets from the outside world.
type invocation struct {
	name   string // the command: "serve", "clients create"
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one command of latch that reads settings; version and help
// read none. Its flags are the settings it takes as flags (see
// [setting.flagOf]) and those define adds.
type command struct {
	name string // as typed: "serve", "clients create"
	// define adds the command's own flags to fs and returns what it does
	// with them once they are parsed.
	define func(fs *flag.FlagSet, inv *invocation) action
	// batchLogs sends the logs through a [batchWriter]: serve logs a line
	// per request.
	batchLogs bool
	// readOnly commands only read the database. They never migrate it,
	// which would be a surprise from a command that lists: they check that
	// its schema is this binary's, and ask for "latch migrate" when it is
	// older.
	readOnly bool
}

// action is a command whose flags are defined.
type action struct {
	// check looks at the settings and positional arguments before the
	// database is opened: a refused command leaves it alone.
	check func(cfg *config, pos []string) error
	// run does the work, on the open and migrated store.
	run func(ctx context.Context, s *setup) error
}

// commands is every command that reads settings, in the order of usage.
var commands = []command{
	{name: "serve", define: defineServe, batchLogs: true},
	{name: "migrate", define: defineMigrate},
	{name: "janitor", define: defineJanitor},
	{name: "clients create", define: defineClientsCreate},
	{name: "clients list", define: defineClientsList, readOnly: true},
	{name: "clients delete", define: defineClientsDelete},
	{name: "users create", define: defineUsersCreate},
	{name: "users passwd", define: defineUsersPasswd},
	{name: "users unlock", define: defineUsersUnlock},
	{name: "users disable", define: defineUsersDisable},
	{name: "users delete", define: defineUsersDelete},
	{name: "users import", define: defineUsersImport},
	{name: "sessions list", define: defineSessionsList, readOnly: true},
	{name: "sessions revoke", define: defineSessionsRevoke},
	{name: "sessions import", define: defineSessionsImport},
	{name: "keys list", define: defineKeysList, readOnly: true},
	{name: "keys rotate", define: defineKeysRotate},
}

// findCommand finds the command that args start with: one word, or a group
// and a subcommand ("clients list"). It returns the arguments after it.
func findCommand(args []string) (*command, []string, error) {
	group := false
	for i := range commands {
		c := &commands[i]
		first, sub, hasSub := strings.Cut(c.name, " ")
		switch {
		case first != args[0]:
		case !hasSub:
			return c, args[1:], nil
		case len(args) > 1 && args[1] == sub:
			return c, args[2:], nil
		default:
			group = true
		}
	}
	switch {
	case group && len(args) == 1:
		return nil, nil, fmt.Errorf("latch: %s needs a subcommand", args[0])
	case group:
		return nil, nil, fmt.Errorf("latch: unknown command %q", args[0]+" "+args[1])
	}
	return nil, nil, fmt.Errorf("latch: unknown command %q", args[0])
}

// run is the whole program, testable: arguments, environment and streams
// are parameters. getenv reads one variable, environ lists them all
// ("NAME=value"), as os.Getenv and os.Environ do.
func run(ctx context.Context, args []string, getenv func(string) string, environ func() []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("latch: a command is required")
	}
	switch args[0] {
	case "version", "--version", "-version":
		// version has no flags either: "latch version -h" is no flag
		// after an argument.
		if len(args) > 1 {
			return errors.New("latch version: expected no arguments")
		}
		fmt.Fprintln(stdout, "latch", latchVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	c, rest, err := findCommand(args)
	if err != nil {
		fmt.Fprint(stderr, usage)
		return err
	}
	if err := checkEnviron(environ()); err != nil {
		return err
	}
	return runCommand(ctx, c, rest, &invocation{name: c.name, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}

// runCommand parses the settings and flags of command c, checks them, opens
// the store and runs the command.
func runCommand(ctx context.Context, c *command, args []string, inv *invocation) error {
	// stderr, not logs, decides the default log format (parseConfig): the
	// batching writer hides whether a terminal is behind it.
	logs := inv.stderr
	if c.batchLogs {
		b := newBatchWriter(inv.stderr, 50*time.Millisecond)
		defer b.Close()
		logs = b
	}
	// parseConfig calls define before it parses, and check after.
	var a action
	define := func(fs *flag.FlagSet) { a = c.define(fs, inv) }
	check := func(cfg *config, pos []string) error { return a.check(cfg, pos) }
	s, err := open(ctx, inv, c.readOnly, args, logs, define, check)
	if err != nil {
		return err
	}
	defer s.store.Close()
	return a.run(ctx, s)
}

// wantArgs checks that a command got n positional arguments, described by
// what. Go's flag package stops at the first positional argument, so a flag
// written after one arrives here as an argument; that is said, rather than
// miscounted.
func wantArgs(cmd string, pos []string, n int, what string) error {
	if len(pos) == n {
		return nil
	}
	for _, a := range pos {
		if len(a) > 1 && a[0] == '-' {
			return fmt.Errorf("latch %s: %s comes after an argument; flags go before arguments", cmd, a)
		}
	}
	return fmt.Errorf("latch %s: expected %s", cmd, what)
}

// positional is the check of a command that takes n positional arguments and no
// more from its settings.
func positional(cmd string, n int, what string) func(*config, []string) error {
	return func(_ *config, pos []string) error {
		return wantArgs(cmd, pos, n, what)
	}
}
