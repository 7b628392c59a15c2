package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/templates"
)

// setup is a command with its settings parsed and its store open, migrated.
type setup struct {
	inv   *invocation
	cfg   *config
	fs    *flag.FlagSet
	log   *slog.Logger
	store *sqlstore.Store
	// schemaFrom and schemaTo are the schema versions before and after
	// the migration (equal when there was nothing to do, 0 when a
	// read-only command did not migrate).
	schemaFrom, schemaTo int64
}

// open parses the settings of a command, runs check on them and on the
// positional arguments, and opens the store, migrated (or, for a
// read-only command, checked): a command refused for its arguments or
// settings leaves the database alone. Every command refuses a database
// whose schema is newer than this binary. Flag errors and usage go to
// stderr, which also decides the default log format (text on a terminal);
// the logger writes to logs, which may be stderr or a writer in front of it.
func open(ctx context.Context, inv *invocation, readOnly bool, args []string, logs io.Writer, define func(*flag.FlagSet), check func(cfg *config, pos []string) error) (*setup, error) {
	cfg, fs, err := parseConfig(inv.name, args, inv.getenv, inv.stderr, define)
	if err != nil {
		return nil, err
	}
	if err := check(cfg, fs.Args()); err != nil {
		return nil, err
	}
	if err := cfg.checkSQLiteDir(); err != nil {
		return nil, err
	}
	if readOnly {
		// Opening a SQLite file that is not there would create it.
		if err := cfg.checkSQLiteFile(); err != nil {
			return nil, fmt.Errorf("latch %s: %w; run latch migrate", inv.name, err)
		}
	}
	logger := newLogger(cfg.logFormat, cfg.logLevel, logs)
	openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := sqlstore.Open(openCtx, cfg.databaseURL, sqlstore.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("latch: cannot open the database: %w", err)
	}
	s := &setup{inv: inv, cfg: cfg, fs: fs, log: logger, store: store}
	if readOnly {
		if err := store.CheckSchema(openCtx); err != nil {
			store.Close()
			return nil, fmt.Errorf("latch %s: %w", inv.name, err)
		}
		return s, nil
	}
	// Migrate under ctx, not openCtx: a migration of a big table may take
	// minutes, and a signal still stops it.
	if s.schemaFrom, _, err = store.SchemaVersion(ctx); err == nil {
		err = store.Migrate(ctx)
	}
	if err == nil {
		s.schemaTo, _, err = store.SchemaVersion(ctx)
	}
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("latch: cannot migrate the database: %w", err)
	}
	return s, nil
}

func (s *setup) provider(reg prometheus.Registerer) (*oauth.Provider, error) {
	c := s.cfg
	return oauth.NewProvider(oauth.Config{
		Issuer:          c.issuer,
		Secret:          c.secret,
		OldSecrets:      c.oldSecrets,
		AccessTokenTTL:  c.accessTokenTTL,
		RefreshTokenTTL: c.refreshTokenTTL,
		SessionMaxAge:   c.sessionMaxAge,
		RefreshGrace:    c.refreshGrace,
		EventRetention:  c.eventRetention,
		ReuseDetection:  c.reuseDetection,
		AnomalyAction:   c.anomalyAction,
		AnomalySignals:  c.anomalySignals,
		RefreshBurst:    c.refreshBurst,
		DPoPMaxAge:      c.dpopMaxAge,
		DPoPNonce:       c.dpopNonce == "on",
		StatusListTTL:   c.statusListTTL,

		AccessTokenFormat: c.accessTokenFormat,
		DefaultAudience:   c.defaultAudience,

		LoginMaxFailures:           c.loginMaxFailures,
		LoginMaxFailuresPerAddress: c.loginMaxFailuresPerAddress,
		LoginLockout:               c.loginLockout,
		HashConcurrency:            c.hashConcurrency,

		Logger:     s.log,
		Registerer: reg,
	}, s.store)
}

// operator returns the provider of an operator command, and the context
// that names the command line in the audit events it writes. Operator
// commands mint no tokens, so they neither demand nor create the server's
// secret.
func (s *setup) operator(ctx context.Context) (context.Context, *oauth.Provider, error) {
	s.cfg.secret = throwawaySecret(s.cfg.secret)
	p, err := s.provider(nil)
	if err != nil {
		return nil, nil, err
	}
	return oauth.WithRequestInfo(ctx, oauth.RequestInfo{Address: "cli", UserAgent: "latch " + s.inv.name}), p, nil
}

func defineMigrate(_ *flag.FlagSet, inv *invocation) action {
	return action{
		check: positional(inv.name, 0, "no arguments (flags only)"),
		run: func(_ context.Context, s *setup) error {
			if s.schemaFrom == s.schemaTo {
				fmt.Fprintf(inv.stdout, "latch: database is up to date (schema version %d)\n", s.schemaTo)
			} else {
				fmt.Fprintf(inv.stdout, "latch: migrated the database from schema version %d to %d\n", s.schemaFrom, s.schemaTo)
			}
			return nil
		},
	}
}

func defineJanitor(_ *flag.FlagSet, inv *invocation) action {
	return action{
		check: positional(inv.name, 0, "no arguments (flags only)"),
		run: func(ctx context.Context, s *setup) error {
			ctx, p, err := s.operator(ctx)
			if err != nil {
				return err
			}
			n, err := p.Purge(ctx)
			if err != nil {
				return fmt.Errorf("latch janitor: %w", err)
			}
			fmt.Fprintf(inv.stdout, "deleted %d tokens and %d logins; wiped %d grace responses; deleted %d login counters, %d denylist entries, %d signing keys, %d DPoP proof ids, %d status lists and %d audit events past the retention\n",
				n.Tokens, n.Families, n.Replays, n.Attempts, n.Denied, n.Keys, n.DPoPJTIs, n.StatusLists, n.Events)
			return nil
		},
	}
}

// cpus is the number of processors Go found at start, before tuneRuntime.
var cpus = runtime.GOMAXPROCS(0)

// ownsProcess is set by main for latch serve: the server may then set
// process-wide runtime knobs. Tests run serve in-process and keep their own.
var ownsProcess bool

// tuneRuntime sets the process-wide runtime knobs of a server that main
// can set before the settings are read.
//   - Password hashing (package oauth) holds at most one Go processor per
//     CPU; twice as many processors as CPUs keep some free for requests
//     while every CPU hashes.
//   - Each argon2id hash allocates 19 MiB, and a heap left to double before
//     the next collection put the resident size over 150 MB after ten
//     minutes of mixed load; a soft limit makes the collector run earlier.
//     It grows with the hashing pool (LATCH_HASH_CONCURRENCY), so serve
//     sets it once the settings are read, see [memoryLimit].
//
// GOMAXPROCS and GOMEMLIMIT in the environment win.
func tuneRuntime(getenv func(string) string) {
	ownsProcess = true
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * cpus)
	}
}

// baseMemory is the heap of serve beside its password hashes: 100 MiB, the
// limit measured on two CPUs, less those two hashes.
const baseMemory = 64 << 20

// memoryLimit is serve's soft memory limit when up to concurrency password
// hashes run at once (LATCH_HASH_CONCURRENCY, by default one per CPU): a
// fixed limit that suits two slots would, with sixteen, have the collector
// run without pause while every slot holds its hash.
func memoryLimit(concurrency int) int64 {
	return baseMemory + int64(concurrency)*oauth.DefaultArgon2MemoryKiB<<10
}

// defineServe is latch serve: the server, until ctx ends.
func defineServe(_ *flag.FlagSet, inv *invocation) action {
	return action{
		// The secret is settled before the database is touched: a
		// PostgreSQL without LATCH_SECRET is refused before anything is
		// migrated.
		check: func(cfg *config, pos []string) error {
			if err := wantArgs(inv.name, pos, 0, "no arguments (flags only)"); err != nil {
				return err
			}
			if err := checkServe(cfg, inv.getenv); err != nil {
				return err
			}
			return resolveSecret(cfg)
		},
		run: serve,
	}
}

// serve runs the server on s until ctx ends.
func serve(ctx context.Context, s *setup) error {
	cfg := s.cfg
	// The certificate is read now, not at the first handshake: a wrong path
	// or a key of another certificate fails the start.
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("latch: cannot load the TLS certificate and key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Listen before the provider is made: with port 0 the default issuer
	// takes the port the system picked.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("latch: cannot listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close() // for the returns before Serve, which closes it
	cfg.useBoundPort(ln.Addr())

	if ownsProcess && s.inv.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(cfg.hashConcurrency))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := s.provider(reg)
	if err != nil {
		return err
	}
	if p.JWTAccessTokens() {
		// Refuse to start rather than answer every token request with 500
		// when the signing key cannot be opened (a changed LATCH_SECRET).
		if err := p.EnsureSigningKey(ctx); err != nil {
			return fmt.Errorf("latch: signing key: %w", err)
		}
	}
	console, err := templates.Parse()
	if err != nil {
		return err
	}
	handler := handlers.New(s.log, p, handlers.Options{
		Console:        console,
		Version:        latchVersion(),
		AdminToken:     cfg.adminToken,
		TrustedProxies: cfg.trustedProxies,
		Registry:       reg,
	})
	drainer := newDrainer(cfg.issuer)
	srv := newHTTPServer(drainer.wrap(handler), s.log)
	srv.TLSConfig = tlsConfig
	// The janitor keeps the tables the size of the live logins; it stops
	// before the store closes.
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		p.RunJanitor(janitorCtx, time.Minute)
	}()
	defer func() {
		stopJanitor()
		<-janitorDone
	}()

	s.log.Info("latch serving", "addr", ln.Addr().String(), "issuer", cfg.issuer, "version", latchVersion(), "config", cfg)
	printWelcome(s.inv.stdout, cfg)

	errc := make(chan error, 1)
	go func() {
		if cfg.tlsCert != "" {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("latch: server stopped: %w", err)
	case <-ctx.Done():
	}
	if drainDelay := s.cfg.drainDelay; drainDelay > 0 {
		// Readiness fails first, and the node serves on meanwhile, so that
		// a load balancer moves the traffic away before connections are
		// refused.
		drainer.draining.Store(true)
		s.log.Info("latch draining: /readyz answers 503", "drain_delay", drainDelay)
		select {
		case err := <-errc:
			return fmt.Errorf("latch: server stopped: %w", err)
		case <-time.After(drainDelay):
		}
	}
	// Finish in-flight requests before the store closes.
	s.log.Info("latch shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace(srv))
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("latch: shutdown: %w", err)
	}
	return nil
}

// newHTTPServer returns the server of latch serve. Its timeouts keep slow
// and idle clients from holding connections, and their goroutines, open:
//   - ReadHeaderTimeout: a client's headers arrive at once; one that
//     trickles them (slowloris) is cut off after 5s.
//   - ReadTimeout: the whole request, body included. Bodies are small forms
//     and JSON (handlers caps them at 64 KiB), so 15s is plenty.
//   - WriteTimeout: counts from the end of the request headers, so it
//     covers the handler as well as the response. A password grant waits
//     at most a few seconds for a hashing slot; 30s is well above that.
//   - IdleTimeout: a keep-alive connection is closed after 120s without a
//     request.
//
// The server's own errors, such as failed TLS handshakes, go to logger at
// Warn.
func newHTTPServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// shutdownGrace is how long serve waits for in-flight requests before it
// gives up on them and closes the store under them. A request can still be
// answered until its write deadline, WriteTimeout after its headers; a
// shorter wait would cut off answers the server could still have sent.
func shutdownGrace(srv *http.Server) time.Duration {
	return srv.WriteTimeout + 5*time.Second
}

// printWelcome tells a first-time operator how to get a token, in a few
// lines; it names no secret.
func printWelcome(w io.Writer, cfg *config) {
	fmt.Fprintf(w, "Latch is serving %s (metadata: %s)\n", cfg.issuer, handlers.MetadataURL(cfg.issuer))
	if cfg.adminToken == "" {
		fmt.Fprintln(w, "The admin API is off; set LATCH_ADMIN_TOKEN to turn it on.")
	}
	fmt.Fprintln(w, "Create a client and a user:")
	fmt.Fprintln(w, "  latch clients create --id my-app --grant-types password,refresh_token --scope \"read write\"")
	fmt.Fprintln(w, "  echo 'a long password' | latch users create alice")
}
