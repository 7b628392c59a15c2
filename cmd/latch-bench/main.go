// Command latch-bench is Latch's load tool. It provisions its own client and
// users through the admin API of a running Latch, then drives one or more
// scenarios (password, refresh, client_credentials, introspect, revoke,
// mixed, and hash: argon2id alone, in process) in a closed loop for a
// duration at a concurrency, and prints requests/s, latency percentiles and
// errors by HTTP status and OAuth2 error code.
//
// With --alone it times the database work of each endpoint without Latch
// (alone.go), and --ratios compares the two (ratios.go).
//
// It owns the load and its measurement only: starting servers and databases
// is left to cmd/latch-bench/run.sh (make bench-load). It refuses to send load
// anywhere but a loopback address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

const usageText = `latch-bench: load generator for a running Latch on this machine

usage:
  latch-bench --url http://127.0.0.1:8080 --admin-token T --scenario refresh \
              --duration 20s --concurrency 32 [--json]

scenarios (comma-separated, or "all"):
  password            each request a password grant
  refresh             each worker logs in once, then rotates its own refresh token
  client_credentials  each request a client_credentials grant
  introspect          introspect a pool of pre-issued access tokens
  revoke              revoke a distinct pre-issued access token per request
  mixed               80% introspect, 15% refresh, 4% password, 1% revoke
  hash                argon2id (19 MiB, t=2, p=1) alone, in process: the
                      ceiling of the password grant on this machine

the database alone (the statements of each endpoint, no Latch), on an empty
scratch database that it migrates and seeds:
  latch-bench --alone sqlite:/tmp/alone.db|postgres://user@127.0.0.1/db \
              --duration 20s --concurrency 32 [--rows N] [--out FILE]

the ratios of each endpoint against issue 16's bars, from the --out files
latch-<db>.json and alone-<db>.json in DIR:
  latch-bench --ratios DIR

flags:
`

// config is the parsed command line.
type config struct {
	baseURL     string
	adminToken  string
	scenarios   []string
	duration    time.Duration
	concurrency int
	rate        float64 // requests per second over all workers; 0: closed loop
	users       int
	pool        int
	revokePool  int
	timeout     time.Duration
	json        bool
	keep        bool
	settle      string
	// out: also write the JSON report to this file.
	out string
	// alone is the scratch database of --alone (sqlite:PATH or a
	// PostgreSQL URL); rows the logins seeded in it.
	alone   string
	rows    int
	pgbench string
	// ratios is the directory of --ratios.
	ratios string
	// pgCPU: also report the CPU of this machine's postgres processes per
	// request (the database runs here and serves nothing else meanwhile).
	pgCPU bool
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("latch-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var (
		cfg      config
		scenario string
	)
	fs.StringVar(&cfg.baseURL, "url", "http://127.0.0.1:8080", "base URL of the Latch server (loopback only)")
	fs.StringVar(&cfg.adminToken, "admin-token", getenv("LATCH_ADMIN_TOKEN"), "admin API bearer (default $LATCH_ADMIN_TOKEN, which ps cannot see)")
	fs.StringVar(&scenario, "scenario", "all", "scenarios to run, comma-separated, or all")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "timed phase of each scenario")
	fs.IntVar(&cfg.concurrency, "concurrency", 32, "workers, each with one request in flight")
	fs.Float64Var(&cfg.rate, "rate", 0, "requests per second over all workers, on a fixed schedule (open loop); 0: each worker sends when its last answer is in (closed loop)")
	fs.IntVar(&cfg.users, "users", 0, "users to provision (default: the concurrency)")
	fs.IntVar(&cfg.pool, "pool", 1000, "client_credentials access tokens in the introspection pool")
	fs.IntVar(&cfg.revokePool, "revoke-pool", 0, "tokens pre-issued for the revoke scenario (default: enough for 8,000 revocations/s over --duration)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&cfg.settle, "settle", "", "shell command run before each timed phase, after its fixtures (run.sh: VACUUM and CHECKPOINT on PostgreSQL)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the provisioned client and users (default: delete them at the end)")
	fs.StringVar(&cfg.out, "out", "", "also write the JSON report to this file")
	fs.StringVar(&cfg.alone, "alone", "", "time the database alone on this empty scratch database (sqlite:PATH, or a postgres:// URL on this machine without a password: use PGPASSWORD or ~/.pgpass) instead of a server")
	fs.IntVar(&cfg.rows, "rows", 0, "logins seeded for --alone (default: as the revoke pool)")
	fs.StringVar(&cfg.pgbench, "pgbench", "pgbench", "pgbench binary, for --alone on PostgreSQL")
	fs.BoolVar(&cfg.pgCPU, "pg-cpu", false, "also report the CPU per request of this machine's postgres processes (Linux; meaningful when PostgreSQL runs here and serves nothing else meanwhile)")
	fs.StringVar(&cfg.ratios, "ratios", "", "print the ratios against issue 16's bars from the --out files in this directory, and nothing else")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("latch-bench: unexpected argument %q", fs.Arg(0))
	}
	if err := checkLoopbackURL(cfg.baseURL); err != nil {
		return nil, err
	}
	if cfg.alone != "" {
		if err := checkAloneURL(cfg.alone); err != nil {
			return nil, err
		}
	}
	cfg.baseURL = strings.TrimRight(cfg.baseURL, "/")
	var err error
	if cfg.scenarios, err = parseScenarios(scenario); err != nil {
		return nil, err
	}
	switch {
	case cfg.duration <= 0:
		return nil, errors.New("latch-bench: --duration must be positive")
	case cfg.concurrency <= 0:
		return nil, errors.New("latch-bench: --concurrency must be positive")
	case cfg.rate < 0 || math.IsNaN(cfg.rate) || math.IsInf(cfg.rate, 0):
		return nil, errors.New("latch-bench: --rate must be a positive number, or 0 for a closed loop")
	case cfg.users < 0 || cfg.pool <= 0 || cfg.revokePool < 0:
		return nil, errors.New("latch-bench: --users, --pool and --revoke-pool cannot be negative")
	case cfg.timeout <= 0:
		return nil, errors.New("latch-bench: --timeout must be positive")
	case cfg.rows < 0:
		return nil, errors.New("latch-bench: --rows cannot be negative")
	}
	if cfg.users == 0 {
		cfg.users = cfg.concurrency
	}
	if cfg.revokePool == 0 {
		cfg.revokePool = autoRevokePool(cfg.duration)
	}
	if cfg.rows == 0 {
		cfg.rows = autoRevokePool(cfg.duration)
	}
	if cfg.adminToken == "" && needsServer(cfg.scenarios) && cfg.alone == "" && cfg.ratios == "" {
		return nil, errors.New("latch-bench: --admin-token (or LATCH_ADMIN_TOKEN) is required to provision fixtures")
	}
	return &cfg, nil
}

// autoRevokePool sizes the revoke pool for 8,000 revocations/s over d, within
// [1000, 200000]. When the server is faster, the scenario ends early and says
// so; --revoke-pool raises it.
func autoRevokePool(d time.Duration) int {
	n := int(d.Seconds() * 8000)
	return min(max(n, 1000), 200_000)
}

// run is the whole program, testable: arguments, environment and streams are
// parameters.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ratios != "" {
		table, err := formatRatios(cfg.ratios)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, table)
		return err
	}
	if cfg.alone != "" {
		rep, err := runAlone(ctx, cfg, stderr)
		if err != nil {
			return err
		}
		return writeReport(stdout, cfg, rep)
	}
	b := newBench(cfg, stderr)
	defer b.close()
	if needsServer(cfg.scenarios) {
		if err := b.checkServer(ctx); err != nil {
			return err
		}
		if err := b.provision(ctx); err != nil {
			b.cleanup()
			return err
		}
		defer b.cleanup()
	}
	rep := report{URL: cfg.baseURL, Concurrency: cfg.concurrency, Rate: cfg.rate, DurationSeconds: cfg.duration.Seconds()}
	for _, name := range cfg.scenarios {
		if ctx.Err() != nil {
			break
		}
		res, err := b.runScenario(ctx, name)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, res)
	}
	return writeReport(stdout, cfg, rep)
}

// writeReport prints rep as a table or as JSON (--json), and writes the
// JSON to --out too.
func writeReport(stdout io.Writer, cfg *config, rep report) error {
	if cfg.out != "" {
		f, err := os.Create(cfg.out)
		if err != nil {
			return fmt.Errorf("latch-bench: --out: %w", err)
		}
		err = writeJSON(f, rep)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("latch-bench: --out: %w", err)
		}
	}
	if cfg.json {
		return writeJSON(stdout, rep)
	}
	_, err := io.WriteString(stdout, formatTable(rep.Results))
	return err
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }
