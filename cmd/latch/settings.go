package main

import (
	"fmt"
	"slices"
	"strings"
)

// settingKind says where a setting may come from.
type settingKind int

const (
	// flagSetting is a flag and a LATCH_* variable; the flag wins.
	flagSetting settingKind = iota
	// secretSetting comes from its variable or from the file that
	// VARIABLE_FILE names, never from a flag, which ps shows.
	secretSetting
	// envSetting is a variable only (LATCH_PPROF_ADDR of a pprof build).
	envSetting
)

// setting is one LATCH_* variable that Latch reads.
type setting struct {
	env   string
	kind  settingKind
	def   string // default of a flag setting
	usage string // of a flag setting
	// commands take a flag setting as a flag; nil means every command.
	// Every command reads every variable, so that one environment (a
	// container's) serves them all; a flag is offered only where it
	// matters, and refused by the others.
	commands []string
}

// flagOf reports whether command cmd takes the setting as a flag.
func (s setting) flagOf(cmd string) bool {
	return s.kind == flagSetting && (s.commands == nil || slices.Contains(s.commands, cmd))
}

// flag returns the setting's flag name: the variable without LATCH_, in
// lower case, with dashes (LATCH_DATABASE_URL is --database-url).
func (s setting) flag() string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.env, "LATCH_"), "_", "-"))
}

// settings lists every variable Latch reads, in the order of the usage.
// parseConfig builds the flags from it, secret flags are refused by it, and
// checkEnviron refuses any LATCH_* variable not in it: a setting is added
// here and nowhere else, and a misspelt one stops the start instead of
// passing silently. Variables that API.md names but Latch does not read yet
// are not here, since accepting them would be the same silent failure.
var settings = []setting{
	{env: "LATCH_ADDR", def: "127.0.0.1:8080", usage: "listen address", commands: serveOnly},
	{env: "LATCH_DATABASE_URL", def: "sqlite:latch.db", usage: "sqlite:PATH or postgres://..."},
	{env: "LATCH_ISSUER", usage: "issuer URL; must be https unless the listener is loopback (default http:// + the listen address)", commands: serveOnly},
	{env: "LATCH_SECRET", kind: secretSetting},
	{env: "LATCH_SECRET_OLD", kind: secretSetting},
	{env: "LATCH_ADMIN_TOKEN", kind: secretSetting},
	// keys rotate keeps the old keys published as long as the tokens they signed live.
	{env: "LATCH_ACCESS_TOKEN_TTL", def: "15m", usage: "access token lifetime", commands: []string{"serve", "keys rotate"}},
	{env: "LATCH_REFRESH_TOKEN_TTL", def: "720h", usage: "idle lifetime of a refresh token", commands: serveOnly},
	// sessions import ends each login it imports this long after it began.
	{env: "LATCH_SESSION_MAX_AGE", def: "2160h", usage: "absolute lifetime of a login", commands: []string{"serve", "sessions import"}},
	// The janitor wipes the stored grace responses once the grace is over.
	{env: "LATCH_REFRESH_GRACE", def: "10s", usage: "how long a spent refresh token gets the same response again", commands: []string{"serve", "janitor"}},
	{env: "LATCH_REUSE_DETECTION", def: "enforce", usage: "enforce (a reused refresh token ends its login) or report (shadow mode: only recorded and counted)", commands: serveOnly},
	{env: "LATCH_ANOMALY_ACTION", def: "log", usage: "log (refresh-time signals are only recorded and counted) or revoke (a refresh that raises a signal of LATCH_ANOMALY_SIGNALS ends its login)", commands: serveOnly},
	{env: "LATCH_ANOMALY_SIGNALS", def: "user_agent_changed", usage: "comma-separated signals that revoke acts on: address_changed, user_agent_changed, refresh_burst", commands: serveOnly},
	{env: "LATCH_REFRESH_BURST", def: "30", usage: "refreshes of one login per minute before refresh_burst", commands: serveOnly},
	{env: "LATCH_LOGIN_MAX_FAILURES", def: "5", usage: "failed password grants per username before a lockout", commands: serveOnly},
	{env: "LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS", def: "50", usage: "failed password grants per client address before a lockout", commands: serveOnly},
	{env: "LATCH_LOGIN_LOCKOUT", def: "15m", usage: "how long a lockout lasts", commands: serveOnly},
	{env: "LATCH_TRUSTED_PROXIES", usage: "comma-separated CIDRs whose X-Forwarded-For is believed", commands: serveOnly},
	{env: "LATCH_ACCESS_TOKEN_FORMAT", def: "opaque", usage: "opaque or jwt (RFC 9068)", commands: serveOnly},
	{env: "LATCH_DEFAULT_AUDIENCE", usage: "JWT aud for clients without an audience (default the issuer)", commands: serveOnly},
	{env: "LATCH_LOG_FORMAT", usage: "text or json (default text on a terminal, else json)"},
	{env: "LATCH_LOG_LEVEL", def: "info", usage: "debug, info, warn or error"},
	{env: "LATCH_TLS_CERT", usage: "TLS certificate file (PEM)", commands: serveOnly},
	{env: "LATCH_TLS_KEY", usage: "TLS private key file (PEM)", commands: serveOnly},
	{env: "LATCH_DRAIN_DELAY", def: "0s", usage: "on SIGTERM, how long /readyz answers 503 before the server stops accepting connections", commands: serveOnly},
	// The janitor drops the events older than this.
	{env: "LATCH_EVENT_RETENTION", def: "2160h", usage: "how long audit events are kept (90 days; 0s keeps them for ever)", commands: []string{"serve", "janitor"}},
	{env: "LATCH_DPOP_MAX_AGE", def: "60s", usage: "how old, or how far ahead, a DPoP proof's iat may be", commands: serveOnly},
	{env: "LATCH_HASH_CONCURRENCY", usage: "password hashes at once (default the number of CPUs); fewer keeps cores for refresh and introspection", commands: serveOnly},
	{env: "LATCH_DPOP_NONCE", def: "off", usage: "on: DPoP proofs at the token endpoint must carry a server-provided nonce (RFC 9449 section 8)", commands: serveOnly},
	{env: "LATCH_STATUS_LIST_TTL", def: "10s", usage: "the Status List Token's ttl and cache lifetime (JWT access tokens)", commands: serveOnly},
}

// serveOnly is the commands of a setting that only a listening server uses.
var serveOnly = []string{"serve"}

// settingName names a flag setting in errors: its flag and its variable.
func settingName(env string) string {
	return fmt.Sprintf("--%s (%s)", setting{env: env}.flag(), env)
}

// testPrefix starts the variables of Latch's test suite (such as
// LATCH_TEST_DATABASE_URL), which a developer may well have exported; no
// setting starts with it.
const testPrefix = "LATCH_TEST_"

// knownVariables returns the names of settings, with the _FILE variant of
// each secret.
func knownVariables() []string {
	var names []string
	for _, s := range settings {
		names = append(names, s.env)
		if s.kind == secretSetting {
			names = append(names, s.env+"_FILE")
		}
	}
	return names
}

// checkEnviron refuses an environment ("NAME=value" entries) that holds a
// LATCH_* variable Latch does not read, in any case, naming each with the
// known variable it is likely a typo of. Every command that reads settings
// calls it: a misspelt LATCH_DATABASE_URL would have "latch users create"
// write to the default database, and a misspelt security setting would
// leave its default in force without a word.
func checkEnviron(environ []string) error {
	known := knownVariables()
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if !strings.HasPrefix(upper, "LATCH_") || strings.HasPrefix(upper, testPrefix) || slices.Contains(known, name) {
			continue
		}
		if near := nearest(upper, known); near != "" {
			name += " (did you mean " + near + "?)"
		}
		unknown = append(unknown, name)
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("latch: unknown variable %s: Latch reads no such setting; fix the name or unset it", strings.Join(slices.Compact(unknown), ", "))
}

// nearest returns the name in names closest to name by edit distance, if
// that distance is small enough for a typo: at most a third of the part
// after LATCH_, and no more than 3 edits.
func nearest(name string, names []string) string {
	limit := max(1, min(3, (len(name)-len("LATCH_"))/3))
	best, bestDist := "", limit+1
	for _, n := range names {
		if d := editDistance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
