package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/oauth/reqlog"
	"github.com/latchhq/latch/storage/sqlstore"
)

// minSecretLen is the shortest HMAC key Latch accepts: fosite's HMAC strategy
// refuses global secrets shorter than 32 bytes.
const minSecretLen = 32

// config holds every setting of Latch, read from flags and LATCH_* variables
// by [parseConfig]. Secrets (secret, oldSecrets, adminToken) come only from the
// environment or from LATCH_*_FILE paths, never from flags, which ps can see.
type config struct {
	addr        string
	databaseURL string
	issuer      string // without trailing slash

	secret     []byte   // nil until LATCH_SECRET is set or [resolveSecret] fills it
	oldSecrets [][]byte // retired keys whose tokens are still accepted
	adminToken string   // empty: admin API off; only serve reads it, see [checkServe]

	accessTokenTTL  time.Duration
	refreshTokenTTL time.Duration
	sessionMaxAge   time.Duration
	refreshGrace    time.Duration
	reuseDetection  string // "enforce" or "report"
	anomalyAction   string // "log" or "revoke"
	anomalySignals  []string
	refreshBurst    int
	eventRetention  time.Duration // 0: for ever
	// drainDelay is how long serve's /readyz answers 503 on SIGTERM
	// before it stops accepting connections.
	drainDelay time.Duration
	dpopMaxAge time.Duration
	dpopNonce  string // "off" or "on"
	// statusListTTL is the Status List Tokens' ttl and max-age.
	statusListTTL time.Duration

	// hashConcurrency bounds the password hashes of serve at once: by
	// default one per CPU.
	hashConcurrency int

	loginMaxFailures           int
	loginMaxFailuresPerAddress int
	loginLockout               time.Duration

	trustedProxies    []netip.Prefix
	accessTokenFormat string // "opaque" or "jwt"
	defaultAudience   string
	logFormat         string // "text" or "json"
	logLevel          slog.Level

	tlsCert string // path; empty with tlsKey: plain HTTP
	tlsKey  string

	issuerFromAddr bool // no --issuer: the issuer is http(s):// + addr
}

// LogValue reports the settings without secrets or the database URL, which
// may carry a password.
func (c *config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.addr),
		slog.String("issuer", c.issuer),
		slog.Bool("admin_api", c.adminToken != ""),
		slog.Duration("access_token_ttl", c.accessTokenTTL),
		slog.Duration("refresh_token_ttl", c.refreshTokenTTL),
		slog.Duration("session_max_age", c.sessionMaxAge),
		slog.Duration("refresh_grace", c.refreshGrace),
		slog.Duration("event_retention", c.eventRetention),
		slog.String("reuse_detection", c.reuseDetection),
		slog.String("anomaly_action", c.anomalyAction),
		slog.Any("anomaly_signals", c.anomalySignals),
		slog.Int("refresh_burst", c.refreshBurst),
		slog.Duration("dpop_max_age", c.dpopMaxAge),
		slog.Int("hash_concurrency", c.hashConcurrency),
		slog.String("dpop_nonce", c.dpopNonce),
		slog.Duration("status_list_ttl", c.statusListTTL),
		slog.String("access_token_format", c.accessTokenFormat),
		slog.Int("trusted_proxies", len(c.trustedProxies)),
		slog.Bool("tls", c.tlsCert != ""),
	)
}

// sqlitePath returns the file of a "sqlite:PATH" database URL, without any
// "?query" options. ok is false for other databases.
func (c *config) sqlitePath() (path string, ok bool) {
	rest, ok := strings.CutPrefix(c.databaseURL, "sqlite:")
	if !ok {
		return "", false
	}
	path, _, _ = strings.Cut(rest, "?")
	return path, true
}

// checkSQLiteDir checks that the directory of a SQLite file exists. SQLite,
// asked to create a file in a missing directory, answers "unable to open
// database file: out of memory (14)".
func (c *config) checkSQLiteDir() error {
	path, ok := c.sqliteFile()
	if !ok {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("latch: cannot open the database: directory %s does not exist", dir)
	case err == nil && !fi.IsDir():
		return fmt.Errorf("latch: cannot open the database: %s is not a directory", dir)
	}
	return nil
}

// sqliteFile returns the file of a "sqlite:PATH" database URL as sqlstore
// reads it ("sqlite://x.db" is x.db). ok is false for other databases, and
// for ":memory:" and "file:" URIs, which name no plain file.
func (c *config) sqliteFile() (path string, ok bool) {
	path, ok = c.sqlitePath()
	if !ok || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return "", false
	}
	return strings.TrimPrefix(path, "//"), true
}

// checkSQLiteFile checks that a SQLite file exists, for the commands that
// must not create one.
func (c *config) checkSQLiteFile() error {
	path, ok := c.sqliteFile()
	if !ok {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s", path)
	}
	return nil
}

// useBoundPort puts the port that serve's listener got into a default
// issuer when the listen address asked for any port (port 0): the issuer
// must name where clients reach the server. The default audience, which is
// the issuer unless set, follows it.
func (c *config) useBoundPort(bound net.Addr) {
	host, port, err := net.SplitHostPort(c.addr)
	if !c.issuerFromAddr || err != nil || strings.TrimLeft(port, "0") != "" {
		return
	}
	_, boundPort, err := net.SplitHostPort(bound.String())
	if err != nil {
		return
	}
	scheme, _, _ := strings.Cut(c.issuer, "://")
	issuer, err := parseIssuer(scheme + "://" + net.JoinHostPort(host, boundPort))
	if err != nil {
		return
	}
	if c.defaultAudience == c.issuer {
		c.defaultAudience = issuer
	}
	c.issuer = issuer
}

// isPostgres reports whether the database URL names a PostgreSQL server.
func (c *config) isPostgres() bool {
	return strings.HasPrefix(c.databaseURL, "postgres://") || strings.HasPrefix(c.databaseURL, "postgresql://")
}

// parseConfig reads the settings of API.md's "Settings" table for command
// cmd ("serve", "clients create"). args are the arguments after the command
// name; the positional arguments left over are in the returned FlagSet's
// Args. Each setting comes from its LATCH_* variable through getenv, or
// from its default; the settings cmd takes as flags (see [setting.flagOf])
// are flags as well, and a flag wins over its variable. A flag of another
// command's setting is refused, naming the commands it belongs to. Flag
// errors and usage go to stderr; -h answers [flag.ErrHelp]. define adds the
// command's own flags before parsing.
//
// The secret is decoded when LATCH_SECRET or LATCH_SECRET_FILE is set;
// otherwise cfg.secret stays nil and [resolveSecret] decides.
func parseConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer, define ...func(*flag.FlagSet)) (*config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("latch "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, d := range define {
		d(fs)
	}

	values := make(map[string]*string)
	for _, st := range settings {
		switch st.kind {
		case secretSetting, envSetting:
			continue // read where they are used, never flags
		}
		def := st.def
		if v := getenv(st.env); v != "" {
			def = v
		}
		if st.flagOf(cmd) {
			values[st.env] = fs.String(st.flag(), def, st.usage+" ("+st.env+")")
		} else {
			values[st.env] = &def
		}
	}
	// value returns the setting of a variable in settings.
	value := func(env string) string {
		v, ok := values[env]
		if !ok {
			panic("latch: " + env + " is not a flag setting") // a typo in this file
		}
		return *v
	}
	if err := refusedFlag(cmd, fs, args); err != nil {
		return nil, fs, err
	}
	// The usage shows each default, and this one comes from
	// LATCH_DATABASE_URL, which may hold a password. (Every command takes
	// it as a flag.)
	fs.Lookup("database-url").DefValue = sqlstore.RedactURL(value("LATCH_DATABASE_URL"))
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}

	cfg := &config{
		addr:              value("LATCH_ADDR"),
		databaseURL:       value("LATCH_DATABASE_URL"),
		accessTokenFormat: value("LATCH_ACCESS_TOKEN_FORMAT"),
		reuseDetection:    value("LATCH_REUSE_DETECTION"),
		dpopNonce:         value("LATCH_DPOP_NONCE"),
		anomalyAction:     value("LATCH_ANOMALY_ACTION"),
		logFormat:         value("LATCH_LOG_FORMAT"),
		tlsCert:           value("LATCH_TLS_CERT"),
		tlsKey:            value("LATCH_TLS_KEY"),
	}
	var err error
	durations := []struct {
		dst    *time.Duration
		env    string
		zeroOK bool
	}{
		{&cfg.accessTokenTTL, "LATCH_ACCESS_TOKEN_TTL", false},
		{&cfg.refreshTokenTTL, "LATCH_REFRESH_TOKEN_TTL", false},
		{&cfg.sessionMaxAge, "LATCH_SESSION_MAX_AGE", false},
		{&cfg.refreshGrace, "LATCH_REFRESH_GRACE", true},
		{&cfg.eventRetention, "LATCH_EVENT_RETENTION", true},
		{&cfg.loginLockout, "LATCH_LOGIN_LOCKOUT", false},
		{&cfg.drainDelay, "LATCH_DRAIN_DELAY", true},
		{&cfg.dpopMaxAge, "LATCH_DPOP_MAX_AGE", false},
		{&cfg.statusListTTL, "LATCH_STATUS_LIST_TTL", false},
	}
	for _, d := range durations {
		if *d.dst, err = parseDuration(value(d.env), d.zeroOK); err != nil {
			return nil, fs, fmt.Errorf("latch: %s: %w", settingName(d.env), err)
		}
	}
	// The Status List Token's ttl is whole seconds (draft-ietf-oauth-status-list).
	if cfg.statusListTTL < time.Second {
		return nil, fs, fmt.Errorf("latch: %s: %q must be 1s or more", settingName("LATCH_STATUS_LIST_TTL"), value("LATCH_STATUS_LIST_TTL"))
	}
	if cfg.loginMaxFailures, err = parsePositiveInt(value("LATCH_LOGIN_MAX_FAILURES")); err != nil {
		return nil, fs, fmt.Errorf("latch: --login-max-failures (LATCH_LOGIN_MAX_FAILURES): %w", err)
	}
	if cfg.loginMaxFailuresPerAddress, err = parsePositiveInt(value("LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS")); err != nil {
		return nil, fs, fmt.Errorf("latch: --login-max-failures-per-address (LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS): %w", err)
	}
	cfg.hashConcurrency = cpus
	if v := value("LATCH_HASH_CONCURRENCY"); v != "" {
		if cfg.hashConcurrency, err = parsePositiveInt(v); err != nil {
			return nil, fs, fmt.Errorf("latch: %s: %w", settingName("LATCH_HASH_CONCURRENCY"), err)
		}
	}
	if cfg.refreshBurst, err = parsePositiveInt(value("LATCH_REFRESH_BURST")); err != nil {
		return nil, fs, fmt.Errorf("latch: %s: %w", settingName("LATCH_REFRESH_BURST"), err)
	}
	if cfg.anomalySignals, err = parseSignals(value("LATCH_ANOMALY_SIGNALS")); err != nil {
		return nil, fs, fmt.Errorf("latch: %s: %w", settingName("LATCH_ANOMALY_SIGNALS"), err)
	}
	if cfg.trustedProxies, err = parsePrefixes(value("LATCH_TRUSTED_PROXIES")); err != nil {
		return nil, fs, fmt.Errorf("latch: --trusted-proxies (LATCH_TRUSTED_PROXIES): %w", err)
	}

	switch cfg.accessTokenFormat {
	case "opaque", "jwt":
	default:
		return nil, fs, fmt.Errorf("latch: --access-token-format (LATCH_ACCESS_TOKEN_FORMAT): %q is not opaque or jwt", cfg.accessTokenFormat)
	}
	switch cfg.reuseDetection {
	case "enforce", "report":
	default:
		return nil, fs, fmt.Errorf("latch: --reuse-detection (LATCH_REUSE_DETECTION): %q is not enforce or report", cfg.reuseDetection)
	}
	switch cfg.dpopNonce {
	case "off", "on":
	default:
		return nil, fs, fmt.Errorf("latch: --dpop-nonce (LATCH_DPOP_NONCE): %q is not off or on", cfg.dpopNonce)
	}
	switch cfg.anomalyAction {
	case oauth.AnomalyLog, oauth.AnomalyRevoke:
	default:
		return nil, fs, fmt.Errorf("latch: %s: %q is not log or revoke", settingName("LATCH_ANOMALY_ACTION"), cfg.anomalyAction)
	}
	switch cfg.logFormat {
	case "text", "json":
	case "":
		cfg.logFormat = "json"
		if isTerminal(stderr) {
			cfg.logFormat = "text"
		}
	default:
		return nil, fs, fmt.Errorf("latch: --log-format (LATCH_LOG_FORMAT): %q is not text or json", cfg.logFormat)
	}
	if cfg.logLevel, err = parseLogLevel(value("LATCH_LOG_LEVEL")); err != nil {
		return nil, fs, fmt.Errorf("latch: --log-level (LATCH_LOG_LEVEL): %w", err)
	}
	if !cfg.isPostgres() {
		if path, ok := cfg.sqlitePath(); !ok || path == "" {
			return nil, fs, errors.New("latch: --database-url (LATCH_DATABASE_URL): want sqlite:PATH or a postgres:// URL")
		}
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, fs, errors.New("latch: --tls-cert (LATCH_TLS_CERT) and --tls-key (LATCH_TLS_KEY) go together")
	}

	if _, err := isLoopbackAddr(cfg.addr); err != nil {
		return nil, fs, fmt.Errorf("latch: --addr (LATCH_ADDR): %w", err)
	}
	issuer := value("LATCH_ISSUER")
	if issuer == "" {
		scheme := "http://"
		if cfg.tlsCert != "" {
			scheme = "https://"
		}
		issuer = scheme + cfg.addr
		cfg.issuerFromAddr = true
	}
	if cfg.issuer, err = parseIssuer(issuer); err != nil {
		return nil, fs, fmt.Errorf("latch: --issuer (LATCH_ISSUER): %w", err)
	}
	cfg.defaultAudience = value("LATCH_DEFAULT_AUDIENCE")
	if cfg.defaultAudience == "" {
		cfg.defaultAudience = cfg.issuer
	}

	// Secrets: environment or LATCH_*_FILE only.
	secret, err := secretEnv(getenv, "LATCH_SECRET")
	if err != nil {
		return nil, fs, err
	}
	if secret != "" {
		if cfg.secret, err = decodeSecret(secret); err != nil {
			return nil, fs, fmt.Errorf("latch: LATCH_SECRET: %w", err)
		}
	}
	old, err := secretEnv(getenv, "LATCH_SECRET_OLD")
	if err != nil {
		return nil, fs, err
	}
	for i, s := range strings.FieldsFunc(old, func(r rune) bool { return r == ',' || r == '\n' }) {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		key, err := decodeSecret(s)
		if err != nil {
			return nil, fs, fmt.Errorf("latch: LATCH_SECRET_OLD key %d: %w", i+1, err)
		}
		cfg.oldSecrets = append(cfg.oldSecrets, key)
	}
	return cfg, fs, nil
}

// checkServe checks the settings that matter only to a listening server,
// and reads the admin token, which only serve uses. The operator commands
// skip it: they publish no issuer and answer no admin API, so an image
// built for a public listener (LATCH_ADDR=0.0.0.0:8080) still runs them.
func checkServe(cfg *config, getenv func(string) string) error {
	loopback, err := isLoopbackAddr(cfg.addr)
	if err != nil {
		return fmt.Errorf("latch: --addr (LATCH_ADDR): %w", err)
	}
	if err := checkIssuerScheme(cfg.issuer, loopback); err != nil {
		return fmt.Errorf("latch: --issuer (LATCH_ISSUER): %w", err)
	}
	if cfg.adminToken, err = secretEnv(getenv, "LATCH_ADMIN_TOKEN"); err != nil {
		return err
	}
	// A bearer token holds no blanks (RFC 6750 §2.1), so the admin API
	// could never be called with such a token.
	if strings.ContainsAny(cfg.adminToken, " \t\r\n") {
		return errors.New("latch: LATCH_ADMIN_TOKEN must not contain spaces or line breaks: a bearer token cannot carry them")
	}
	if cfg.adminToken != "" {
		if err := checkAdminToken(cfg.adminToken); err != nil {
			return fmt.Errorf("latch: LATCH_ADMIN_TOKEN: %w; openssl rand -hex 32 makes one", err)
		}
	}
	return nil
}

// minAdminTokenLen is the shortest admin token serve accepts, in bytes: the
// token opens every account and client, so it should be as hard to guess
// as the HMAC key (minSecretLen).
const minAdminTokenLen = 32

// checkAdminToken refuses an admin token that is short or trivially
// guessable. Its text is the caller's to choose, so length is all that can
// be asked of it, and that a long one is not a few characters repeated: 32
// random hex digits show fewer than 5 different ones with a chance of about
// 1e-16. Errors never repeat the token.
func checkAdminToken(token string) error {
	if len(token) < minAdminTokenLen {
		return fmt.Errorf("%d bytes, want at least %d random ones", len(token), minAdminTokenLen)
	}
	var seen [256]bool
	distinct := 0
	for i := range len(token) {
		if !seen[token[i]] {
			seen[token[i]] = true
			distinct++
		}
	}
	if distinct < 5 {
		return errors.New("a few characters repeated, want random bytes")
	}
	return nil
}

// secretFlagError answers a secret setting given as a flag. API.md makes
// every setting a flag, but a flag's value shows in the process list, to
// every user of the machine; so these are refused with a pointer to the
// variables rather than with the flag package's usage dump.
func secretFlagError(name string) error {
	for _, st := range settings {
		switch {
		case st.kind != secretSetting:
		case name == st.flag():
			return fmt.Errorf("latch: --%s is not a flag: secrets would show in the process list; set %s or %s_FILE", name, st.env, st.env)
		case name == st.flag()+"-file":
			return fmt.Errorf("latch: --%s is not a flag: secrets come only from the environment; set %s_FILE", name, st.env)
		}
	}
	return nil
}

// refusedFlag answers the first flag in args that names a secret, or a
// setting that command cmd does not take as a flag, which the flag
// package would refuse with its usage dump and no word on where the flag
// belongs. It reads args as fs.Parse would: flags end at "--" or at the
// first argument that is not a flag, and a flag other than a boolean one
// without "=value" takes the next argument as its value.
func refusedFlag(cmd string, fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if err := secretFlagError(name); err != nil {
			return err
		}
		if f := fs.Lookup(name); f == nil {
			for _, st := range settings {
				if st.kind == flagSetting && st.flag() == name {
					return fmt.Errorf("latch %s: --%s is not a flag of this command, only of latch %s (%s)", cmd, name, strings.Join(st.commands, " and latch "), st.env)
				}
			}
		} else if !hasValue && !isBoolFlag(f) {
			i++
		}
	}
	return nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// secretEnv returns the variable name, or the trimmed contents of the file
// named by name_FILE. Setting both is an error.
func secretEnv(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("latch: set %s or %s_FILE, not both", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("latch: %s_FILE: %w", name, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("latch: %s_FILE: %s is empty", name, file)
		}
		return s, nil
	}
	return v, nil
}

// decodeSecret decodes a key written in hex or in base64 (standard or URL
// alphabet, padded or not) and checks that it has at least 32 bytes. Errors
// never repeat the key.
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(s); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, errors.New("not hex or base64")
	}
	if len(b) < minSecretLen {
		return nil, fmt.Errorf("decodes to %d bytes, want at least %d random bytes", len(b), minSecretLen)
	}
	return b, nil
}

func parseDuration(s string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 15m or 720h", s)
	}
	if d < 0 || d == 0 && !zeroOK {
		if zeroOK {
			return 0, fmt.Errorf("%q must not be negative", s)
		}
		return 0, fmt.Errorf("%q must be greater than zero", s)
	}
	return d, nil
}

func parsePositiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive whole number", s)
	}
	return n, nil
}

// parseSignals parses a comma-separated list of refresh-time signals,
// each named once at most.
func parseSignals(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(oauth.Signals, f) {
			return nil, fmt.Errorf("%q is not a signal; want %s", f, strings.Join(oauth.Signals, ", "))
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if out == nil {
		return nil, fmt.Errorf("names no signal; want one or more of %s, comma-separated", strings.Join(oauth.Signals, ", "))
	}
	return out, nil
}

// parsePrefixes parses a comma-separated list of CIDRs. A bare address is
// taken as a single-host prefix.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// isLoopbackAddr reports whether the host of a listen address is loopback:
// localhost, 127.0.0.0/8 or ::1. An empty host listens everywhere.
func isLoopbackAddr(addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false, fmt.Errorf("%q has no valid port", addr)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil // a host name other than localhost may resolve anywhere
	}
	return ip.Unmap().IsLoopback(), nil
}

// parseIssuer checks the issuer URL (RFC 8414 §2: https, no query or
// fragment) and drops a trailing slash. It accepts http as well:
// [checkIssuerScheme] decides, for serve, whether the listener allows it.
func parseIssuer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", s)
	}
	if u.Host == "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q must be scheme://host[/path] without user, query or fragment", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q must be an https URL", s)
	}
	// Clients compare issuers as strings (RFC 8414 §3.3, RFC 9068 §4):
	// the issuer is written in one form, with the scheme and host in lower
	// case (they are case-insensitive, RFC 3986 §3.1 and §3.2.2) and no
	// trailing slash.
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// checkIssuerScheme refuses an http issuer unless the listener is loopback:
// http is for development on one machine, and anywhere else tokens and
// client secrets would cross the network in the clear.
func checkIssuerScheme(issuer string, loopbackListener bool) error {
	if strings.HasPrefix(issuer, "http://") && !loopbackListener {
		return fmt.Errorf("%q must be https when the listen address is not loopback; set LATCH_ISSUER=https://... (TLS may end at a proxy)", issuer)
	}
	return nil
}

// isTerminal reports whether w is a terminal. A character device is not
// enough: /dev/null is one, and "latch serve 2>/dev/null" is no terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// resolveSecret fills cfg.secret when LATCH_SECRET was not set. With SQLite
// the key is kept beside the database file, in PATH.secret (see
// [loadOrCreateSecret]); an in-memory SQLite database gets a fresh key that
// lives as long as the process. PostgreSQL needs LATCH_SECRET, because every
// node must share one key.
func resolveSecret(cfg *config) error {
	if cfg.secret != nil {
		return nil
	}
	if cfg.isPostgres() {
		return errors.New("latch: LATCH_SECRET is required with PostgreSQL (32+ random bytes, hex or base64)")
	}
	path, ok := cfg.sqlitePath()
	if !ok || path == "" {
		return errors.New("latch: LATCH_SECRET is required with this database (32+ random bytes, hex or base64)")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		cfg.secret = make([]byte, minSecretLen)
		_, _ = rand.Read(cfg.secret) // never fails, see [rand.Read]
		return nil
	}
	if err := cfg.checkSQLiteDir(); err != nil {
		return err
	}
	secret, err := loadOrCreateSecret(path + ".secret")
	if err != nil {
		return err
	}
	cfg.secret = secret
	return nil
}

// loadOrCreateSecret reads the hex key in path, or, when the file does not
// exist, creates it (mode 0600) with 32 random bytes. A key file that group
// or others may read is refused.
func loadOrCreateSecret(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return readSecretFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("latch: create secret file: %w", err)
	}
	secret := make([]byte, minSecretLen)
	_, _ = rand.Read(secret) // never fails, see [rand.Read]
	_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("latch: write secret file: %w", err)
	}
	return secret, nil
}

func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("latch: secret file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("latch: secret file %s has mode %04o; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("latch: secret file: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("latch: secret file %s: not hex", path)
	}
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("latch: secret file %s: %d bytes, want at least %d", path, len(secret), minSecretLen)
	}
	return secret, nil
}

// logLevels are the values of LATCH_LOG_LEVEL. slog's own parser would
// also take "INFO+2" and "warning"; the setting has four spellings.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func parseLogLevel(s string) (slog.Level, error) {
	if l, ok := logLevels[s]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("%.20q is not debug, info, warn or error", s)
}

// newLogger returns the program's logger, writing text or JSON to w the
// lines at level or above. Every line logged with a request's context
// carries the request's request_id and client_id (package reqlog).
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(reqlog.NewHandler(h))
}
