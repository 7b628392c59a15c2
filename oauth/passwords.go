package oauth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
)

// passwords hashes and verifies user passwords, and client secrets that an
// operator chose, in a bounded pool. argon2id costs ~19 MiB and tens of
// milliseconds of a core per call: a flood of password grants or of wrong
// client secrets queues here and, past a short wait, is answered 503, so it
// cannot starve refresh, introspection or revocation of CPU and memory.
type passwords struct {
	params argon2Params
	slots  chan struct{}
	wait   time.Duration

	dummyOnce sync.Once
	dummy     string

	// checks counts verifications actually run (tests use it to show that
	// the guards refuse without hashing).
	checks atomic.Int64
}

func newPasswords(params argon2Params, concurrency int, wait time.Duration) *passwords {
	return &passwords{params: params, slots: make(chan struct{}, concurrency), wait: wait}
}

// errHashBusy means every hashing slot stayed taken past the wait.
var errHashBusy = errors.New("oauth: password hashing is saturated")

// acquire takes a hashing slot. A login waits at most pw.wait, then is
// answered 503; an operator's request (bounded false) waits as long as its
// context allows, so that a flood of logins cannot make the admin API fail.
// A request that ends while it waits gets its context's error: it judged
// nothing, and [Canceled] says so.
func (pw *passwords) acquire(ctx context.Context, bounded bool) error {
	select {
	case pw.slots <- struct{}{}:
		return nil
	default:
	}
	if !bounded {
		select {
		case pw.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("oauth: wait for a hashing slot: %w", ctx.Err())
		}
	}
	t := time.NewTimer(pw.wait)
	defer t.Stop()
	select {
	case pw.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errHashBusy
	case <-ctx.Done():
		return fmt.Errorf("oauth: wait for a hashing slot: %w", ctx.Err())
	}
}

func (pw *passwords) release() { <-pw.slots }

// hash returns an argon2id hash of password at the configured cost; it
// serves operators (and the upgrade of a hash at login), so it queues.
func (pw *passwords) hash(ctx context.Context, password string) (string, error) {
	if err := pw.acquire(ctx, false); err != nil {
		return "", err
	}
	defer pw.release()
	var h string
	var err error
	lowPriority(func() { h, err = hashArgon2id(password, pw.params) })
	return h, err
}

// verify checks password against hash; an empty hash (unknown user) is
// checked against a dummy hash of the same cost, so that it takes as long
// as a wrong password. It returns errHashMismatch for a wrong password.
func (pw *passwords) verify(ctx context.Context, hash, password string) error {
	if err := pw.acquire(ctx, true); err != nil {
		return err
	}
	defer pw.release()
	pw.checks.Add(1)
	var err error
	lowPriority(func() {
		if hash == "" {
			pw.dummyOnce.Do(func() { pw.dummy, _ = hashArgon2id("latch-dummy-password", pw.params) })
			_ = verifyHash(pw.dummy, password)
			err = errHashMismatch
			return
		}
		err = verifyHash(hash, password)
	})
	return err
}

// lowPriority runs work on an operating-system thread of its own, lowered
// to nice 10, and ends that thread afterwards.
//
// Only work's own goroutine runs at nice 10. oauth/argon2id (as x/crypto)
// computes each segment of a hash on a goroutine it starts, which runs on
// any thread at normal priority, so a hash mostly waits on this thread.
// Of the arrangements measured under a password flood (docs/performance.md,
// 2026-11-27), this one still gave refresh and introspection the shortest
// tails: hashing wholly on this thread (with an argon2id of our own, at
// nice 10 or 0) gave lower medians but p99s about twice as long, and
// hashing on the request goroutine longer medians and tails. Why is not
// understood; measure before changing it.
func lowPriority(work func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Exiting while locked ends the thread, so the lowered priority
		// never reaches another goroutine.
		runtime.LockOSThread()
		lowerThreadPriority()
		work()
	}()
	<-done
}

// busyError answers a saturated hashing pool with 503 and a Retry-After.
func busyError(err error) error {
	return fosite.ErrTemporarilyUnavailable.WithHint("Too many password checks at once; retry shortly.").WithWrap(&retryAfter{d: time.Second, err: err})
}
