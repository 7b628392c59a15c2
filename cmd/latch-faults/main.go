// Command latch-faults is Latch's fault suite. It runs real processes on
// this machine only: a private PostgreSQL cluster (initdb into a temporary
// directory, its own port), three `latch serve` nodes on it, and HAProxy in
// front, health-checking /readyz. Through the balancer it drives mixed
// traffic (logins, refresh chains, introspection, revocation,
// client_credentials) while it injects faults on a schedule: kill -9 of a
// node and its restart, a rolling restart with SIGTERM, a PostgreSQL
// restart, PostgreSQL stopped for 10 s, max_connections exhausted; then,
// on SQLite, kill -9 of a node in the middle of writes. It prints each fault
// with its time, and at the end a table of invariants with how often each
// was checked and broken; it exits 1 when any was broken.
//
// --selftest plants a fault the suite must catch (a chain's login revoked
// behind its back through the admin API), so that a run that cannot fail
// is noticed. cmd/latch-faults/run.sh builds the binaries and runs it:
// make faults, make faults-short, make faults-selftest.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", for integrity_check
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	latchBin   string
	haproxyBin string
	pgBin      string
	pgUser     string
	workdir    string
	short      bool
	selftest   bool
	chains     int
	drainDelay time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("latch-faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.latchBin, "latch", "bin/latch", "the latch binary (a static build: CGO_ENABLED=0)")
	fs.StringVar(&cfg.haproxyBin, "haproxy", "haproxy", "the HAProxy binary")
	fs.StringVar(&cfg.pgBin, "pg-bin", "", "directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin)")
	fs.StringVar(&cfg.pgUser, "pg-user", "postgres", "the user PostgreSQL runs as when the suite runs as root")
	fs.StringVar(&cfg.workdir, "workdir", "", "directory for the cluster, databases and logs (default: a new temporary one)")
	fs.BoolVar(&cfg.short, "short", false, "the short schedule (CI): fewer faults and shorter pauses")
	fs.BoolVar(&cfg.selftest, "selftest", false, "plant a fault the suite must catch; the run must then fail")
	fs.IntVar(&cfg.chains, "chains", 24, "concurrent refresh chains (one user each)")
	fs.DurationVar(&cfg.drainDelay, "drain-delay", 3*time.Second, "the nodes' --drain-delay: above the balancer's check interval times its fall count (2 x 1s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("latch-faults: unexpected argument %q", fs.Arg(0))
	}
	if cfg.chains < 1 || cfg.chains > 64 {
		return nil, errors.New("latch-faults: --chains must be within 1..64")
	}
	return &cfg, nil
}

// suite is one run: its processes, clients, ledgers and the fault log.
type suite struct {
	cfg    *config
	out    io.Writer
	start  time.Time
	procs  *procs
	hc     *http.Client
	dir    string
	logDir string

	pg         *pgCluster
	nodes      []*node
	lb         *haproxy
	adminToken string
	secret     string

	pgLedger, liteLedger *ledger
	// probeClient asks for the tokens that time a recovery.
	probeClient *client
	faults      []faultRow
}

// faultRow is one line of the fault table.
type faultRow struct {
	at      time.Duration
	name    string
	figures string
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.out, "+%6.1fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

func (s *suite) fault(at time.Duration, name, figures string) {
	s.faults = append(s.faults, faultRow{at: at, name: name, figures: figures})
	s.logf("%s: %s", name, figures)
}

func (s *suite) since() time.Duration { return time.Since(s.start) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	s := &suite{cfg: cfg, out: stdout, start: time.Now(), hc: newHTTPClient(cfg.chains + 8)}
	s.dir = cfg.workdir
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "latch-faults-"); err != nil {
			return err
		}
		defer os.RemoveAll(s.dir)
	}
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		return err
	}
	s.logDir = filepath.Join(s.dir, "logs")
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return err
	}
	s.procs = &procs{pidFile: filepath.Join(s.dir, "pids")}
	defer s.procs.stopAll()
	s.pgLedger, s.liteLedger = newLedger("postgres"), newLedger("sqlite")
	s.adminToken, s.secret = randomHex(24), randomHex(32)
	if cfg.latchBin, err = filepath.Abs(cfg.latchBin); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.latchBin); err != nil {
		return fmt.Errorf("latch-faults: %w (build it with CGO_ENABLED=0 go build -o bin/latch ./cmd/latch)", err)
	}
	if cfg.haproxyBin, err = exec.LookPath(cfg.haproxyBin); err != nil {
		return fmt.Errorf("latch-faults: %w (apt-get install haproxy)", err)
	}
	mode := "full"
	if cfg.short {
		mode = "short"
	}
	if cfg.selftest {
		mode += ", self-test"
	}
	s.logf("latch-faults (%s schedule): %d chains, logs in %s", mode, cfg.chains, s.logDir)

	if err := s.nonRootCheck(ctx); err != nil {
		return err
	}
	if err := s.postgresPhase(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !cfg.selftest {
		if err := s.sqlitePhase(ctx); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	fmt.Fprintln(s.out)
	fmt.Fprintln(s.out, "faults:")
	for _, f := range s.faults {
		fmt.Fprintf(s.out, "  +%6.1fs  %-34s %s\n", f.at.Seconds(), f.name, f.figures)
	}
	fmt.Fprintln(s.out)
	printAnswers(s.out, s.pgLedger)
	printAnswers(s.out, s.liteLedger)
	fmt.Fprintln(s.out)
	printTable(s.out, s.pgLedger, s.liteLedger)
	fmt.Fprintf(s.out, "\nduration: %.1fs\n", s.since().Seconds())
	if b := broken(s.pgLedger, s.liteLedger); len(b) > 0 {
		for _, name := range b {
			fmt.Fprintf(s.out, "BROKEN: %s\n", name)
		}
		return fmt.Errorf("latch-faults: %d invariant(s) broken: %s", len(b), strings.Join(b, "; "))
	}
	fmt.Fprintln(s.out, "all invariants held")
	return nil
}

// nodeEnv is the environment of a node: nothing of the suite's own.
func (s *suite) nodeEnv(addr, dbURL, issuer string) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"LATCH_ADDR=" + addr,
		"LATCH_DATABASE_URL=" + dbURL,
		"LATCH_ISSUER=" + issuer,
		"LATCH_SECRET=" + s.secret,
		"LATCH_ADMIN_TOKEN=" + s.adminToken,
		"LATCH_LOG_FORMAT=json",
		// Retries across a 10 s outage must be replays, not reuse.
		"LATCH_REFRESH_GRACE=60s",
		// Every chain logs in from 127.0.0.1.
		"LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS=100000",
		"LATCH_DRAIN_DELAY=" + s.cfg.drainDelay.String(),
	}
}

// nonRootCheck starts the static binary as the Docker image runs it: uid
// 65532 (distroless nonroot), on an empty data directory of its own, with
// no LATCH_SECRET (it is generated beside the database), and stops it with
// SIGTERM. It needs root to switch users; otherwise it is skipped.
func (s *suite) nonRootCheck(ctx context.Context) error {
	if os.Geteuid() != 0 {
		s.logf("non-root check skipped: the suite is not root, so it cannot start a process as uid 65532")
		return nil
	}
	data := filepath.Join(s.dir, "nonroot-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if err := os.Chown(data, 65532, 65532); err != nil {
		return err
	}
	traversable(data)
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	n := &node{
		name: "nonroot", url: "http://" + addr, bin: s.cfg.latchBin, uid: 65532, procs: s.procs,
		log: filepath.Join(s.logDir, "nonroot.log"),
		env: []string{"LATCH_ADDR=" + addr, "LATCH_DATABASE_URL=sqlite:" + data + "/latch.db", "LATCH_LOG_FORMAT=json"},
	}
	s.procs.mu.Lock()
	s.procs.nodes = append(s.procs.nodes, n)
	s.procs.mu.Unlock()
	// The node writes its log as the suite; only the data is nonroot's.
	if err := n.start(); err != nil {
		return err
	}
	ledger := s.pgLedger
	if err := n.waitReady(ctx, s.hc, 30*time.Second); err != nil {
		ledger.violate(invNonRoot, err.Error())
		return nil
	}
	_, code, err := n.signal(syscall.SIGTERM, 30*time.Second)
	fi, serr := os.Stat(filepath.Join(data, "latch.db.secret"))
	switch {
	case err != nil || code != 0:
		ledger.violate(invNonRoot, fmt.Sprintf("SIGTERM: exit code %d, %v", code, err))
	case serr != nil:
		ledger.violate(invNonRoot, "no generated secret beside the database: "+serr.Error())
	case fi.Mode().Perm()&0o077 != 0:
		ledger.violate(invNonRoot, fmt.Sprintf("the generated secret is readable by others (%v)", fi.Mode().Perm()))
	default:
		ledger.count(invNonRoot)
		s.logf("non-root check: uid 65532 on an empty data directory served /readyz 200, wrote its secret %v, exited 0 on SIGTERM", fi.Mode().Perm())
	}
	return nil
}

// postgresPhase runs the three nodes behind the balancer on the private
// cluster, with traffic and the scheduled faults.
func (s *suite) postgresPhase(ctx context.Context) error {
	bin, err := findPGBin(s.cfg.pgBin)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.pg = &pgCluster{bin: bin, data: filepath.Join(s.dir, "pgdata"), log: filepath.Join(s.logDir, "postgres.log"), port: port}
	if os.Geteuid() == 0 {
		s.pg.runAs = s.cfg.pgUser
	}
	s.procs.mu.Lock()
	s.procs.pg = s.pg
	s.procs.mu.Unlock()
	t0 := time.Now()
	if err := s.pg.initCluster(); err != nil {
		return err
	}
	if err := s.pg.start(); err != nil {
		return err
	}
	if err := s.pg.createDB(ctx, "latch"); err != nil {
		return err
	}
	s.logf("PostgreSQL (%s) on 127.0.0.1:%d, max_connections %d, up in %.1fs", bin, port, pgMaxConnections, time.Since(t0).Seconds())

	lbPort, err := freePort()
	if err != nil {
		return err
	}
	lbURL := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	for i := range 3 {
		p, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		n := &node{
			name: fmt.Sprintf("node%d", i+1), url: "http://" + addr, bin: s.cfg.latchBin, procs: s.procs,
			log: filepath.Join(s.logDir, fmt.Sprintf("node%d.log", i+1)),
			env: s.nodeEnv(addr, s.pg.url("latch"), lbURL),
		}
		s.nodes = append(s.nodes, n)
	}
	s.procs.mu.Lock()
	s.procs.nodes = append(s.procs.nodes, s.nodes...)
	s.procs.mu.Unlock()
	// All three at once, on a database no node has migrated yet.
	t0 = time.Now()
	for _, n := range s.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	startFailed := false
	for _, n := range s.nodes {
		if err := n.waitReady(ctx, s.hc, 60*time.Second); err != nil {
			s.pgLedger.violate(invStartup, err.Error()+": "+lastLine(n.log))
			startFailed = true
			continue
		}
		s.pgLedger.count(invStartup)
	}
	if startFailed {
		// Go on with whatever started: restart the others one by one, so
		// that the rest of the suite still runs.
		for _, n := range s.nodes {
			if !n.running() {
				if err := n.start(); err != nil {
					return err
				}
				if err := n.waitReady(ctx, s.hc, 60*time.Second); err != nil {
					return err
				}
			}
		}
	}
	s.logf("3 nodes started at once on a fresh database: ready in %.1fs", time.Since(t0).Seconds())

	statsPort, err := freePort()
	if err != nil {
		return err
	}
	errDir := filepath.Join(s.dir, "haproxy")
	if err := os.MkdirAll(errDir, 0o755); err != nil {
		return err
	}
	for _, code := range []int{502, 503, 504} {
		if err := os.WriteFile(filepath.Join(errDir, fmt.Sprintf("%d.http", code)), []byte(errorFile(code)), 0o644); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(errDir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(lbPort, statsPort, s.nodes, errDir)), 0o644); err != nil {
		return err
	}
	s.lb = &haproxy{bin: s.cfg.haproxyBin, cfg: cfgPath, log: filepath.Join(s.logDir, "haproxy.log"), url: lbURL,
		statsURL: fmt.Sprintf("http://127.0.0.1:%d/stats", statsPort)}
	if err := s.lb.start(s.procs); err != nil {
		return err
	}
	for _, n := range s.nodes {
		if _, err := s.waitBalancer(ctx, n, "UP", 20*time.Second); err != nil {
			return err
		}
	}
	s.logf("HAProxy on %s, checking /readyz of %d nodes", lbURL, len(s.nodes))

	c := &client{hc: s.hc, ledger: s.pgLedger}
	users, err := s.provision(ctx, c, lbURL, "pg", s.cfg.chains)
	if err != nil {
		return err
	}
	s.logf("provisioned a client and %d users", len(users))
	s.probeClient = c

	w := &workload{c: c, base: lbURL, users: users, ledger: s.pgLedger, logf: s.logf,
		retryBudget: 50 * time.Second, until: time.Now().Add(15 * time.Minute)}
	if s.cfg.selftest {
		w.plant = func(ctx context.Context, u user) { s.plantRevocation(ctx, c, lbURL, u) }
	}
	stop := w.run(ctx, 2)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	pause := 8 * time.Second
	if s.cfg.short {
		pause = 4 * time.Second
	}
	sleep(ctx, pause) // warm-up
	steps := []func(context.Context) error{s.killNode, s.rollingRestart, s.restartPostgres, s.stopPostgres}
	switch {
	case s.cfg.selftest:
		// The planted fault needs no other; one kill keeps the rest honest.
		steps = steps[:1]
	case !s.cfg.short:
		steps = append(steps, s.exhaustConnections)
	}
	for _, step := range steps {
		if ctx.Err() != nil {
			break
		}
		if err := step(ctx); err != nil {
			return err
		}
		sleep(ctx, pause)
	}
	t0 = time.Now()
	stop()
	stopped = true
	s.logf("traffic stopped (the last retries finished in %.1fs)", time.Since(t0).Seconds())

	// Every revoked token, asked of every node directly.
	for _, t := range w.revoked {
		for _, n := range s.nodes {
			for _, tok := range []string{t.AccessToken, t.RefreshToken} {
				w.checkInactive(ctx, n.url, tok, "after the run")
			}
		}
	}
	s.logf("checked %d revoked logins on each of %d nodes", len(w.revoked), len(s.nodes))
	return nil
}

// provision creates the suite's confidential client (every grant, may
// introspect) and n users, through base's admin API; the client's
// credentials go to c.
func (s *suite) provision(ctx context.Context, c *client, base, prefix string, n int) ([]user, error) {
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	err := c.admin(ctx, base, s.adminToken, http.MethodPost, "/admin/clients", map[string]any{
		"client_id":      "faults-" + prefix,
		"grant_types":    []string{"password", "refresh_token", "client_credentials"},
		"scope":          "read write",
		"can_introspect": true,
	}, &created, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	c.basicAuth = basicAuth(created.ClientID, created.ClientSecret)
	users := make([]user, n)
	for i := range users {
		u := user{name: fmt.Sprintf("%s-user-%d", prefix, i), password: randomHex(12)}
		var out struct {
			ID string `json:"id"`
		}
		if err := c.admin(ctx, base, s.adminToken, http.MethodPost, "/admin/users",
			map[string]string{"username": u.name, "password": u.password}, &out, http.StatusCreated); err != nil {
			return nil, err
		}
		u.id = out.ID
		users[i] = u
	}
	return users, nil
}

// plantRevocation is the self-test's fault: it ends u's logins through the
// admin API, behind the chain's back. The chain's next refresh answers
// invalid_grant, which the suite must report as a lost chain.
func (s *suite) plantRevocation(ctx context.Context, c *client, base string, u user) {
	var sessions struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := c.admin(ctx, base, s.adminToken, http.MethodGet, "/admin/users/"+url.PathEscape(u.id)+"/sessions", nil, &sessions, http.StatusOK); err != nil {
		s.logf("self-test: cannot list the sessions: %v", err)
		return
	}
	for _, it := range sessions.Items {
		if err := c.admin(ctx, base, s.adminToken, http.MethodDelete, "/admin/sessions/"+url.PathEscape(it.ID), nil, nil, http.StatusNoContent); err != nil {
			s.logf("self-test: cannot revoke a session: %v", err)
		}
	}
	s.fault(s.since(), "self-test plant", fmt.Sprintf("revoked %d login(s) of %s behind chain 0's back", len(sessions.Items), u.name))
}

// waitBalancer waits until HAProxy reports n in state want ("UP" or
// "DOWN") and returns how long that took.
func (s *suite) waitBalancer(ctx context.Context, n *node, want string, limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		st, err := s.lb.serverStates(ctx, s.hc)
		if err == nil && st[n.name] == want {
			return time.Since(t0), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return 0, fmt.Errorf("latch-faults: HAProxy did not mark %s %s within %s", n.name, want, limit)
}

// bringBack starts a stopped node and waits until it is ready and the
// balancer sends it traffic again; it returns how long each took.
func (s *suite) bringBack(ctx context.Context, n *node) (ready, up time.Duration, err error) {
	t0 := time.Now()
	if err := n.start(); err != nil {
		return 0, 0, err
	}
	if err := n.waitReady(ctx, s.hc, 30*time.Second); err != nil {
		return 0, 0, err
	}
	ready = time.Since(t0)
	up, err = s.waitBalancer(ctx, n, "UP", 15*time.Second)
	return ready, up, err
}

// killNode kills a node with SIGKILL, restarts it, and waits until the
// balancer sends it traffic again.
func (s *suite) killNode(ctx context.Context) error {
	n := s.nodes[0]
	at := s.since()
	collect := s.pgLedger.watch()
	pid := n.pid()
	if _, _, err := n.signal(syscall.SIGKILL, 5*time.Second); err != nil {
		return err
	}
	down, err := s.waitBalancer(ctx, n, "DOWN", 15*time.Second)
	if err != nil {
		return err
	}
	ready, up, err := s.bringBack(ctx, n)
	if err != nil {
		return err
	}
	failed := collect()
	s.fault(at, "kill -9 "+n.name, fmt.Sprintf("pid %d; balancer marked it DOWN after %.1fs; restarted, ready in %.1fs, UP %.1fs later; client-visible failures meanwhile: %d%s",
		pid, down.Seconds(), ready.Seconds(), up.Seconds(), len(failed), summarize(failed)))
	return nil
}

// rollingRestart stops each node in turn with SIGTERM, restarts it and
// waits until the balancer sends it traffic again. With a drain delay, a
// node's /readyz turns 503 first, the balancer moves the traffic away, and
// only then does the node stop: clients see nothing.
func (s *suite) rollingRestart(ctx context.Context) error {
	for _, n := range s.nodes {
		at := s.since()
		collect := s.pgLedger.watch()
		type exit struct {
			took time.Duration
			code int
			err  error
		}
		exited := make(chan exit, 1)
		go func() {
			took, code, err := n.signal(syscall.SIGTERM, 60*time.Second)
			exited <- exit{took, code, err}
		}()
		// The balancer must take the node out of rotation while it still
		// runs: that is what the drain delay is for.
		var downAt time.Duration
		t0 := time.Now()
		var ex exit
	poll:
		for {
			select {
			case ex = <-exited:
				break poll
			case <-time.After(100 * time.Millisecond):
			}
			if downAt == 0 {
				if st, err := s.lb.serverStates(ctx, s.hc); err == nil && st[n.name] == "DOWN" {
					downAt = time.Since(t0)
				}
			}
		}
		took, code := ex.took, ex.code
		if ex.err != nil {
			return ex.err
		}
		downFirst := downAt > 0
		if !downFirst {
			s.pgLedger.violate(invDrain, fmt.Sprintf("%s exited %.1fs after SIGTERM before the balancer marked it DOWN", n.name, took.Seconds()))
		}
		ready, up, err := s.bringBack(ctx, n)
		if err != nil {
			return err
		}
		failed := collect()
		switch {
		case !downFirst:
		case code != 0:
			s.pgLedger.violate(invDrain, fmt.Sprintf("%s exited %d on SIGTERM", n.name, code))
		case len(failed) > 0:
			s.pgLedger.violate(invDrain, fmt.Sprintf("%s: %d failed answers while it restarted:%s", n.name, len(failed), summarize(failed)))
		default:
			s.pgLedger.count(invDrain)
		}
		down := "balancer did NOT mark it DOWN before its exit"
		if downFirst {
			down = fmt.Sprintf("balancer marked it DOWN after %.1fs", downAt.Seconds())
		}
		s.fault(at, "SIGTERM "+n.name+" (rolling)", fmt.Sprintf("%s; exit %d after %.1fs; ready %.1fs after restart, UP %.1fs later; client-visible failures: %d%s",
			down, code, took.Seconds(), ready.Seconds(), up.Seconds(), len(failed), summarize(failed)))
	}
	return nil
}

// restartPostgres restarts PostgreSQL (fast shutdown) under the nodes.
func (s *suite) restartPostgres(ctx context.Context) error {
	at := s.since()
	collect := s.pgLedger.watch()
	pids := s.nodePIDs()
	t0 := time.Now()
	if err := s.pg.restart(); err != nil {
		return err
	}
	back := time.Since(t0)
	rec := s.recovery(ctx, time.Now())
	failed := collect()
	s.fault(at, "pg_ctl restart -m fast", fmt.Sprintf("database back after %.1fs; %s; client-visible 503s and errors: %d%s%s",
		back.Seconds(), rec, len(failed), summarize(failed), s.samePIDs(pids)))
	return nil
}

// samePIDs checks that no node was restarted since pids were taken: a
// database fault must be ridden out by the running processes.
func (s *suite) samePIDs(pids string) string {
	if s.nodePIDs() == pids {
		return ""
	}
	s.pgLedger.violate(invRecovery, "a node's pid changed during a database fault")
	return "; a node was restarted meanwhile!"
}

// stopPostgres stops PostgreSQL for 10 s. Meanwhile every node's /readyz
// must answer 503; after, 200 again, without restarting any node.
func (s *suite) stopPostgres(ctx context.Context) error {
	at := s.since()
	collect := s.pgLedger.watch()
	pids := s.nodePIDs()
	if err := s.pg.stop(); err != nil {
		return err
	}
	stopped := time.Now()
	sleep(ctx, 1500*time.Millisecond)
	probes, bad := 0, 0
	for time.Since(stopped) < 10*time.Second && ctx.Err() == nil {
		for _, n := range s.nodes {
			st, err := getStatus(ctx, s.hc, n.url+"/readyz")
			probes++
			if st != http.StatusServiceUnavailable {
				bad++
				s.pgLedger.violate(invReadyz, fmt.Sprintf("%s /readyz answered %d (%v) while the database was down", n.name, st, err))
			} else {
				s.pgLedger.count(invReadyz)
			}
		}
		sleep(ctx, time.Second)
	}
	sleep(ctx, time.Until(stopped.Add(10*time.Second)))
	if err := s.pg.start(); err != nil {
		return err
	}
	rec := s.recovery(ctx, time.Now())
	failed := collect()
	restarted := s.samePIDs(pids)
	s.fault(at, "PostgreSQL stopped for 10s", fmt.Sprintf("/readyz probes while down: %d, %d not 503; %s; client-visible 503s and errors: %d%s%s",
		probes, bad, rec, len(failed), summarize(failed), restarted))
	return nil
}

// exhaustConnections takes every connection PostgreSQL allows and holds
// them for 5 s. The running nodes keep the connections their pools hold;
// one node, stopped before, starts meanwhile with an empty pool and must
// stay out of rotation until it can connect. A node that exits because it
// cannot open the database is started again a second later, as systemd's
// Restart=on-failure would.
func (s *suite) exhaustConnections(ctx context.Context) error {
	at := s.since()
	collect := s.pgLedger.watch()
	n := s.nodes[len(s.nodes)-1]
	// Stopped first, so that its connections are taken too.
	if _, _, err := n.signal(syscall.SIGTERM, 60*time.Second); err != nil {
		return err
	}
	var heldN int
	var refusal error
	var startNote string
	s.pg.exhaust(ctx, 200, 5*time.Second, func(held int, err error) {
		heldN, refusal = held, err
		s.logf("max_connections: holding %d connections; the next was refused: %v; starting %s meanwhile", held, refusalText(err), n.name)
		if err := n.start(); err != nil {
			startNote = err.Error()
			return
		}
		sleep(ctx, 2*time.Second)
		if n.running() {
			startNote = n.name + " started during the exhaustion and kept running"
		} else {
			startNote = fmt.Sprintf("%s started during the exhaustion exited %d (%s)", n.name, n.exitCode, lastMessage(n.log))
		}
	})
	released := time.Now()
	restarts := 0
	for !n.running() && restarts < 30 && ctx.Err() == nil {
		sleep(ctx, time.Second)
		restarts++
		if err := n.start(); err != nil {
			return err
		}
		sleep(ctx, 500*time.Millisecond)
	}
	if err := n.waitReady(ctx, s.hc, 30*time.Second); err != nil {
		return err
	}
	nodeBack := time.Since(released)
	if _, err := s.waitBalancer(ctx, n, "UP", 15*time.Second); err != nil {
		return err
	}
	rec := s.recovery(ctx, released)
	failed := collect()
	s.fault(at, "max_connections exhausted", fmt.Sprintf("held %d connections (refusal: %s); %s; %s ready %.1fs after the release (%d restarts); %s; client-visible 503s and errors: %d%s",
		heldN, refusalText(refusal), startNote, n.name, nodeBack.Seconds(), restarts, rec, len(failed), summarize(failed)))
	return nil
}

// lastMessage returns the msg of the last JSON log line of path, or the
// line itself.
func lastMessage(path string) string {
	line := lastLine(path)
	var m struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal([]byte(line), &m) == nil && m.Msg != "" {
		return m.Msg
	}
	return line
}

func refusalText(err error) string {
	if err == nil {
		return "none"
	}
	msg := err.Error()
	if i := strings.Index(msg, "FATAL:"); i >= 0 {
		msg = msg[i:]
	}
	return msg
}

// recovery waits, from back (when the database answered again), until
// every node's /readyz answers 200 and a token request through the
// balancer succeeds; it counts the recovery and readiness invariants and
// describes the times.
func (s *suite) recovery(ctx context.Context, back time.Time) string {
	const limit = 30 * time.Second
	var readyAt time.Duration
	for _, n := range s.nodes {
		for time.Since(back) < limit && ctx.Err() == nil {
			if st, _ := getStatus(ctx, s.hc, n.url+"/readyz"); st == http.StatusOK {
				break
			}
			sleep(ctx, 100*time.Millisecond)
		}
	}
	readyAt = time.Since(back)
	if readyAt >= limit {
		s.pgLedger.violate(invReadyz, fmt.Sprintf("a node's /readyz was not 200 within %s of the database's return", limit))
	} else {
		s.pgLedger.count(invReadyz)
	}
	var servedAt time.Duration
	for {
		a := s.probe(ctx)
		if a.status == http.StatusOK {
			servedAt = time.Since(back)
			s.pgLedger.count(invRecovery)
			break
		}
		if time.Since(back) > limit || ctx.Err() != nil {
			s.pgLedger.violate(invRecovery, fmt.Sprintf("no token through the balancer within %s of the database's return (last: %s)", limit, a.code()))
			return fmt.Sprintf("NOT recovered within %s", limit)
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return fmt.Sprintf("every /readyz 200 %.1fs and the first token through the balancer %.1fs after it returned", readyAt.Seconds(), servedAt.Seconds())
}

// probe asks the balancer for a client_credentials token, which needs the
// database.
func (s *suite) probe(ctx context.Context) answer {
	return s.probeClient.post(ctx, s.lb.url, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
}

func (s *suite) nodePIDs() string {
	var b strings.Builder
	for _, n := range s.nodes {
		fmt.Fprintf(&b, "%d,", n.pid())
	}
	return b.String()
}

// sqlitePhase runs one node on SQLite, drives chains straight at it, kills
// it with SIGKILL in the middle of writes, restarts it on the same file,
// and checks the chains, the revocations and the file.
func (s *suite) sqlitePhase(ctx context.Context) error {
	dir := filepath.Join(s.dir, "sqlite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dbPath := filepath.Join(dir, "latch.db")
	n := &node{
		name: "sqlite", url: "http://" + addr, bin: s.cfg.latchBin, procs: s.procs,
		log: filepath.Join(s.logDir, "sqlite.log"),
		env: s.nodeEnv(addr, "sqlite:"+dbPath, "http://"+addr),
	}
	s.procs.mu.Lock()
	s.procs.nodes = append(s.procs.nodes, n)
	s.procs.mu.Unlock()
	if err := n.start(); err != nil {
		return err
	}
	if err := n.waitReady(ctx, s.hc, 30*time.Second); err != nil {
		return err
	}
	c := &client{hc: s.hc, ledger: s.liteLedger}
	users, err := s.provision(ctx, c, n.url, "lite", min(s.cfg.chains, 8))
	if err != nil {
		return err
	}
	w := &workload{c: c, base: n.url, users: users, ledger: s.liteLedger, logf: s.logf,
		retryBudget: 30 * time.Second, until: time.Now().Add(5 * time.Minute)}
	stop := w.run(ctx, 1)
	defer stop()
	sleep(ctx, 3*time.Second)
	// In the middle of writes: wait for refreshes to be flowing.
	before := s.liteLedger.checkedOf(invChainLost)
	for i := 0; i < 50 && s.liteLedger.checkedOf(invChainLost) == before; i++ {
		sleep(ctx, 100*time.Millisecond)
	}
	at := s.since()
	pid := n.pid()
	if _, _, err := n.signal(syscall.SIGKILL, 5*time.Second); err != nil {
		return err
	}
	sleep(ctx, time.Second)
	t0 := time.Now()
	if err := n.start(); err != nil {
		return err
	}
	if err := n.waitReady(ctx, s.hc, 30*time.Second); err != nil {
		return err
	}
	s.fault(at, "SQLite: kill -9 mid-writes", fmt.Sprintf("pid %d, %d refreshes done before; restarted on the same file, ready in %.1fs",
		pid, s.liteLedger.checkedOf(invChainLost), time.Since(t0).Seconds()))
	sleep(ctx, 4*time.Second)
	stop()
	for _, t := range w.revoked {
		for _, tok := range []string{t.AccessToken, t.RefreshToken} {
			w.checkInactive(ctx, n.url, tok, "SQLite, after the kill")
		}
	}
	if _, code, err := n.signal(syscall.SIGTERM, 60*time.Second); err != nil || code != 0 {
		s.liteLedger.violate(invDrain, fmt.Sprintf("sqlite node exit code %d on SIGTERM (%v)", code, err))
	} else {
		s.liteLedger.count(invDrain)
	}
	res, err := integrityCheck(ctx, dbPath)
	if err != nil || res != "ok" {
		s.liteLedger.violate(invSQLiteIntegrity, fmt.Sprintf("integrity_check: %q %v", res, err))
	} else {
		s.liteLedger.count(invSQLiteIntegrity)
	}
	s.logf("SQLite: %d revoked logins checked; PRAGMA integrity_check: %s", len(w.revoked), res)
	return nil
}

// integrityCheck runs PRAGMA integrity_check on a SQLite file no process
// has open.
func integrityCheck(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var res string
	err = db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res)
	return res, err
}

// summarize lists the kinds of failed answers with their counts.
func summarize(failed []string) string {
	if len(failed) == 0 {
		return ""
	}
	counts := map[string]int{}
	var order []string
	for _, f := range failed {
		if counts[f] == 0 {
			order = append(order, f)
		}
		counts[f]++
	}
	var b strings.Builder
	b.WriteString(" (")
	for i, k := range order {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%dx %s", counts[k], k)
	}
	b.WriteString(")")
	return b.String()
}

// lastLine returns the last line of a log file, for an error message.
func lastLine(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return tail([]byte(lines[len(lines)-1]), 400)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
