package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/latchhq/latch/storage"
)

// RotateClientSecret gives a confidential client a new generated secret
// and returns it in the clear, this once. The old secret is refused from
// the moment it returns, on every node: client authentication reads the
// client from the database on every request. The client's logins go on.
// Errors have the code ENotFound for an unknown client and EInvalid for a
// public one, which has no secret.
func (p *Provider) RotateClientSecret(ctx context.Context, id string) (string, error) {
	// 256 bits, stored as SHA-256, as CreateClient generates them.
	secret := randomString(32)
	err := p.inTx(ctx, func(ctx context.Context) error {
		c, err := p.store.GetClient(ctx, id)
		if err != nil {
			return err
		}
		if c.IsPublic() {
			return invalid("client %q is public (token_endpoint_auth_method none) and has no secret", truncate(id, 80))
		}
		return p.store.SetClientSecret(ctx, id, hashSHA256(secret))
	})
	if err != nil {
		return "", fmt.Errorf("oauth: rotate client secret: %w", err)
	}
	p.log.InfoContext(ctx, "client secret rotated", "client_id", id)
	return secret, nil
}

// MaxUserSearch is the most users [Provider.SearchUsers] returns.
const MaxUserSearch = 100

// SearchUsers returns at most limit users (1 to [MaxUserSearch]) whose
// username starts with prefix, case-sensitive, ordered by username.
func (p *Provider) SearchUsers(ctx context.Context, prefix string, limit int) ([]storage.User, error) {
	if limit < 1 || limit > MaxUserSearch {
		return nil, invalid("limit: must be 1 to %d", MaxUserSearch)
	}
	return p.store.ListUsers(ctx, prefix, limit)
}

// Limits of [Provider.Stats]: a window of at most a week, in at most
// MaxStatsBuckets buckets of at least a minute.
const (
	MaxStatsWindow  = 7 * 24 * time.Hour
	MinStatsStep    = time.Minute
	MaxStatsBuckets = 1440
)

// Stats is the console's overview: counts of audit events per bucket of a
// window, and the live counts.
type Stats struct {
	Window, Step time.Duration
	// Since is the start of the first bucket, Until the instant of the
	// counts. Buckets are aligned on multiples of Step since the Unix
	// epoch, so that a chart asked for twice shows the same edges.
	Since, Until time.Time
	Buckets      []StatsBucket
	// LiveLogins counts the logins neither ended nor expired now.
	LiveLogins int64
	// LastHour counts the events of the last hour.
	LastHour StatsBucket
	// Failures counts, for the last hour, the events that tell of a
	// refusal or an ended login, by type and reason.
	Failures []storage.EventCount
}

// StatsBucket counts the events of one bucket.
type StatsBucket struct {
	Start time.Time
	// Logins counts issued events (password grants that started a login).
	Logins int64
	// Refreshes counts refreshed events (rotations).
	Refreshes int64
	// RefusedLogins counts lockout events: the password grant began to
	// refuse a username or an address. A single wrong password is not
	// stored (an attack would write a row per guess); /metrics counts it.
	RefusedLogins int64
	// ReuseDetections counts reuse_detected events, enforced or reported.
	ReuseDetections int64
	// Revocations counts family_revoked events: logins ended, for any
	// reason.
	Revocations int64
	// Signals counts the refreshes that raised refresh-time signals, and
	// the logins such signals ended (LATCH_ANOMALY_ACTION=revoke).
	Signals int64
}

// statsTypes are the event types Stats counts.
var statsTypes = []string{EventIssued, EventRefreshed, EventLockout, EventReuseDetected, EventFamilyRevoked}

// signalTypes are the event types that carry refresh-time signals.
var signalTypes = []string{EventRefreshed, EventFamilyRevoked}

// failureTypes are the event types Stats.Failures reports.
var failureTypes = map[string]bool{EventLockout: true, EventReuseDetected: true, EventFamilyRevoked: true}

// Stats counts the audit events of the window up to now in buckets of step,
// and the live counts. Errors have the code EInvalid when window or step
// are out of bounds (see the limits above) or make too many buckets.
func (p *Provider) Stats(ctx context.Context, window, step time.Duration) (*Stats, error) {
	switch {
	case window <= 0 || window > MaxStatsWindow:
		return nil, invalid("window: must be more than 0 and at most %s", fmtDuration(MaxStatsWindow))
	case step < MinStatsStep:
		return nil, invalid("step: must be at least %s", fmtDuration(MinStatsStep))
	case step > window:
		return nil, invalid("step: must not exceed the window")
	case (window+step-1)/step > MaxStatsBuckets:
		return nil, invalid("window/step makes %d buckets; at most %d", (window+step-1)/step, MaxStatsBuckets)
	}
	n := int((window + step - 1) / step)
	now := p.now()
	end := now.Truncate(step).Add(step)
	st := &Stats{Window: window, Step: step, Since: end.Add(-time.Duration(n) * step), Until: now, Buckets: make([]StatsBucket, n)}
	for i := range st.Buckets {
		st.Buckets[i].Start = st.Since.Add(time.Duration(i) * step)
	}
	counts, err := p.store.CountEvents(ctx, storage.EventCountQuery{
		Since: st.Since, Until: now.Add(time.Microsecond), Step: step, Types: statsTypes,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: stats: %w", err)
	}
	for _, c := range counts {
		if c.Bucket >= 0 && c.Bucket < n {
			st.Buckets[c.Bucket].add(c)
		}
	}
	signaled, err := p.store.CountEvents(ctx, storage.EventCountQuery{
		Since: st.Since, Until: now.Add(time.Microsecond), Step: step, Types: signalTypes, Signaled: true,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: stats: %w", err)
	}
	for _, c := range signaled {
		if c.Bucket >= 0 && c.Bucket < n {
			st.Buckets[c.Bucket].Signals += c.Count
		}
	}
	hour, err := p.store.CountEvents(ctx, storage.EventCountQuery{
		Since: now.Add(-time.Hour), Until: now.Add(time.Microsecond), Step: time.Hour + time.Microsecond,
		Types: statsTypes, ByReason: true,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: stats: %w", err)
	}
	hourSignaled, err := p.store.CountEvents(ctx, storage.EventCountQuery{
		Since: now.Add(-time.Hour), Until: now.Add(time.Microsecond), Step: time.Hour + time.Microsecond,
		Types: signalTypes, Signaled: true,
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: stats: %w", err)
	}
	for _, c := range hourSignaled {
		st.LastHour.Signals += c.Count
	}
	st.LastHour.Start = now.Add(-time.Hour)
	st.Failures = []storage.EventCount{}
	for _, c := range hour {
		st.LastHour.add(c)
		if failureTypes[c.Type] {
			st.Failures = append(st.Failures, c)
		}
	}
	if st.LiveLogins, err = p.store.CountLiveFamilies(ctx, now); err != nil {
		return nil, fmt.Errorf("oauth: stats: %w", err)
	}
	return st, nil
}

func (b *StatsBucket) add(c storage.EventCount) {
	switch c.Type {
	case EventIssued:
		b.Logins += c.Count
	case EventRefreshed:
		b.Refreshes += c.Count
	case EventLockout:
		b.RefusedLogins += c.Count
	case EventReuseDetected:
		b.ReuseDetections += c.Count
	case EventFamilyRevoked:
		b.Revocations += c.Count
	}
}

// fmtDuration writes d the way settings are written: 168h, 1m.
func fmtDuration(d time.Duration) string {
	s := d.String()
	for _, suffix := range []string{"0s", "0m"} {
		if len(s) > len(suffix)+1 && s[len(s)-len(suffix):] == suffix && s[len(s)-len(suffix)-1] >= 'a' {
			s = s[:len(s)-len(suffix)]
		}
	}
	return s
}
