package oauth

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/storage"
)

// Refresh-time signals (API.md): what a refresh raises when it looks unlike
// the previous step of its login (the password grant or the last refresh).
const (
	// SignalAddressChanged: the caller's address is outside the previous
	// step's /24 (IPv4) or /48 (IPv6).
	SignalAddressChanged = "address_changed"
	// SignalUserAgentChanged: the User-Agent differs from the previous
	// step's.
	SignalUserAgentChanged = "user_agent_changed"
	// SignalRefreshBurst: more than [Config.RefreshBurst] refreshes of the
	// login within a minute.
	SignalRefreshBurst = "refresh_burst"
)

// Signals are the refresh-time signals, the values of
// [Config.AnomalySignals] and of latch_refresh_signals_total's label.
var Signals = []string{SignalAddressChanged, SignalUserAgentChanged, SignalRefreshBurst}

// What a refresh that raises a signal of [Config.AnomalySignals] does.
const (
	AnomalyLog    = "log"    // record and count it; the refresh goes on
	AnomalyRevoke = "revoke" // end the login instead
)

// DefaultRefreshBurst is [Config.RefreshBurst]'s default.
const DefaultRefreshBurst = 30

// burstWindow is the minute refresh_burst counts refreshes in.
const burstWindow = time.Minute

// checkAnomalyConfig fills in and checks the signals' settings.
func checkAnomalyConfig(cfg *Config) error {
	switch cfg.AnomalyAction {
	case "":
		cfg.AnomalyAction = AnomalyLog
	case AnomalyLog, AnomalyRevoke:
	default:
		return fmt.Errorf("oauth: anomaly action %q is not log or revoke", cfg.AnomalyAction)
	}
	if cfg.AnomalySignals == nil {
		cfg.AnomalySignals = []string{SignalUserAgentChanged}
	}
	for _, s := range cfg.AnomalySignals {
		if !slices.Contains(Signals, s) {
			return fmt.Errorf("oauth: anomaly signal %q is not one of %s", s, strings.Join(Signals, ", "))
		}
	}
	switch {
	case cfg.RefreshBurst == 0:
		cfg.RefreshBurst = DefaultRefreshBurst
	case cfg.RefreshBurst < 0:
		return fmt.Errorf("oauth: refresh burst %d is not positive", cfg.RefreshBurst)
	}
	return nil
}

// newStep is the login's step that a grant starts it with, for the
// caller of ctx: no refresh yet in the minute from now.
func newStep(ctx context.Context, now time.Time) storage.Step {
	caller := stampedCaller(ctx)
	return storage.Step{Address: caller.Address, UserAgent: caller.UserAgent, BurstStart: now}
}

// nextStep compares a refresh at now by the caller of ctx with the
// login's previous step, and returns the step that replaces it and the
// signals raised, in the order of [Signals]. A login with no step
// recorded raises no address or User-Agent signal.
func (p *Provider) nextStep(ctx context.Context, prev storage.Step, now time.Time) (storage.Step, []string) {
	caller := stampedCaller(ctx)
	next := storage.Step{Address: caller.Address, UserAgent: caller.UserAgent, BurstStart: prev.BurstStart, BurstCount: prev.BurstCount + 1}
	known := !prev.BurstStart.IsZero()
	// A refresh outside the minute starts the next one. A minute that
	// starts ahead of now (another node's clock) goes on.
	if !known || !now.Before(prev.BurstStart.Add(burstWindow)) {
		next.BurstStart, next.BurstCount = now, 1
	}
	var signals []string
	if known && addressChanged(prev.Address, next.Address) {
		signals = append(signals, SignalAddressChanged)
	}
	if known && prev.UserAgent != next.UserAgent {
		signals = append(signals, SignalUserAgentChanged)
	}
	if next.BurstCount > int64(p.cfg.RefreshBurst) {
		signals = append(signals, SignalRefreshBurst)
	}
	return next, signals
}

// anomaly reports whether signals end the login: whether the action is
// revoke and one of them is listed in [Config.AnomalySignals].
func (p *Provider) anomaly(signals []string) bool {
	if p.cfg.AnomalyAction != AnomalyRevoke {
		return false
	}
	return slices.ContainsFunc(signals, func(s string) bool { return slices.Contains(p.cfg.AnomalySignals, s) })
}

// addressChanged reports whether next is outside prev's /24 (IPv4) or /48
// (IPv6). The addresses are the client addresses of the request info
// (package handlers names them, believing X-Forwarded-For only from
// LATCH_TRUSTED_PROXIES, as the login guard does). One that is no IP
// address (a Unix socket's peer) is compared whole.
func addressChanged(prev, next string) bool {
	a, errA := netip.ParseAddr(prev)
	b, errB := netip.ParseAddr(next)
	if errA != nil || errB != nil {
		return prev != next
	}
	a, b = a.Unmap(), b.Unmap()
	if a.Is4() != b.Is4() {
		return true
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	pa, _ := a.Prefix(bits)
	pb, _ := b.Prefix(bits)
	return pa != pb
}
