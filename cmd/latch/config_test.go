package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Keys of 32 bytes in the encodings LATCH_SECRET accepts.
var (
	testKey       = bytes.Repeat([]byte{0xab}, 32)
	testKeyHex    = hex.EncodeToString(testKey)
	testKeyB64    = base64.StdEncoding.EncodeToString(testKey)
	testKeyRawURL = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 20))
)

// testAdminToken is an admin token serve accepts: 32 bytes and more.
const testAdminToken = "test-admin-token-0123456789abcdef"

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// environFunc lists env as os.Environ does.
func environFunc(env map[string]string) func() []string {
	return func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
}

func mustParseConfig(t testing.TB, args []string, env map[string]string) *config {
	t.Helper()
	cfg, _, err := parseConfig("serve", args, envFunc(env), io.Discard)
	if err != nil {
		t.Fatalf("parseConfig(%q): %v", args, err)
	}
	return cfg
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg := mustParseConfig(t, nil, nil)
	want := config{
		addr:                       "127.0.0.1:8080",
		databaseURL:                "sqlite:latch.db",
		issuer:                     "http://127.0.0.1:8080",
		accessTokenTTL:             15 * time.Minute,
		refreshTokenTTL:            720 * time.Hour,
		sessionMaxAge:              2160 * time.Hour,
		refreshGrace:               10 * time.Second,
		loginMaxFailures:           5,
		loginMaxFailuresPerAddress: 50,
		loginLockout:               15 * time.Minute,
		accessTokenFormat:          "opaque",
		reuseDetection:             "enforce",
		hashConcurrency:            cpus,
		anomalyAction:              "log",
		anomalySignals:             []string{"user_agent_changed"},
		refreshBurst:               30,
		defaultAudience:            "http://127.0.0.1:8080",
		logFormat:                  "json", // io.Discard is no terminal
		logLevel:                   slog.LevelInfo,
	}
	if cfg.addr != want.addr || cfg.databaseURL != want.databaseURL || cfg.issuer != want.issuer ||
		cfg.accessTokenTTL != want.accessTokenTTL || cfg.refreshTokenTTL != want.refreshTokenTTL ||
		cfg.sessionMaxAge != want.sessionMaxAge || cfg.refreshGrace != want.refreshGrace ||
		cfg.loginMaxFailures != want.loginMaxFailures || cfg.loginMaxFailuresPerAddress != want.loginMaxFailuresPerAddress ||
		cfg.loginLockout != want.loginLockout || cfg.accessTokenFormat != want.accessTokenFormat || cfg.reuseDetection != want.reuseDetection ||
		cfg.hashConcurrency != want.hashConcurrency ||
		cfg.anomalyAction != want.anomalyAction || !slices.Equal(cfg.anomalySignals, want.anomalySignals) || cfg.refreshBurst != want.refreshBurst ||
		cfg.defaultAudience != want.defaultAudience || cfg.logFormat != want.logFormat || cfg.logLevel != want.logLevel {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
	if cfg.secret != nil || cfg.oldSecrets != nil || cfg.adminToken != "" || cfg.trustedProxies != nil || cfg.tlsCert != "" {
		t.Errorf("unexpected non-zero secrets, proxies or TLS: %+v", *cfg)
	}
}

func TestParseConfigPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*config) bool
	}{
		{"env addr", nil, map[string]string{"LATCH_ADDR": "127.0.0.1:9000"},
			func(c *config) bool { return c.addr == "127.0.0.1:9000" && c.issuer == "http://127.0.0.1:9000" }},
		{"flag beats env", []string{"--addr", "localhost:7000"}, map[string]string{"LATCH_ADDR": "127.0.0.1:9000"},
			func(c *config) bool { return c.addr == "localhost:7000" }},
		{"single dash flag", []string{"-access-token-ttl=1m"}, map[string]string{"LATCH_ACCESS_TOKEN_TTL": "5m"},
			func(c *config) bool { return c.accessTokenTTL == time.Minute }},
		{"env duration", nil, map[string]string{"LATCH_REFRESH_TOKEN_TTL": "1h"},
			func(c *config) bool { return c.refreshTokenTTL == time.Hour }},
		{"flag fixes bad env", []string{"--session-max-age", "2h"}, map[string]string{"LATCH_SESSION_MAX_AGE": "nonsense"},
			func(c *config) bool { return c.sessionMaxAge == 2*time.Hour }},
		{"grace may be zero", []string{"--refresh-grace=0s"}, nil,
			func(c *config) bool { return c.refreshGrace == 0 }},
		{"event retention 90 days by default", nil, nil,
			func(c *config) bool { return c.eventRetention == 90*24*time.Hour }},
		{"event retention from env, zero keeps for ever", nil, map[string]string{"LATCH_EVENT_RETENTION": "0s"},
			func(c *config) bool { return c.eventRetention == 0 }},
		{"env ints", nil, map[string]string{"LATCH_LOGIN_MAX_FAILURES": "3", "LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS": "9"},
			func(c *config) bool { return c.loginMaxFailures == 3 && c.loginMaxFailuresPerAddress == 9 }},
		{"env hash concurrency", nil, map[string]string{"LATCH_HASH_CONCURRENCY": "1"},
			func(c *config) bool { return c.hashConcurrency == 1 }},
		{"hash concurrency flag", []string{"--hash-concurrency=6"}, map[string]string{"LATCH_HASH_CONCURRENCY": "1"},
			func(c *config) bool { return c.hashConcurrency == 6 }},
		{"flag lockout", []string{"--login-lockout", "1m"}, nil,
			func(c *config) bool { return c.loginLockout == time.Minute }},
		{"database url", []string{"--database-url", "postgres://u@db/latch"}, map[string]string{"LATCH_DATABASE_URL": "sqlite:x.db"},
			func(c *config) bool { return c.databaseURL == "postgres://u@db/latch" && c.isPostgres() }},
		{"env reuse detection", nil, map[string]string{"LATCH_REUSE_DETECTION": "report"},
			func(c *config) bool { return c.reuseDetection == "report" }},
		{"reuse detection flag", []string{"--reuse-detection", "enforce"}, map[string]string{"LATCH_REUSE_DETECTION": "report"},
			func(c *config) bool { return c.reuseDetection == "enforce" }},
		{"env anomaly settings", nil, map[string]string{"LATCH_ANOMALY_ACTION": "revoke", "LATCH_ANOMALY_SIGNALS": " refresh_burst,address_changed ,refresh_burst", "LATCH_REFRESH_BURST": "5"},
			func(c *config) bool {
				return c.anomalyAction == "revoke" && slices.Equal(c.anomalySignals, []string{"refresh_burst", "address_changed"}) && c.refreshBurst == 5
			}},
		{"anomaly flags", []string{"--anomaly-action=log", "--anomaly-signals=user_agent_changed", "--refresh-burst=9"}, map[string]string{"LATCH_ANOMALY_ACTION": "revoke", "LATCH_ANOMALY_SIGNALS": "address_changed", "LATCH_REFRESH_BURST": "5"},
			func(c *config) bool {
				return c.anomalyAction == "log" && slices.Equal(c.anomalySignals, []string{"user_agent_changed"}) && c.refreshBurst == 9
			}},
		{"jwt format", nil, map[string]string{"LATCH_ACCESS_TOKEN_FORMAT": "jwt"},
			func(c *config) bool { return c.accessTokenFormat == "jwt" }},
		{"status list ttl default", nil, nil,
			func(c *config) bool { return c.statusListTTL == 10*time.Second }},
		{"status list ttl", nil, map[string]string{"LATCH_STATUS_LIST_TTL": "30s"},
			func(c *config) bool { return c.statusListTTL == 30*time.Second }},
		{"log format flag", []string{"--log-format", "text"}, map[string]string{"LATCH_LOG_FORMAT": "json"},
			func(c *config) bool { return c.logFormat == "text" }},
		{"env log level", nil, map[string]string{"LATCH_LOG_LEVEL": "debug"},
			func(c *config) bool { return c.logLevel == slog.LevelDebug }},
		{"log level flag", []string{"--log-level=error"}, map[string]string{"LATCH_LOG_LEVEL": "warn"},
			func(c *config) bool { return c.logLevel == slog.LevelError }},
		{"flag fixes bad log level", []string{"--log-level", "warn"}, map[string]string{"LATCH_LOG_LEVEL": "loud"},
			func(c *config) bool { return c.logLevel == slog.LevelWarn }},
		{"issuer trailing slash dropped", nil, map[string]string{"LATCH_ISSUER": "https://auth.example.com/"},
			func(c *config) bool {
				return c.issuer == "https://auth.example.com" && c.defaultAudience == "https://auth.example.com"
			}},
		{"issuer scheme and host in lower case", nil, map[string]string{"LATCH_ISSUER": "HTTPS://Auth.Example.com/Latch/"},
			func(c *config) bool { return c.issuer == "https://auth.example.com/Latch" }},
		{"default audience", []string{"--default-audience", "https://api.example.com"}, nil,
			func(c *config) bool { return c.defaultAudience == "https://api.example.com" }},
		{"trusted proxies", nil, map[string]string{"LATCH_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,fd00::/8"},
			func(c *config) bool {
				want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
				if len(c.trustedProxies) != len(want) {
					return false
				}
				for i := range want {
					if c.trustedProxies[i] != want[i] {
						return false
					}
				}
				return true
			}},
		{"tls sets https issuer", []string{"--addr", "0.0.0.0:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, nil,
			func(c *config) bool {
				return c.issuer == "https://0.0.0.0:8443" && c.tlsCert == "c.pem" && c.tlsKey == "k.pem"
			}},
		{"secret hex", nil, map[string]string{"LATCH_SECRET": testKeyHex},
			func(c *config) bool { return bytes.Equal(c.secret, testKey) }},
		{"secret base64", nil, map[string]string{"LATCH_SECRET": testKeyB64},
			func(c *config) bool { return bytes.Equal(c.secret, testKey) }},
		{"secret raw base64url", nil, map[string]string{"LATCH_SECRET": testKeyRawURL},
			func(c *config) bool { return len(c.secret) == 40 }},
		{"old secrets", nil, map[string]string{"LATCH_SECRET_OLD": testKeyHex + "," + testKeyB64},
			func(c *config) bool {
				return len(c.oldSecrets) == 2 && bytes.Equal(c.oldSecrets[0], testKey) && bytes.Equal(c.oldSecrets[1], testKey)
			}},
		{"a value that looks like a secret flag", []string{"--default-audience", "-secret"}, nil,
			func(c *config) bool { return c.defaultAudience == "-secret" }},
		{"positional args left", []string{"--addr", "127.0.0.1:1", "create", "x"}, nil,
			func(c *config) bool { return c.addr == "127.0.0.1:1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, tc.args, tc.env)
			if !tc.check(cfg) {
				t.Errorf("unexpected config: %+v", *cfg)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // part of the error
	}{
		{"bad duration", nil, map[string]string{"LATCH_ACCESS_TOKEN_TTL": "15"}, "LATCH_ACCESS_TOKEN_TTL"},
		{"zero ttl", []string{"--access-token-ttl=0s"}, nil, "greater than zero"},
		{"negative refresh ttl", []string{"--refresh-token-ttl=-1h"}, nil, "refresh-token-ttl"},
		{"zero session", []string{"--session-max-age=0"}, nil, "session-max-age"},
		{"negative grace", []string{"--refresh-grace=-1s"}, nil, "must not be negative"},
		{"event retention in days", nil, map[string]string{"LATCH_EVENT_RETENTION": "90d"}, "LATCH_EVENT_RETENTION"},
		{"zero lockout", nil, map[string]string{"LATCH_LOGIN_LOCKOUT": "0s"}, "LATCH_LOGIN_LOCKOUT"},
		{"zero status list ttl", nil, map[string]string{"LATCH_STATUS_LIST_TTL": "0s"}, "LATCH_STATUS_LIST_TTL"},
		{"status list ttl under a second", []string{"--status-list-ttl=500ms"}, nil, `--status-list-ttl (LATCH_STATUS_LIST_TTL): "500ms" must be 1s or more`},
		{"max failures not a number", []string{"--login-max-failures=many"}, nil, "login-max-failures"},
		{"max failures zero", nil, map[string]string{"LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS": "0"}, "LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS"},
		{"bad token format", []string{"--access-token-format=paseto"}, nil, "opaque or jwt"},
		{"bad log format", nil, map[string]string{"LATCH_LOG_FORMAT": "xml"}, "text or json"},
		{"bad reuse detection", nil, map[string]string{"LATCH_REUSE_DETECTION": "shadow"}, `--reuse-detection (LATCH_REUSE_DETECTION): "shadow" is not enforce or report`},
		{"bad reuse detection flag", []string{"--reuse-detection=Report"}, nil, `"Report" is not enforce or report`},
		{"bad anomaly action", nil, map[string]string{"LATCH_ANOMALY_ACTION": "block"}, `--anomaly-action (LATCH_ANOMALY_ACTION): "block" is not log or revoke`},
		{"unknown anomaly signal", nil, map[string]string{"LATCH_ANOMALY_SIGNALS": "user_agent_changed,geo_changed"}, `--anomaly-signals (LATCH_ANOMALY_SIGNALS): "geo_changed" is not a signal; want address_changed, user_agent_changed, refresh_burst`},
		{"no anomaly signal", []string{"--anomaly-signals= , "}, nil, "--anomaly-signals (LATCH_ANOMALY_SIGNALS): names no signal"},
		{"refresh burst zero", nil, map[string]string{"LATCH_REFRESH_BURST": "0"}, `--refresh-burst (LATCH_REFRESH_BURST): "0" is not a positive whole number`},
		{"bad log level", nil, map[string]string{"LATCH_LOG_LEVEL": "verbose"}, `--log-level (LATCH_LOG_LEVEL): "verbose" is not debug, info, warn or error`},
		{"log level in slog's other spellings", []string{"--log-level=INFO+2"}, nil, "is not debug, info, warn or error"},
		{"log level named by number", []string{"--log-level=0"}, nil, "is not debug, info, warn or error"},
		{"zero hash concurrency", []string{"--hash-concurrency=0"}, nil, "--hash-concurrency (LATCH_HASH_CONCURRENCY): \"0\" is not a positive whole number"},
		{"hash concurrency not a number", nil, map[string]string{"LATCH_HASH_CONCURRENCY": "two"}, "is not a positive whole number"},
		{"bad proxy", nil, map[string]string{"LATCH_TRUSTED_PROXIES": "10.0.0.0/8,example.com"}, "not a CIDR"},
		{"bad database url", []string{"--database-url=mysql://x"}, nil, "sqlite:PATH or a postgres:// URL"},
		{"tls cert without key", []string{"--tls-cert=c.pem"}, nil, "go together"},
		{"bad addr", []string{"--addr=8080"}, nil, "not host:port"},
		{"issuer with query", []string{"--issuer=https://a.example.com?x=1"}, nil, "without user, query or fragment"},
		{"issuer not a url", []string{"--issuer=auth.example.com"}, nil, "LATCH_ISSUER"},
		{"secret too short", nil, map[string]string{"LATCH_SECRET": hex.EncodeToString(make([]byte, 31))}, "at least 32"},
		{"secret garbage", nil, map[string]string{"LATCH_SECRET": "not a secret!"}, "not hex or base64"},
		{"old secret too short", nil, map[string]string{"LATCH_SECRET_OLD": testKeyHex + ",abcd"}, "LATCH_SECRET_OLD key 2"},
		{"secret and file", nil, map[string]string{"LATCH_SECRET": testKeyHex, "LATCH_SECRET_FILE": "/x"}, "not both"},
		{"missing secret file", nil, map[string]string{"LATCH_SECRET_FILE": "/nonexistent/latch.secret"}, "LATCH_SECRET_FILE"},
		{"secret flag refused", []string{"--secret", testKeyHex}, nil, "--secret is not a flag: secrets would show in the process list; set LATCH_SECRET or LATCH_SECRET_FILE"},
		{"single dash secret flag refused", []string{"-secret=" + testKeyHex}, nil, "--secret is not a flag"},
		{"secret flag after others", []string{"--addr", "127.0.0.1:1", "--secret", testKeyHex}, nil, "--secret is not a flag"},
		{"old secret flag refused", []string{"--secret-old=" + testKeyHex}, nil, "set LATCH_SECRET_OLD or LATCH_SECRET_OLD_FILE"},
		{"admin token flag refused", []string{"--admin-token", testKeyHex}, nil, "set LATCH_ADMIN_TOKEN or LATCH_ADMIN_TOKEN_FILE"},
		{"secret file flag refused", []string{"--secret-file", "/run/secrets/latch"}, nil, "set LATCH_SECRET_FILE"},
		{"admin token file flag refused", []string{"-admin-token-file=/run/secrets/admin"}, nil, "set LATCH_ADMIN_TOKEN_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			_, _, err := parseConfig("serve", tc.args, envFunc(tc.env), &stderr)
			if err == nil {
				t.Fatalf("parseConfig(%q) succeeded, want error containing %q", tc.args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testKeyHex) {
				t.Errorf("error repeats the secret: %q", err)
			}
			// The error is the whole answer: main prints it, one line.
			if stderr.Len() != 0 {
				t.Errorf("parseConfig also wrote to stderr:\n%s", stderr.String())
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// The usage shows the defaults, this one from the environment.
	env := map[string]string{"LATCH_DATABASE_URL": "postgres://bob:hunter2pw@127.0.0.1:5432/test?password=qsecretpw"}
	_, _, err := parseConfig("serve", []string{"-h"}, envFunc(env), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, s := range []string{"-database-url", "LATCH_DATABASE_URL", "-access-token-ttl", "postgres://bob:xxxxx@127.0.0.1:5432/test"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "-secret") || strings.Contains(out.String(), "-admin-token") {
		t.Errorf("usage offers a secret as a flag:\n%s", out.String())
	}
	for _, pw := range []string{"hunter2pw", "qsecretpw"} {
		if strings.Contains(out.String(), pw) {
			t.Errorf("usage shows the database password %s:\n%s", pw, out.String())
		}
	}
}

func TestParseConfigArgsLeft(t *testing.T) {
	t.Parallel()
	_, fs, err := parseConfig("clients create", []string{"--database-url", "sqlite:x.db", "my-client"}, envFunc(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := fs.Args(); len(got) != 1 || got[0] != "my-client" {
		t.Errorf("Args() = %q, want [my-client]", got)
	}
}

// TestParseConfigIssuerLoopback checks the issuer rule: every command
// parses an http issuer, and only serve (checkServe) refuses it on a
// listener that is not loopback.
func TestParseConfigIssuerLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool // serve accepts an http issuer
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"LOCALHOST:8080", true},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{":8080", false},
		{"10.0.0.1:8080", false},
		{"auth.internal:8080", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			// Default issuer: http:// + addr, the host in lower case.
			cfg := mustParseConfig(t, []string{"--addr", tc.addr}, nil)
			if want := "http://" + strings.ToLower(tc.addr); cfg.issuer != want {
				t.Errorf("issuer = %q, want %s", cfg.issuer, want)
			}
			err := checkServe(cfg, envFunc(nil))
			if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "must be https") {
				t.Errorf("addr %s, default http issuer: serve says %v, want ok=%v", tc.addr, err, tc.ok)
			}
			cfg = mustParseConfig(t, []string{"--addr", tc.addr, "--issuer", "http://auth.example.com"}, nil)
			if err := checkServe(cfg, envFunc(nil)); tc.ok != (err == nil) {
				t.Errorf("addr %s, explicit http issuer: serve says %v, want ok=%v", tc.addr, err, tc.ok)
			}
			// An https issuer is fine everywhere.
			cfg = mustParseConfig(t, []string{"--addr", tc.addr}, map[string]string{"LATCH_ISSUER": "https://auth.example.com/latch/"})
			if cfg.issuer != "https://auth.example.com/latch" {
				t.Errorf("issuer = %q", cfg.issuer)
			}
			if err := checkServe(cfg, envFunc(nil)); err != nil {
				t.Errorf("addr %s, https issuer: serve says %v", tc.addr, err)
			}
		})
	}
}

func TestConfigUseBoundPort(t *testing.T) {
	t.Parallel()
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}
	tests := []struct {
		name        string
		args        []string
		issuer, aud string // after useBoundPort
	}{
		{"any port", []string{"--addr", "127.0.0.1:0"}, "http://127.0.0.1:41234", "http://127.0.0.1:41234"},
		{"any port, host kept", []string{"--addr", "LocalHost:0"}, "http://localhost:41234", "http://localhost:41234"},
		{"any port, TLS", []string{"--addr", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "https://127.0.0.1:41234", "https://127.0.0.1:41234"},
		{"any port, audience set", []string{"--addr", "127.0.0.1:0", "--default-audience", "https://api.example.com"}, "http://127.0.0.1:41234", "https://api.example.com"},
		{"issuer set", []string{"--addr", "127.0.0.1:0", "--issuer", "https://auth.example.com"}, "https://auth.example.com", "https://auth.example.com"},
		{"port given", []string{"--addr", "127.0.0.1:8080"}, "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustParseConfig(t, tc.args, nil)
			cfg.useBoundPort(bound)
			if cfg.issuer != tc.issuer || cfg.defaultAudience != tc.aud {
				t.Errorf("issuer %q, audience %q; want %q, %q", cfg.issuer, cfg.defaultAudience, tc.issuer, tc.aud)
			}
		})
	}
}

func TestParseConfigSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(secretFile, []byte("  "+testKeyB64+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("admin-from-file-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LATCH_SECRET_FILE": secretFile, "LATCH_ADMIN_TOKEN_FILE": tokenFile}
	cfg := mustParseConfig(t, nil, env)
	if !bytes.Equal(cfg.secret, testKey) {
		t.Errorf("secret = %x, want %x", cfg.secret, testKey)
	}
	if cfg.adminToken != "" {
		t.Errorf("adminToken = %q before checkServe; only serve reads it", cfg.adminToken)
	}
	if err := checkServe(cfg, envFunc(env)); err != nil || cfg.adminToken != "admin-from-file-0123456789abcdef" {
		t.Errorf("checkServe: adminToken = %q, err %v", cfg.adminToken, err)
	}
	if err := checkServe(cfg, envFunc(map[string]string{"LATCH_ADMIN_TOKEN": testAdminToken})); err != nil || cfg.adminToken != testAdminToken {
		t.Errorf("checkServe: adminToken = %q, err %v", cfg.adminToken, err)
	}

	// The operator commands never use the admin token, so a missing
	// token file stops serve only.
	missing := map[string]string{"LATCH_ADMIN_TOKEN_FILE": filepath.Join(dir, "missing")}
	cfg = mustParseConfig(t, nil, missing)
	if err := checkServe(cfg, envFunc(missing)); err == nil || !strings.Contains(err.Error(), "LATCH_ADMIN_TOKEN_FILE") {
		t.Errorf("checkServe with a missing token file: err = %v", err)
	}

	// A bearer token holds no blanks (RFC 6750 §2.1): such an admin token
	// could never be presented, so serve refuses it, naming no value.
	for _, tok := range []string{"two words", "tab\there", " leading"} {
		env := map[string]string{"LATCH_ADMIN_TOKEN": tok}
		cfg = mustParseConfig(t, nil, env)
		err := checkServe(cfg, envFunc(env))
		if err == nil || !strings.Contains(err.Error(), "LATCH_ADMIN_TOKEN") || strings.Contains(err.Error(), strings.TrimSpace(tok)) {
			t.Errorf("checkServe with admin token %q: err = %v, want a refusal that names the variable and not the value", tok, err)
		}
	}
}

// TestCheckServeAdminToken: serve refuses an admin token shorter than 32
// bytes or made of a few characters repeated, naming the variable and not
// the value (issue 14).
func TestCheckServeAdminToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, token string
		want        string // in the error; "" when accepted
	}{
		{"none: admin API off", "", ""},
		{"32 hex digits", "0123456789abcdef0123456789abcdef", ""},
		{"openssl rand -hex 32", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ""},
		{"the old make run token", "dev-admin-token", "15 bytes, want at least 32"},
		{"31 bytes", strings.Repeat("0123456789", 3) + "a", "31 bytes"},
		{"one character repeated", strings.Repeat("a", 64), "a few characters repeated"},
		{"two characters repeated", strings.Repeat("ab", 32), "a few characters repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"LATCH_ADMIN_TOKEN": tc.token}
			err := checkServe(mustParseConfig(t, nil, env), envFunc(env))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkServe: %v, want the token accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "LATCH_ADMIN_TOKEN")):
				t.Errorf("checkServe: %v, want LATCH_ADMIN_TOKEN and %q", err, tc.want)
			case err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token):
				t.Errorf("checkServe: %v repeats the token", err)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int // decoded length; 0 for an error
	}{
		{"hex", testKeyHex, 32},
		{"hex upper", strings.ToUpper(testKeyHex), 32},
		{"base64 std", testKeyB64, 32},
		{"base64 raw std", strings.TrimRight(testKeyB64, "="), 32},
		{"base64 url", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 33)), 33},
		{"base64 raw url", testKeyRawURL, 40},
		{"hex too short", hex.EncodeToString(make([]byte, 16)), 0},
		{"base64 too short", base64.StdEncoding.EncodeToString(make([]byte, 31)), 0},
		{"empty", "", 0},
		{"garbage", "p@ssw0rd p@ssw0rd p@ssw0rd p@ssw0rd p@ssw0rd", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := decodeSecret(tc.in)
			if tc.want == 0 {
				if err == nil {
					t.Errorf("decodeSecret succeeded with %d bytes, want error", len(b))
				}
				return
			}
			if err != nil || len(b) != tc.want {
				t.Errorf("decodeSecret = %d bytes, %v; want %d bytes", len(b), err, tc.want)
			}
		})
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "latch.db.secret")
	first, err := loadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 {
		t.Errorf("len = %d, want 32", len(first))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o, want 0600", perm)
	}
	second, err := loadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("second call returned a different secret")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateSecret(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable file: err = %v, want chmod advice", err)
	}

	short := filepath.Join(t.TempDir(), "short.secret")
	if err := os.WriteFile(short, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateSecret(short); err == nil {
		t.Error("short secret file accepted")
	}
	if _, err := loadOrCreateSecret(filepath.Join(t.TempDir(), "missing", "x.secret")); err == nil {
		t.Error("secret in a missing directory: no error")
	}
}

func TestResolveSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	t.Run("sqlite generates beside the database", func(t *testing.T) {
		db := filepath.Join(dir, "latch.db")
		cfg := mustParseConfig(t, nil, map[string]string{"LATCH_DATABASE_URL": "sqlite:" + db + "?_pragma=busy_timeout(5000)"})
		if err := resolveSecret(cfg); err != nil {
			t.Fatal(err)
		}
		onDisk, err := loadOrCreateSecret(db + ".secret")
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.secret) != 32 || !bytes.Equal(cfg.secret, onDisk) {
			t.Errorf("secret %x, file %x", cfg.secret, onDisk)
		}
	})
	t.Run("env secret wins", func(t *testing.T) {
		db := filepath.Join(dir, "env.db")
		cfg := mustParseConfig(t, nil, map[string]string{"LATCH_DATABASE_URL": "sqlite:" + db, "LATCH_SECRET": testKeyHex})
		if err := resolveSecret(cfg); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cfg.secret, testKey) {
			t.Errorf("secret = %x", cfg.secret)
		}
		if _, err := os.Stat(db + ".secret"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("secret file written although LATCH_SECRET is set: %v", err)
		}
	})
	t.Run("in-memory sqlite", func(t *testing.T) {
		cfg := mustParseConfig(t, nil, map[string]string{"LATCH_DATABASE_URL": "sqlite::memory:"})
		if err := resolveSecret(cfg); err != nil || len(cfg.secret) != 32 {
			t.Errorf("secret %d bytes, err %v", len(cfg.secret), err)
		}
	})
	t.Run("sqlite in a missing directory", func(t *testing.T) {
		cfg := mustParseConfig(t, nil, map[string]string{"LATCH_DATABASE_URL": "sqlite:" + filepath.Join(dir, "none", "latch.db")})
		err := resolveSecret(cfg)
		if err == nil || !strings.Contains(err.Error(), "directory "+filepath.Join(dir, "none")+" does not exist") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("postgres needs LATCH_SECRET", func(t *testing.T) {
		cfg := mustParseConfig(t, nil, map[string]string{"LATCH_DATABASE_URL": "postgres://u@127.0.0.1/latch"})
		err := resolveSecret(cfg)
		if err == nil || !strings.Contains(err.Error(), "LATCH_SECRET is required with PostgreSQL") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestIsTerminal checks what decides the default log format.
func TestIsTerminal(t *testing.T) {
	t.Parallel()
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
	}{
		{"buffer", new(bytes.Buffer)},
		{"discard", io.Discard},
		{"null device", devNull}, // a character device, but no terminal
	} {
		if isTerminal(tc.w) {
			t.Errorf("isTerminal(%s) = true", tc.name)
		}
	}
	if _, tty := newPTY(t); !isTerminal(tty) {
		t.Error("isTerminal(pseudo-terminal) = false")
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	newLogger("json", slog.LevelInfo, &buf).Info("hello", "client_id", "c1")
	if !strings.HasPrefix(buf.String(), "{") || !strings.Contains(buf.String(), `"client_id":"c1"`) {
		t.Errorf("json log = %q", buf.String())
	}
	buf.Reset()
	newLogger("text", slog.LevelInfo, &buf).Info("hello", "client_id", "c1")
	if !strings.Contains(buf.String(), "msg=hello client_id=c1") {
		t.Errorf("text log = %q", buf.String())
	}
}

// TestNewLoggerLevel: each LATCH_LOG_LEVEL lets through the lines at its
// level and above, and no others.
func TestNewLoggerLevel(t *testing.T) {
	t.Parallel()
	for name, level := range logLevels {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := newLogger("json", level, &buf)
			l.Debug("d")
			l.Info("i")
			l.Warn("w")
			l.Error("e")
			for _, msg := range []struct {
				text  string
				level slog.Level
			}{{`"msg":"d"`, slog.LevelDebug}, {`"msg":"i"`, slog.LevelInfo}, {`"msg":"w"`, slog.LevelWarn}, {`"msg":"e"`, slog.LevelError}} {
				if got, want := strings.Contains(buf.String(), msg.text), msg.level >= level; got != want {
					t.Errorf("%s line written = %v, want %v:\n%s", msg.level, got, want, buf.String())
				}
			}
		})
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"LATCH_SECRET":       testKeyHex,
		"LATCH_ADMIN_TOKEN":  testAdminToken,
		"LATCH_DATABASE_URL": "postgres://u:dbpassword@127.0.0.1/latch?password=qpassword",
	}
	cfg := mustParseConfig(t, nil, env)
	if err := checkServe(cfg, envFunc(env)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	newLogger("text", slog.LevelInfo, &buf).Info("config", "config", cfg)
	for _, s := range []string{testKeyHex, testAdminToken, "dbpassword", "qpassword", "ab ab"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log leaks %q: %s", s, buf.String())
		}
	}
}

// FuzzDecodeSecret checks that any LATCH_SECRET value either fails or gives a
// key of at least 32 bytes, and never panics.
func FuzzDecodeSecret(f *testing.F) {
	f.Add(testKeyHex)       // hex, 32 bytes
	f.Add(testKeyB64)       // padded standard base64
	f.Add(testKeyRawURL)    // raw URL base64
	f.Add("abcd")           // too short
	f.Add(" " + testKeyHex) // surrounding space
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeSecret(s)
		if err == nil && len(b) < minSecretLen {
			t.Fatalf("decodeSecret(%q) = %d bytes, want an error", s, len(b))
		}
		if in := strings.TrimSpace(s); err != nil && len(in) >= 16 && strings.Contains(err.Error(), in) {
			t.Fatalf("error %q repeats the input", err)
		}
	})
}

// FuzzParseIssuer checks the issuer rule for any LATCH_ISSUER value: an
// accepted issuer has no trailing slash, and serve accepts it only if it is
// https or the listener is loopback.
func FuzzParseIssuer(f *testing.F) {
	f.Add("https://auth.example.com/", false)
	f.Add("http://127.0.0.1:8080", true)
	f.Add("http://0.0.0.0:8080", false)
	f.Add("https://a.example.com/x?y#z", false)
	f.Add("ftp://x", true)
	f.Add("HTTPS://Auth.Example.COM/Latch/", false) // scheme and host in one case; path as given
	f.Fuzz(func(t *testing.T, s string, loopback bool) {
		iss, err := parseIssuer(s)
		if err != nil {
			return
		}
		if strings.HasSuffix(iss, "/") {
			t.Fatalf("parseIssuer(%q) = %q, has a trailing slash", s, iss)
		}
		if checkIssuerScheme(iss, loopback) == nil && !strings.HasPrefix(iss, "https://") && !(loopback && strings.HasPrefix(iss, "http://")) {
			t.Fatalf("parseIssuer(%q) = %q, accepted with loopback=%v, want https", s, iss, loopback)
		}
		// The issuer is in its one written form: parsing it again changes
		// nothing.
		if again, err := parseIssuer(iss); err != nil || again != iss {
			t.Fatalf("parseIssuer(%q) = %q, then parseIssuer(%q) = %q, %v", s, iss, iss, again, err)
		}
	})
}
