package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// procs records every process the suite starts, so that all of them stop
// at its end, whatever the way out (see [procs.stopAll]). The pid file
// lets cmd/latch-faults/run.sh stop what is left if the suite itself dies.
type procs struct {
	mu      sync.Mutex
	nodes   []*node
	others  []*exec.Cmd
	pidFile string
	pg      *pgCluster
}

// track appends pid to the pid file.
func (p *procs) track(pid int) {
	f, err := os.OpenFile(p.pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, pid)
	f.Close()
}

// stopAll kills every node and helper process still running and stops the
// private PostgreSQL cluster. It is bounded: a process that does not die
// within a few seconds of SIGKILL is left to run.sh's trap.
func (p *procs) stopAll() {
	p.mu.Lock()
	nodes, others, pg := p.nodes, p.others, p.pg
	p.mu.Unlock()
	for _, n := range nodes {
		n.kill()
	}
	for _, c := range others {
		if c.Process != nil && c.ProcessState == nil {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range others {
		if c.Process == nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.Process.Kill()
		}
	}
	if pg != nil {
		pg.stopNow()
	}
}

// freePort returns a loopback TCP port that nothing listened on a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// node is one `latch serve` process, restarted under the same settings.
type node struct {
	name string
	url  string
	bin  string
	env  []string
	log  string
	// uid runs the process under another user (0: the suite's own).
	uid   uint32
	procs *procs

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitCode int
}

// start launches the node; it does not wait for it to be ready.
func (n *node) start() error {
	f, err := os.OpenFile(n.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, "serve")
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if n.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: n.uid, Gid: n.uid}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("latch-faults: start %s: %w", n.name, err)
	}
	n.procs.track(cmd.Process.Pid)
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		f.Close()
		n.mu.Lock()
		n.exitCode = cmd.ProcessState.ExitCode()
		n.mu.Unlock()
		close(done)
	}()
	return nil
}

func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// running reports whether the process has not exited.
func (n *node) running() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to limit for the exit. It returns how long
// the exit took and the exit code (-1 for a death by signal).
func (n *node) signal(sig syscall.Signal, limit time.Duration) (time.Duration, int, error) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return 0, 0, fmt.Errorf("latch-faults: %s was never started", n.name)
	}
	t0 := time.Now()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, 0, fmt.Errorf("latch-faults: signal %s: %w", n.name, err)
	}
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return time.Since(t0), -1, fmt.Errorf("latch-faults: %s did not exit within %s of %s; killed", n.name, limit, sig)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return time.Since(t0), n.exitCode, nil
}

// kill ends the process at once, if it runs.
func (n *node) kill() {
	if n.running() {
		_, _, _ = n.signal(syscall.SIGKILL, 5*time.Second)
	}
}

// waitReady polls /readyz until it answers 200, the process exits, or
// limit passes.
func (n *node) waitReady(ctx context.Context, hc *http.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !n.running() {
			return fmt.Errorf("latch-faults: %s exited during start-up (exit code %d); see %s", n.name, n.exitCode, n.log)
		}
		if status, _ := getStatus(ctx, hc, n.url+"/readyz"); status == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("latch-faults: %s not ready after %s; see %s", n.name, limit, n.log)
}

// getStatus GETs url and returns the status, or 0 and the error.
func getStatus(ctx context.Context, hc *http.Client, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	return res.StatusCode, nil
}

// traversable lets every user through the directories above dir, so
// that a process of another user reaches what it owns inside (mktemp -d
// makes its directory 0700).
func traversable(dir string) {
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o011)
		}
	}
}

// pgCluster is the suite's own PostgreSQL cluster: its own data directory
// and port on 127.0.0.1, never the shared server on 5432. PostgreSQL
// refuses to run as root, so as root every command runs as runAs.
type pgCluster struct {
	bin   string // directory of initdb, pg_ctl, postgres
	data  string
	log   string
	port  int
	runAs string // "" when the suite is not root
}

// findPGBin returns the newest /usr/lib/postgresql/*/bin holding pg_ctl,
// unless dir is given.
func findPGBin(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		if p, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("latch-faults: no pg_ctl under /usr/lib/postgresql/*/bin or on PATH; install postgresql or pass --pg-bin")
	}
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	return filepath.Dir(matches[0]), nil
}

// command builds a PostgreSQL command, as runAs when the suite is root.
func (pg *pgCluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, name)
	if pg.runAs == "" {
		return exec.Command(path, args...)
	}
	return exec.Command("runuser", append([]string{"-u", pg.runAs, "--", path}, args...)...)
}

func (pg *pgCluster) run(name string, args ...string) error {
	cmd := pg.command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("latch-faults: %s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 1200))
	}
	return nil
}

// initCluster makes the data directory, owned by runAs when root, and
// runs initdb with trust authentication: the cluster listens on 127.0.0.1
// only and lives as long as the run.
func (pg *pgCluster) initCluster() error {
	if err := os.MkdirAll(pg.data, 0o700); err != nil {
		return err
	}
	if pg.runAs != "" {
		u, err := osuser.Lookup(pg.runAs)
		if err != nil {
			return fmt.Errorf("latch-faults: PostgreSQL cannot run as root, and user %q is missing: %w", pg.runAs, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		traversable(pg.data)
		if err := os.Chown(pg.data, uid, gid); err != nil {
			return err
		}
		if err := os.WriteFile(pg.log, nil, 0o644); err != nil {
			return err
		}
		if err := os.Chown(pg.log, uid, gid); err != nil {
			return err
		}
	}
	return pg.run("initdb", "-D", pg.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
}

// options are the server settings, given on pg_ctl's command line so that
// a restart keeps them.
func (pg *pgCluster) options() string {
	return fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=%d -c fsync=off -c shared_buffers=32MB",
		pg.port, pgMaxConnections)
}

// pgMaxConnections is the cluster's max_connections: three nodes with
// pools of 16 and the suite's own few fit, with some room.
const pgMaxConnections = 64

func (pg *pgCluster) start() error {
	return pg.run("pg_ctl", "-D", pg.data, "-l", pg.log, "-o", pg.options(), "-w", "-t", "30", "start")
}

func (pg *pgCluster) stop() error {
	return pg.run("pg_ctl", "-D", pg.data, "-m", "fast", "-w", "-t", "30", "stop")
}

func (pg *pgCluster) restart() error {
	return pg.run("pg_ctl", "-D", pg.data, "-l", pg.log, "-o", pg.options(), "-m", "fast", "-w", "-t", "30", "restart")
}

// stopNow stops the cluster at the end of the run, bounded, if it runs.
func (pg *pgCluster) stopNow() {
	if _, err := os.Stat(filepath.Join(pg.data, "postmaster.pid")); err != nil {
		return
	}
	_ = pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "-t", "10", "stop")
}

// url is the database URL of database db for Latch and the suite.
func (pg *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

func (pg *pgCluster) createDB(ctx context.Context, name string) error {
	c, err := pgconn.Connect(ctx, pg.url("postgres"))
	if err != nil {
		return fmt.Errorf("latch-faults: connect to the private cluster: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name).ReadAll(); err != nil {
		return fmt.Errorf("latch-faults: create database: %w", err)
	}
	return nil
}

// exhaust opens connections until the server refuses one (or max is
// reached), holds them for hold, and closes them. It returns how many it
// held and the refusal.
func (pg *pgCluster) exhaust(ctx context.Context, max int, hold time.Duration, held func(n int, refusal error)) {
	var conns []*pgconn.PgConn
	var refusal error
	deadline := time.Now().Add(20 * time.Second)
	for len(conns) < max && time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := pgconn.Connect(cctx, pg.url("postgres"))
		cancel()
		if err != nil {
			refusal = err
			break
		}
		conns = append(conns, c)
	}
	held(len(conns), refusal)
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	for _, c := range conns {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Close(cctx)
		cancel()
	}
}

// haproxy is the balancer in front of the PostgreSQL nodes.
type haproxy struct {
	bin      string
	cfg      string
	log      string
	url      string
	statsURL string
	cmd      *exec.Cmd
}

// haproxyConfig is the balancer of docs/deploy.md, with the suite's ports.
// Health checks GET /readyz every second and mark a node down after two
// failures: a draining node (serve's --drain-delay) leaves the rotation
// within about 2 s, before it stops listening. L7 retries resend a request
// whose node died before answering to another node: safe for Latch, whose
// refresh answers a retry with the one response (grace), whose revocation
// is idempotent, and whose other grants only issue a token more.
func haproxyConfig(port, statsPort int, nodes []*node, errDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    log stdout format raw local0 info
    maxconn 2000

defaults
    mode http
    log global
    option log-health-checks
    timeout connect 1s
    timeout client 30s
    timeout server 35s
    timeout http-request 10s
    timeout http-keep-alive 10s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    errorfile 502 %[1]s/502.http
    errorfile 503 %[1]s/503.http
    errorfile 504 %[1]s/504.http

frontend latch
    bind 127.0.0.1:%[2]d
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2
`, errDir, port)
	for _, n := range nodes {
		fmt.Fprintf(&b, "    server %s %s check\n", n.name, strings.TrimPrefix(n.url, "http://"))
	}
	fmt.Fprintf(&b, `
listen stats
    bind 127.0.0.1:%d
    stats enable
    stats uri /stats
`, statsPort)
	return b.String()
}

// errorFile is what the balancer answers instead of its own 502, 503 and
// 504 (no node answered, none is up, one timed out): a 503 with
// Retry-After in Latch's error shape, which OAuth2 clients retry.
// X-Balancer-Error keeps the original status for the suite's count.
func errorFile(orig int) string {
	body := `{"error":"temporarily_unavailable","error_description":"No Latch node could answer; retry later."}`
	return "HTTP/1.1 503 Service Unavailable\r\n" +
		"Cache-Control: no-store\r\n" +
		"Connection: close\r\n" +
		"Content-Type: application/json\r\n" +
		"Retry-After: 1\r\n" +
		"X-Balancer-Error: " + strconv.Itoa(orig) + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"\r\n" + body
}

func (h *haproxy) start(p *procs) error {
	if out, err := exec.Command(h.bin, "-c", "-f", h.cfg).CombinedOutput(); err != nil {
		return fmt.Errorf("latch-faults: haproxy -c: %w\n%s", err, tail(out, 1200))
	}
	f, err := os.Create(h.log)
	if err != nil {
		return err
	}
	cmd := exec.Command(h.bin, "-db", "-f", h.cfg)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("latch-faults: start haproxy: %w", err)
	}
	p.track(cmd.Process.Pid)
	p.mu.Lock()
	p.others = append(p.others, cmd)
	p.mu.Unlock()
	h.cmd = cmd
	return nil
}

// serverStates reads the balancer's view of each node ("UP", "DOWN", ...)
// from its stats page.
func (h *haproxy) serverStates(ctx context.Context, hc *http.Client) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.statsURL+";csv", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		f := strings.Split(line, ",")
		// # pxname,svname,...,status is the 18th column.
		if len(f) > 17 && f[0] == "nodes" && f[1] != "BACKEND" && f[1] != "FRONTEND" {
			states[f[1]] = strings.Fields(f[17] + " ")[0]
		}
	}
	return states, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
