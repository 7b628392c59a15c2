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
	"syscall"
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
  latch users passwd USER                   new password read from standard input
  latch users disable USER
  latch users delete USER
  latch users import [FILE]                 JSON lines of username and password_hash
                                            (argon2id or bcrypt); all or nothing
  latch sessions list USER
  latch sessions revoke SESSION_ID          end one login
  latch sessions revoke --user USER         end every login of a user
  latch keys list                           JWT signing keys: current, retired, published until
  latch keys rotate [--algorithm RS256]     new signing key (default ES256); old ones stay published
  latch version

USER is a user id or a username. Flags come before positional arguments;
"latch COMMAND -h" lists them. Every setting is a flag and a LATCH_* variable,
except the secrets, which are variables only (LATCH_SECRET, LATCH_ADMIN_TOKEN...).
`

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

// noArgs is the check of a command that takes flags only.
func noArgs(cmd string) func(*config, []string) error {
	return func(_ *config, pos []string) error {
		return wantArgs(cmd, pos, 0, "no arguments (flags only)")
	}
}

// run is the whole program, testable: arguments, environment and streams
// are parameters. getenv reads one variable, environ lists them all
// ("NAME=value"), as os.Getenv and os.Environ do.
func run(ctx context.Context, args []string, getenv func(string) string, environ func() []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("latch: a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve", "migrate", "janitor", "clients", "users", "sessions", "keys":
		if err := checkEnviron(environ()); err != nil {
			return err
		}
	}
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "janitor":
		return runJanitor(ctx, rest, getenv, stdout, stderr)
	case "clients", "users", "sessions":
		if len(rest) == 0 {
			fmt.Fprint(stderr, usage)
			return fmt.Errorf("latch: %s needs a subcommand", cmd)
		}
		return runAdmin(ctx, cmd+" "+rest[0], rest[1:], getenv, stdin, stdout, stderr)
	case "keys":
		if len(rest) == 0 {
			fmt.Fprint(stderr, usage)
			return errors.New("latch: keys needs a subcommand")
		}
		return runKeys(ctx, cmd+" "+rest[0], rest[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		// version has no flags either: "latch version -h" is no flag
		// after an argument.
		if len(rest) > 0 {
			return errors.New("latch version: expected no arguments")
		}
		fmt.Fprintln(stdout, "latch", latchVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("latch: unknown command %q", cmd)
	}
}
