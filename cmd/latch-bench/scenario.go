package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// op is one kind of request.
type op uint8

const (
	opPassword op = iota
	opRefresh
	opClientCredentials
	opIntrospect
	opRevoke
	opHash
	numOps
)

var opNames = [numOps]string{"password", "refresh", "client_credentials", "introspect", "revoke", "hash"}

func (o op) String() string { return opNames[o] }

// weighted is one entry of a scenario's mix.
type weighted struct {
	op     op
	weight int
}

// picker draws an op by weight. cum holds the running sums of the weights.
type picker struct {
	ops []op
	cum []int
}

func newPicker(mix []weighted) picker {
	var p picker
	total := 0
	for _, w := range mix {
		if w.weight <= 0 {
			panic("latch-bench: non-positive weight in a scenario mix")
		}
		total += w.weight
		p.ops = append(p.ops, w.op)
		p.cum = append(p.cum, total)
	}
	return p
}

func (p picker) total() int { return p.cum[len(p.cum)-1] }

// at maps n in [0, total) to its op: weights are consecutive ranges.
func (p picker) at(n int) op {
	i, _ := slices.BinarySearch(p.cum, n+1)
	return p.ops[i]
}

// pick draws an op with probability weight/total.
func (p picker) pick(r *rand.Rand) op {
	if len(p.ops) == 1 {
		return p.ops[0]
	}
	return p.at(r.IntN(p.total()))
}

func (p picker) has(o op) bool { return slices.Contains(p.ops, o) }

// needsServer reports whether any op of the mix talks to Latch.
func (p picker) needsServer() bool {
	return slices.ContainsFunc(p.ops, func(o op) bool { return o != opHash })
}

// scenarios in the order "all" runs them: hash next to password, whose
// ceiling it is.
var scenarioNames = []string{"hash", "password", "refresh", "client_credentials", "introspect", "revoke", "mixed"}

var mixes = map[string][]weighted{
	"hash":               {{opHash, 1}},
	"password":           {{opPassword, 1}},
	"refresh":            {{opRefresh, 1}},
	"client_credentials": {{opClientCredentials, 1}},
	"introspect":         {{opIntrospect, 1}},
	"revoke":             {{opRevoke, 1}},
	"mixed":              {{opIntrospect, 80}, {opRefresh, 15}, {opPassword, 4}, {opRevoke, 1}},
}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "all":
			out = append(out, scenarioNames...)
		case mixes[name] != nil:
			out = append(out, name)
		default:
			return nil, fmt.Errorf("latch-bench: unknown scenario %q (want %s or all)", name, strings.Join(scenarioNames, ", "))
		}
	}
	return out, nil
}

// needsServer reports whether any scenario talks to Latch (hash does not).
func needsServer(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return n != "hash" })
}

// Argon2id cost of Latch's password hashes (oauth.defaultArgon2, OWASP's
// minimum): the hash scenario times exactly this.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
)

// worker is one virtual user. Nothing in it is shared but what
// it only reads: the bench and the wire target.
type worker struct {
	b    *bench
	rng  *rand.Rand
	user user
	// refresh is the refresh token of this worker's own login.
	refresh string
	// spare is a revocable token issued after the pool ran out (mixed).
	spare string
	stats [numOps]samples
	// clock, when set, is when the latency of the next request starts: in
	// an open-loop run, the moment it fell due (see schedule.wait).
	clock time.Time
	salt  []byte
	// wire carries the timed requests; form is their body, reused.
	wire *wireConn
	form []byte
	// passwordBody is the form of this worker's password grant, which
	// never changes.
	passwordBody string
}

func newWorker(b *bench, u user, target *wireTarget) *worker {
	return &worker{
		b:            b,
		rng:          rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		user:         u,
		wire:         newWireConn(target),
		passwordBody: passwordForm(u).Encode(),
	}
}

// revokePool hands out each token once.
type revokePool struct {
	tokens []string
	next   atomic.Int64
	// exhaustedAt is the offset into the timed phase when a worker first
	// found the pool empty, in nanoseconds (0: never).
	exhaustedAt atomic.Int64
}

func (p *revokePool) take() (string, bool) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.tokens)) {
		return "", false
	}
	return p.tokens[i], true
}

// runScenario prepares a scenario's state outside the clock (logins, token
// pools), then runs its timed phase and summarizes it.
func (b *bench) runScenario(ctx context.Context, name string) (result, error) {
	mix := newPicker(mixes[name])
	conc := b.cfg.concurrency
	target, err := newWireTarget(b.cfg.baseURL, b.basicAuth, b.cfg.timeout, nil)
	if err != nil {
		return result{}, err
	}
	workers := make([]*worker, conc)
	for i := range workers {
		var u user
		if len(b.users) > 0 {
			u = b.users[i%len(b.users)]
		}
		w := newWorker(b, u, target)
		if mix.has(opHash) {
			w.salt = []byte(randomHex(8))
		}
		workers[i] = w
	}
	defer func() {
		for _, w := range workers {
			w.wire.close()
		}
	}()
	if mix.has(opRefresh) {
		// Each worker starts its own login, so rotations never contend.
		err := parallel(ctx, conc, conc, func(ctx context.Context, i int) error {
			t, err := b.token(ctx, passwordForm(workers[i].user))
			if err != nil {
				return fmt.Errorf("latch-bench: %s: initial login of %s: %w", name, workers[i].user.username, err)
			}
			if t.RefreshToken == "" {
				return fmt.Errorf("latch-bench: %s: the password grant issued no refresh token", name)
			}
			workers[i].refresh = t.RefreshToken
			return nil
		})
		if err != nil {
			return result{}, err
		}
	}
	if mix.has(opIntrospect) {
		if err := b.ensureIntrospectPool(ctx); err != nil {
			return result{}, err
		}
	}
	// Revocation needs a distinct live token per request. Alone, the scenario
	// ends when its pool runs out; within mixed, a worker that finds the pool
	// empty gets a fresh token first, outside the clock.
	var pool *revokePool
	stopWhenEmpty := false
	if mix.has(opRevoke) {
		n := b.cfg.revokePool
		if len(mix.ops) > 1 {
			n = max(n/50, 100) // mixed: revocations are 1% of requests
		} else {
			stopWhenEmpty = true
		}
		tokens, err := b.issueTokens(ctx, name+": revoke pool", n)
		if err != nil {
			return result{}, err
		}
		pool = &revokePool{tokens: tokens}
	}
	if err := b.settle(ctx, name); err != nil {
		return result{}, err
	}
	if mix.needsServer() {
		// Connect outside the clock: net/http's pool had warm connections
		// from the phases above, and a first request should not time a
		// dial (or a TLS handshake) that later ones don't.
		err := parallel(ctx, conc, conc, func(ctx context.Context, i int) error {
			return workers[i].wire.connect(ctx)
		})
		if err != nil {
			return result{}, fmt.Errorf("latch-bench: %s: %s", name, shortNetError(err))
		}
	}

	cpuBefore, cpuOK := b.serverCPU(ctx)
	var pgBefore float64
	pgOK := false
	if b.cfg.pgCPU {
		pgBefore, pgOK = postgresCPU()
	}
	var count atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(b.cfg.duration)
	prog := startProgress(b.progress, b.stderr, name, &count, b.cfg.duration, 0)
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			sched := newSchedule(b.cfg.rate, conc, i, start)
			// An open loop sends every request due before the deadline,
			// however late; its schedule ends the loop.
			for runCtx.Err() == nil && (sched != nil || time.Now().Before(deadline)) {
				if sched != nil {
					clock, ok := sched.wait(runCtx, deadline)
					if !ok {
						return
					}
					w.clock = clock
				}
				o := mix.pick(w.rng)
				if !w.do(runCtx, o, pool, start) {
					if stopWhenEmpty {
						return
					}
					if err := w.refill(runCtx, pool); err != nil {
						w.stats[opRevoke].fail(errKey{code: "refill: " + err.Error()})
						time.Sleep(50 * time.Millisecond)
						continue
					}
					w.do(runCtx, o, pool, start)
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	prog.done()

	var all []*samples
	var ops []result
	for o := range numOps {
		parts := make([]*samples, 0, len(workers))
		for _, w := range workers {
			parts = append(parts, &w.stats[o])
		}
		all = append(all, parts...)
		if len(mix.ops) > 1 && mix.has(o) {
			ops = append(ops, summarize(o.String(), elapsed, parts))
		}
	}
	res := summarize(name, elapsed, all)
	res.Concurrency = conc
	if cpuAfter, ok := b.serverCPU(ctx); cpuOK && ok {
		res.ServerCPUMicros = microsPerRequest(cpuBefore, cpuAfter, res.Requests)
	}
	if pgAfter, ok := postgresCPU(); pgOK && ok {
		res.DatabaseCPUMicros = microsPerRequest(pgBefore, pgAfter, res.Requests)
	}
	res.Ops = ops
	if pool != nil && stopWhenEmpty {
		if at := pool.exhaustedAt.Load(); at != 0 {
			res.Note = fmt.Sprintf("the pool of %d tokens ran out after %.2fs; raise --revoke-pool for a full run", len(pool.tokens), time.Duration(at).Seconds())
		}
	}
	return res, nil
}

// refill gives the worker its own revocable token, issued outside the clock,
// once the shared pool is empty.
func (w *worker) refill(ctx context.Context, pool *revokePool) error {
	t, err := w.b.token(ctx, clientCredentialsForm)
	if err != nil {
		return err
	}
	w.spare = t.AccessToken
	return nil
}

// do runs and records one timed request. It returns false, recording
// nothing, only when o is revoke and the pool is empty.
func (w *worker) do(ctx context.Context, o op, pool *revokePool, start time.Time) bool {
	if o == opHash {
		// Like Latch, hash on at most one goroutine per CPU and let the
		// other workers queue: 32 simultaneous 19 MiB hashes would measure
		// the garbage collector, not the ceiling. Latency includes the wait,
		// as a password grant's does.
		t0 := w.startClock()
		w.b.hashSlots <- struct{}{}
		argon2.IDKey([]byte("bench-password"), w.salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
		<-w.b.hashSlots
		w.stats[o].lat = append(w.stats[o].lat, time.Since(t0))
		return true
	}
	path, tok := "/oauth2/token", ""
	switch o {
	case opRefresh:
		tok = w.refresh
	case opIntrospect:
		path, tok = "/oauth2/introspect", w.b.introspectPool[w.rng.IntN(len(w.b.introspectPool))]
	case opRevoke:
		tok = w.spare
		w.spare = ""
		if tok == "" {
			var ok bool
			if tok, ok = pool.take(); !ok {
				pool.exhaustedAt.CompareAndSwap(0, int64(time.Since(start)))
				return false
			}
		}
		path = "/oauth2/revoke"
	}
	w.form = w.appendForm(w.form[:0], o, tok)

	t0 := w.startClock()
	status, body, err := w.wire.post(ctx, path, w.form)
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return true // interrupted: neither a sample nor an error
		}
		w.stats[o].lat = append(w.stats[o].lat, d)
		w.stats[o].fail(errKey{code: shortNetError(err)})
		// A refresh whose answer was lost is retried with the same token,
		// which the server's grace window answers again (API.md).
		return true
	}
	st := &w.stats[o]
	st.lat = append(st.lat, d)
	if status/100 != 2 {
		st.fail(errKey{status: status, code: oauthErrorCode(body)})
		if o == opRefresh && status == http.StatusBadRequest {
			w.relogin(ctx)
		}
		return true
	}
	switch o {
	case opRefresh:
		var t tokenAnswer
		if json.Unmarshal(body, &t) != nil || t.RefreshToken == "" {
			st.fail(errKey{status: status, code: "no refresh_token"})
			w.relogin(ctx)
			return true
		}
		w.refresh = t.RefreshToken
	case opIntrospect:
		var in struct {
			Active bool `json:"active"`
		}
		if json.Unmarshal(body, &in) != nil || !in.Active {
			st.fail(errKey{status: status, code: "inactive"})
		}
	}
	return true
}

// appendForm appends the body of a timed o request about tok (the refresh
// token, or the token to introspect or revoke) to dst. The bytes are those
// url.Values.Encode gives, keys sorted, without building a url.Values:
// QueryEscape returns its argument when there is nothing to escape, as in
// Latch's tokens.
func (w *worker) appendForm(dst []byte, o op, tok string) []byte {
	switch o {
	case opPassword:
		return append(dst, w.passwordBody...)
	case opRefresh:
		return appendQuery(dst, "grant_type", "refresh_token", "refresh_token", tok)
	case opClientCredentials:
		return append(dst, clientCredentialsBody...)
	default: // introspect, revoke
		return appendQuery(dst, "token", tok, "token_type_hint", "access_token")
	}
}

// appendQuery appends key=value pairs, given in order, escaped and joined
// by "&".
func appendQuery(dst []byte, pairs ...string) []byte {
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, url.QueryEscape(pairs[i])...)
		dst = append(dst, '=')
		dst = append(dst, url.QueryEscape(pairs[i+1])...)
	}
	return dst
}

// relogin starts a new login after the worker's refresh chain broke, outside
// the clock. If it fails, the next refresh fails too and is counted.
func (w *worker) relogin(ctx context.Context) {
	t, err := w.b.token(ctx, passwordForm(w.user))
	if err != nil {
		time.Sleep(50 * time.Millisecond) // don't spin against a failing server
		return
	}
	w.refresh = t.RefreshToken
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}

// settle runs the --settle command, if any, before a timed phase: the
// writes of the fixtures and of the scenario before (vacuum, checkpoint)
// should not land in this scenario's clock.
func (b *bench) settle(ctx context.Context, name string) error {
	if b.cfg.settle == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", b.cfg.settle)
	cmd.Stdout, cmd.Stderr = b.stderr, b.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("latch-bench: %s: --settle command: %w", name, err)
	}
	return nil
}

// startClock returns when the latency of the request about to be sent
// starts: now, or the due time an open-loop schedule set (once).
func (w *worker) startClock() time.Time {
	t := w.clock
	w.clock = time.Time{}
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// schedule paces one worker of an open-loop run (--rate): its requests fall
// due every interval whatever the speed of the answers, and the workers'
// schedules are staggered evenly across one interval.
type schedule struct {
	next     time.Time
	interval time.Duration
}

// newSchedule returns the schedule of worker i of workers at rate requests
// per second in all, or nil for a closed loop (rate 0).
func newSchedule(rate float64, workers, i int, start time.Time) *schedule {
	if rate == 0 {
		return nil
	}
	interval := time.Duration(float64(workers) / rate * float64(time.Second))
	return &schedule{next: start.Add(interval * time.Duration(i) / time.Duration(workers)), interval: interval}
}

// wait sleeps until the next request falls due and returns when its latency
// starts. On time, that is when the sleep ends (the timer's lateness is the
// tool's, not the server's). Behind, because an earlier answer came late,
// it is the due time: the wait to send counts, as it would for a user, so
// a slow answer cannot hide the queue behind it (coordinated omission). It
// returns false when the run ends before the next request is due.
func (s *schedule) wait(ctx context.Context, deadline time.Time) (time.Time, bool) {
	due := s.next
	s.next = s.next.Add(s.interval)
	if !due.Before(deadline) {
		return time.Time{}, false
	}
	d := time.Until(due)
	if d <= 0 {
		return due, true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return time.Now(), true
	case <-ctx.Done():
		return time.Time{}, false
	}
}
