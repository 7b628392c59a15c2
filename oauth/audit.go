package oauth

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchhq/latch/storage"
)

// Audit event types. Each is stored, logged as one JSON line and counted.
const (
	EventIssued        = "issued"         // a login started (password grant)
	EventRefreshed     = "refreshed"      // a refresh token was rotated
	EventReplayed      = "replayed"       // a spent refresh token got its response again, within the grace window
	EventReuseDetected = "reuse_detected" // a spent refresh token came back
	EventFamilyRevoked = "family_revoked" // a login ended, with the reason
	EventRevoked       = "revoked"        // RFC 7009 revocation by the client
	EventLogoutAll     = "logout_everywhere"
	EventLockout       = "lockout" // the password grant refused a username or address for a while
)

// RequestInfo describes who is calling, for the audit trail.
type RequestInfo struct {
	Address   string
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns a context carrying the caller's address and user
// agent; audit events recorded under it name them.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfo(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info
}

// audit records e in the transaction of ctx (if any), logs it and counts it,
// after the transaction commits when there is one (see inTx). It never holds
// a token or a secret: events name families, clients and users.
func (p *Provider) audit(ctx context.Context, e storage.Event) error {
	e = p.stamp(ctx, e)
	if err := p.store.AppendEvent(ctx, &e); err != nil {
		return err
	}
	if pend, ok := ctx.Value(pendingKey{}).(*pendingReports); ok {
		pend.events = append(pend.events, e)
		return nil
	}
	p.report(ctx, e)
	return nil
}

// pendingKey carries, in a transaction's context, the audit events to
// report once it has committed.
type pendingKey struct{}

type pendingReports struct{ events []storage.Event }

// inTx is the store's InTx for package oauth: the audit events recorded in
// the transaction are logged and counted only once it has committed, so
// that no log line or counter tells of a change that was rolled back. A
// nested inTx joins the outer one, and its events wait for the outer
// commit.
func (p *Provider) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, nested := ctx.Value(pendingKey{}).(*pendingReports); nested {
		return p.store.InTx(ctx, fn)
	}
	pend := &pendingReports{}
	if err := p.store.InTx(context.WithValue(ctx, pendingKey{}, pend), fn); err != nil {
		return err
	}
	for _, e := range pend.events {
		p.report(ctx, e)
	}
	return nil
}

// stamp fills in who called and when.
func (p *Provider) stamp(ctx context.Context, e storage.Event) storage.Event {
	info := requestInfo(ctx)
	// HTTP lets a User-Agent carry bytes that are not UTF-8, which the
	// database's text cannot hold.
	e.Address, e.UserAgent = truncate(info.Address, 64), truncate(strings.ToValidUTF8(info.UserAgent, "\uFFFD"), 256)
	if e.CreatedAt.IsZero() {
		e.CreatedAt = p.now()
	}
	return e
}

// report counts a stored event and writes its log line.
func (p *Provider) report(ctx context.Context, e storage.Event) {
	p.metrics.events.WithLabelValues(e.Type, e.Reason).Inc()
	p.log.LogAttrs(ctx, slog.LevelInfo, "audit",
		slog.String("event", e.Type),
		slog.String("family_id", e.FamilyID),
		slog.String("client_id", e.ClientID),
		slog.String("user_id", e.UserID),
		slog.String("reason", e.Reason),
		slog.String("client_address", e.Address),
		slog.String("user_agent", e.UserAgent),
	)
}

// revokeFamily ends one login and records why. Reuse is recorded as its own
// event before the revocation so the trail reads hop by hop.
func (p *Provider) revokeFamily(ctx context.Context, fam *storage.Family, reason string, e storage.Event, now time.Time) error {
	if reason == storage.ReasonReuse {
		e.Type = EventReuseDetected
		if err := p.audit(ctx, e); err != nil {
			return err
		}
	}
	revoked, err := p.store.RevokeFamily(ctx, fam.ID, reason, now)
	if err != nil || !revoked {
		return err
	}
	if err := p.denyFamily(ctx, fam.ID, now); err != nil {
		return err
	}
	e.Type, e.Reason = EventFamilyRevoked, reason
	return p.audit(ctx, e)
}

type metrics struct {
	events   *prometheus.CounterVec
	purged   *prometheus.CounterVec
	lockouts *prometheus.CounterVec
	// clientAuth counts failed client authentications by reason; never by
	// client id, which a caller chooses (unbounded).
	clientAuth *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_audit_events_total",
			Help: "Audit events by type (issued, refreshed, reuse_detected, family_revoked, revoked, ...) and reason.",
		}, []string{"type", "reason"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_janitor_purged_total",
			Help: "Rows the janitor deleted (tokens, families) or wiped (replays).",
		}, []string{"kind"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_login_lockouts_total",
			Help: "Lockouts of the password grant, by what was locked (username or address).",
		}, []string{"reason"}),
		clientAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_client_auth_failures_total",
			Help: "Failed client authentications, by reason (unknown_client, wrong_secret, locked_out, other).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.purged, m.lockouts, m.clientAuth)
	}
	return m
}
