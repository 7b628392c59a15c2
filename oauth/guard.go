package oauth

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// The brute-force guard (RFC 6749 §4.3.2: the server MUST protect the
// password grant). Each attempt is counted in the database before the
// password is checked, per username and per client address, so parallel
// attempts on any number of nodes cannot get more than the limit of real
// password checks. Usernames are counted whether they exist or not, under
// an HMAC keyed by the server secret (see [Provider.usernameKey]): people
// type passwords into the username field.

// retryAfter carries how long a refused caller should wait.
type retryAfter struct {
	d   time.Duration
	err error
}

func (r *retryAfter) Error() string { return fmt.Sprintf("retry after %s: %v", r.d, r.err) }
func (r *retryAfter) Unwrap() error { return r.err }

// RetryAfter reports how long the caller refused with err should wait, for
// the Retry-After header, when err says so.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryAfter
	if errors.As(err, &r) {
		return r.d, true
	}
	return 0, false
}

var errLockedOut = errors.New("oauth: too many failed logins")

// loginAttempt is one reserved password check.
type loginAttempt struct {
	userKey, addrKey string
}

// reserveLogin counts an attempt for username and the caller's address. It
// refuses, without any hashing, once either is over its limit.
func (p *Provider) reserveLogin(ctx context.Context, username string) (*loginAttempt, error) {
	now, window := p.now(), p.cfg.LoginLockout
	a := &loginAttempt{userKey: p.usernameKey(username)}
	keys := []string{a.userKey}
	if addr := requestInfo(ctx).Address; addr != "" {
		a.addrKey = "addr:" + addr
		keys = append(keys, a.addrKey)
	}
	// A read first: an attempt that is over a limit already is refused
	// without a write, so that guessing on past a lockout costs the database
	// one read per guess. The reservation below is what counts exactly. A
	// guess refused here does not push the counter's expiry either: the
	// lockout ends LoginLockout after the last attempt counted, whether or
	// not the guessing goes on, and Retry-After says what is left of it.
	counts, err := p.store.CountAttempts(ctx, now, keys...)
	if err != nil {
		return nil, err
	}
	user, addr := counts[0], storage.AttemptCount{}
	if len(counts) > 1 {
		addr = counts[1]
	}
	if reason := p.overLimit(user.Count+1, addr.Count+1); reason != "" {
		// The refusal lasts until every counter over its limit has expired:
		// never longer than a window, even when the node that wrote the
		// expiry has a clock ahead of this one.
		var left time.Duration
		if user.Count >= p.cfg.LoginMaxFailures {
			left = user.ExpiresAt.Sub(now)
		}
		if addr.Count >= p.cfg.LoginMaxFailuresPerAddress {
			left = max(left, addr.ExpiresAt.Sub(now))
		}
		return nil, p.lockedOut(ctx, a, reason, now, min(left, window))
	}
	var n, m int
	err = p.onKeys(ctx, a, func(ctx context.Context, key string) (err error) {
		n, err = p.store.ReserveAttempt(ctx, key, now, window)
		return err
	}, func(ctx context.Context, key string) (err error) {
		m, err = p.store.ReserveAttempt(ctx, key, now, window)
		return err
	})
	if err != nil {
		return nil, err
	}
	reason := p.overLimit(n, m)
	if reason == "" {
		return a, nil
	}
	// A refused attempt checked no password: it gives its reservations back,
	// so that the counters hold failures (and checks in flight) only, and a
	// burst of logins from one address cannot lock it out by itself. (Its
	// reservation did push the counter's expiry to a full window from now.)
	p.release(ctx, a)
	return nil, p.lockedOut(ctx, a, reason, now, window)
}

// loginGuardKey derives the key of the guard's username counters from the
// server secret, apart from every other key derived from it.
func loginGuardKey(secret []byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, "latch login guard v1", 32)
	if err != nil {
		return nil, fmt.Errorf("oauth: derive login guard key: %w", err)
	}
	return key, nil
}

// usernameKey is the counter key of username: HMAC-SHA256 under the guard's
// key. An unsalted hash would give a password typed into the username field
// to anyone with a dump of the database and a dictionary; without the
// secret no guess can be tested against these keys. Only the current secret
// keys them: after a secret rotation the counters start again, and the old
// rows expire within LoginLockout.
func (p *Provider) usernameKey(username string) string {
	m := hmac.New(sha256.New, p.guardKey)
	m.Write([]byte(username))
	return "user:" + b64.EncodeToString(m.Sum(nil))
}

// overLimit names the limit that n attempts for a username and m from an
// address go over ("username" or "address"), or returns "".
func (p *Provider) overLimit(n, m int) string {
	switch {
	case n > p.cfg.LoginMaxFailures:
		return "username"
	case m > p.cfg.LoginMaxFailuresPerAddress:
		return "address"
	}
	return ""
}

// lockedOut reports a's refusal for reason and returns the error that
// answers it, which says to retry after left, what is left of the lockout.
func (p *Provider) lockedOut(ctx context.Context, a *loginAttempt, reason string, now time.Time, left time.Duration) error {
	window := p.cfg.LoginLockout
	// One event and count per lockout (per node), not per refused attempt:
	// an attack would otherwise write an audit row per guess.
	key := a.userKey
	if reason == "address" {
		key = a.addrKey
	}
	if p.lockouts.first(key, now, window) {
		p.metrics.lockouts.WithLabelValues(reason).Inc()
		if err := p.audit(ctx, storage.Event{Type: EventLockout, Reason: reason}); err != nil {
			return err
		}
	}
	return fosite.ErrInvalidGrant.WithHint("Too many failed attempts; retry later.").
		WithWrap(&retryAfter{d: left, err: errLockedOut})
}

// settle clears the username's failures and gives the address its attempt
// back, after a right password: only failures count against an address. It
// joins the caller's transaction, if any.
func (p *Provider) settle(ctx context.Context, a *loginAttempt) error {
	if a == nil {
		return nil
	}
	return p.onKeys(ctx, a, p.store.ResetAttempts, p.store.ReleaseAttempt)
}

// unlock clears the username counter of user id, last in the caller's
// transaction, if any, as a login settles its attempt: the counter, which
// every login of the username updates, stays locked for the shortest time.
func (p *Provider) unlock(ctx context.Context, id string) error {
	u, err := p.store.GetUser(ctx, id)
	if err != nil {
		return err
	}
	key := p.usernameKey(u.Username)
	if err := p.store.ResetAttempts(ctx, key); err != nil {
		return err
	}
	// A lockout after this one is news again (on this node; the others
	// forget it within LoginLockout).
	p.lockouts.forget(key)
	return nil
}

// succeeded settles a, in a transaction of its own, for a login whose own
// transaction failed.
func (p *Provider) succeeded(ctx context.Context, a *loginAttempt) {
	ctx, cancel := guardCleanup(ctx)
	defer cancel()
	if err := p.settle(ctx, a); err != nil {
		p.log.WarnContext(ctx, "login guard: could not clear attempts", "err", err)
	}
}

// release gives back both reservations of an attempt that checked nothing.
func (p *Provider) release(ctx context.Context, a *loginAttempt) {
	ctx, cancel := guardCleanup(ctx)
	defer cancel()
	if err := p.onKeys(ctx, a, p.store.ReleaseAttempt, p.store.ReleaseAttempt); err != nil {
		p.log.WarnContext(ctx, "login guard: could not release attempts", "err", err)
	}
}

// guardCleanup returns the context in which an attempt is given back: the
// request's values without its end. A client that hangs up or times out
// (often why the login failed) must not leave a right password, or a check
// that never ran, counted as a failure until the lockout window ends.
func guardCleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// onKeys runs onUser on the attempt's username key, then onAddr on its
// address key (if the request had an address), in one transaction: one
// commit to wait for, where there were two, and under a flood of logins
// the guard's commits queue with everyone else's (docs/performance.md).
// Every login takes the keys in this order, so two never wait on each
// other's rows in a cycle.
func (p *Provider) onKeys(ctx context.Context, a *loginAttempt, onUser, onAddr func(ctx context.Context, key string) error) error {
	return p.store.InTx(ctx, func(ctx context.Context) error {
		if err := onUser(ctx, a.userKey); err != nil || a.addrKey == "" {
			return err
		}
		return onAddr(ctx, a.addrKey)
	})
}

// lockoutLog remembers which keys were reported locked out, so that a
// lockout is reported once per window.
type lockoutLog struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// forget drops what is known of key.
func (l *lockoutLog) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.until, key)
}

// first reports whether key is not yet known locked out at now, and
// remembers it until now+window.
func (l *lockoutLog) first(key string, now time.Time, window time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.until[key]; ok && now.Before(until) {
		return false
	}
	if l.until == nil || len(l.until) > 100_000 {
		l.until = map[string]time.Time{} // bounded: forget rather than grow
	}
	l.until[key] = now.Add(window)
	return true
}
