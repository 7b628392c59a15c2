package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The client guard: online guessing of a client secret that an operator
// chose. Such a secret may be as weak as a password, so it is hashed with
// argon2id, and each guess costs the server a hash. Failures are counted
// per client id, in the login guard's AttemptStore under keys of their
// own, for the ids whose check costs an argon2id verification: clients
// with a chosen secret and ids that do not exist (counted alike, so that a
// lockout says nothing about whether an id exists). Secrets Latch
// generated (256 bits, SHA-256) are neither guarded nor counted: no one can
// guess them, and the guard's writes would cost every token request.
//
// A lockout refuses every authentication of that id, the real client's
// too, until the window ends: whoever knows a chosen-secret client's id
// can keep it locked out. That is the price of stopping the guessing;
// a client with a generated secret does not pay it.
const (
	// defaultClientAuthMaxFailures allows a misconfigured client (an old
	// secret after a rotation) some retries, and a guesser 80 an hour.
	defaultClientAuthMaxFailures = 20
	defaultClientAuthLockout     = 15 * time.Minute
)

var errClientLockedOut = errors.New("oauth: too many failed client authentications")

// clientGuardKey is the attempt counter of client id. A hash: an unknown
// id is whatever a caller sent.
func clientGuardKey(id string) string { return "client:" + tokenKey(id) }

// reserveClientAuth counts an authentication of client id before its
// secret is hashed, and refuses it, without hashing, once the id is over
// its limit. Like reserveLogin it reads first, so that guessing on past a
// lockout costs the database a read per guess and pushes no expiry.
func (p *Provider) reserveClientAuth(ctx context.Context, id string) (string, error) {
	now, window, limit := p.now(), p.cfg.ClientAuthLockout, p.cfg.ClientAuthMaxFailures
	key := clientGuardKey(id)
	counts, err := p.store.CountAttempts(ctx, now, key)
	if err != nil {
		return "", err
	}
	if counts[0].Count >= limit {
		return "", p.clientLockedOut(ctx, id, key, now, min(counts[0].ExpiresAt.Sub(now), window))
	}
	n, err := p.store.ReserveAttempt(ctx, key, now, window)
	if err != nil {
		return "", err
	}
	if n > limit {
		p.releaseClientAuth(ctx, key)
		return "", p.clientLockedOut(ctx, id, key, now, window)
	}
	return key, nil
}

// releaseClientAuth gives back a reservation that judged no wrong secret:
// a right one (failures are what counts, and a busy client must not lock
// itself out), or a check that never ran.
func (p *Provider) releaseClientAuth(ctx context.Context, key string) {
	ctx, cancel := guardCleanup(ctx)
	defer cancel()
	if err := p.store.ReleaseAttempt(ctx, key); err != nil {
		p.log.WarnContext(ctx, "client guard: could not release an attempt", "err", err)
	}
}

// clientLockedOut reports a refusal of client id, once per window and
// node in the log, and returns its answer: the one of every failed client
// authentication, with a Retry-After of what is left of the lockout.
func (p *Provider) clientLockedOut(ctx context.Context, id, key string, now time.Time, left time.Duration) error {
	if p.lockouts.first(key, now, p.cfg.ClientAuthLockout) {
		p.log.WarnContext(ctx, "client authentication locked out", "client_id", truncate(id, 64),
			"failures", p.cfg.ClientAuthMaxFailures, "window", p.cfg.ClientAuthLockout)
	}
	reason := fmt.Sprintf("locked out after %d failures", p.cfg.ClientAuthMaxFailures)
	return clientAuthFailed(reason, &retryAfter{d: left, err: errClientLockedOut})
}
