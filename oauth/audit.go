package oauth

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
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
	caller := stampedCaller(ctx)
	e.Address, e.UserAgent = caller.Address, caller.UserAgent
	if e.CreatedAt.IsZero() {
		e.CreatedAt = p.now()
	}
	return e
}

// stampedCaller is the caller of ctx as events (and a login's step)
// record it: HTTP lets a User-Agent carry bytes that are not UTF-8, which
// the database's text cannot hold, and both are cut short.
func stampedCaller(ctx context.Context) RequestInfo {
	info := requestInfo(ctx)
	return RequestInfo{
		Address:   truncate(info.Address, 64),
		UserAgent: truncate(strings.ToValidUTF8(info.UserAgent, "\uFFFD"), 256),
	}
}

// report counts a stored event and writes its log line.
func (p *Provider) report(ctx context.Context, e storage.Event) {
	p.metrics.events.WithLabelValues(e.Type, e.Reason).Inc()
	attrs := []slog.Attr{
		slog.String("event", e.Type),
		slog.String("family_id", e.FamilyID),
		slog.String("client_id", e.ClientID),
		slog.String("user_id", e.UserID),
		slog.String("reason", e.Reason),
		slog.String("client_address", e.Address),
		slog.String("user_agent", e.UserAgent),
	}
	if e.Type == EventReuseDetected {
		mode := ReuseReport
		if e.Enforced {
			mode = ReuseEnforce
		}
		p.metrics.reuse.WithLabelValues(mode).Inc()
		attrs = append(attrs, slog.Bool("enforced", e.Enforced))
	}
	if len(e.Signals) > 0 {
		// A login that signals end carries them on its family_revoked
		// event instead of a refreshed one: each raised signal is counted
		// once either way.
		for _, s := range e.Signals {
			p.metrics.refreshSignals.WithLabelValues(s).Inc()
		}
		attrs = append(attrs, slog.Any("signals", e.Signals))
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// reuseDetected answers a spent refresh token presented after its grace
// window (RFC 9700 §4.14.2), in the refresh's transaction. The reuse is
// recorded as its own event first, so the trail reads hop by hop; then,
// with reuse detection enforced, the login ends. In report mode (the shadow
// mode) it stays live, and the event says the reuse was not enforced. The
// token is refused either way: the returned error is the answer.
func (p *Provider) reuseDetected(ctx context.Context, fam *storage.Family, e storage.Event, now time.Time) (refused, err error) {
	e.Type, e.Enforced = EventReuseDetected, p.cfg.ReuseDetection == ReuseEnforce
	if err := p.audit(ctx, e); err != nil {
		return nil, err
	}
	if !e.Enforced {
		return fosite.ErrInvalidGrant.WithHint("The refresh token was already used."), nil
	}
	e.Enforced = false
	refused = fosite.ErrInvalidGrant.WithHint("The refresh token was already used; the login has been ended.")
	return refused, p.revokeFamily(ctx, fam, storage.ReasonReuse, e, now)
}

// revokeFamily ends one login and records why.
func (p *Provider) revokeFamily(ctx context.Context, fam *storage.Family, reason string, e storage.Event, now time.Time) error {
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

// metrics are the protocol's Prometheus series (API.md, "Metrics"); the
// HTTP ones are package handlers'. Every label takes its values from a
// fixed set, never from what a caller chooses (a client id, an unknown
// grant type or error code), so that no caller can grow the series.
type metrics struct {
	// tokenRequests counts token endpoint answers by grant type and
	// result: ok or the RFC 6749 error code (see result).
	tokenRequests *prometheus.CounterVec
	// revocations counts RFC 7009 answers by result, as tokenRequests.
	revocations *prometheus.CounterVec
	// introspections counts RFC 7662 answers by whether the token was
	// active; refused introspection requests are not answers about a token.
	introspections *prometheus.CounterVec
	events         *prometheus.CounterVec
	// reuse counts reuse_detected events by mode (enforce, report).
	reuse *prometheus.CounterVec
	// refreshSignals is API.md's latch_refresh_signals_total{signal}: the
	// refresh-time signals raised (signals.go), each series present from
	// the start at zero.
	refreshSignals *prometheus.CounterVec
	// loginsRefused counts refused password grants by reason:
	// bad_credentials, user_disabled, locked_out, user_changed (grants.go).
	loginsRefused *prometheus.CounterVec
	purged        *prometheus.CounterVec
	lockouts      *prometheus.CounterVec
	// clientAuth counts failed client authentications by reason; never by
	// client id, which a caller chooses (unbounded).
	clientAuth *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &metrics{
		tokenRequests: counter("latch_token_requests_total",
			"Token endpoint answers by grant type (password, refresh_token, client_credentials, other) and result (ok or the RFC 6749 error code).",
			"grant_type", "result"),
		revocations: counter("latch_revocations_total",
			"Revocation endpoint answers by result (ok or the RFC 6749/7009 error code).", "result"),
		introspections: counter("latch_introspections_total",
			"Introspection answers by whether the token was active.", "active"),
		events: counter("latch_audit_events_total",
			"Audit events by type (issued, refreshed, reuse_detected, family_revoked, revoked, ...) and reason.", "type", "reason"),
		reuse: counter("latch_refresh_reuse_total",
			"Spent refresh tokens presented after the grace window, by reuse detection mode (enforce: the login ended; report: it stayed live).", "mode"),
		refreshSignals: counter("latch_refresh_signals_total",
			"Refresh-time signals raised, by signal.", "signal"),
		loginsRefused: counter("latch_logins_refused_total",
			"Refused password grants by reason (bad_credentials, user_disabled, locked_out, user_changed).", "reason"),
		purged: counter("latch_janitor_purged_total",
			"Rows the janitor deleted (tokens, families, attempts, denylist, keys, dpop_jtis, events) or wiped (replays).", "kind"),
		lockouts: counter("latch_login_lockouts_total",
			"Lockouts of the password grant, by what was locked (username or address).", "reason"),
		clientAuth: counter("latch_client_auth_failures_total",
			"Failed client authentications, by reason (unknown_client, wrong_secret, locked_out, other).", "reason"),
	}
	for _, s := range Signals {
		m.refreshSignals.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.tokenRequests, m.revocations, m.introspections, m.events, m.reuse,
			m.refreshSignals, m.loginsRefused, m.purged, m.lockouts, m.clientAuth)
	}
	return m
}

// rfc6749Errors are the error codes of RFC 6749 (§4.1.2.1, §5.2), RFC
// 7009 §2.2.1 and RFC 9449 §5, the result label values besides ok.
var rfc6749Errors = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type",
	"server_error", "temporarily_unavailable", "unsupported_token_type", "invalid_dpop_proof",
}

// result is the result label of an answer with error err: ok, the RFC 6749
// error code, or other for an answer that has none (a request that ended
// before its answer).
func result(err error) string {
	if err == nil {
		return "ok"
	}
	if code := fosite.ErrorToRFC6749Error(err).ErrorField; slices.Contains(rfc6749Errors, code) {
		return code
	}
	return "other"
}

// countToken counts a token endpoint answer.
func (p *Provider) countToken(grantType string, err error) {
	if _, ok := grantNamed(grantType); !ok {
		grantType = "other"
	}
	p.metrics.tokenRequests.WithLabelValues(grantType, result(err)).Inc()
}

// loginRefused counts a refused password grant in
// latch_logins_refused_total by reason.
func (p *Provider) loginRefused(reason string) {
	p.metrics.loginsRefused.WithLabelValues(reason).Inc()
}
