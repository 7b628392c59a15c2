package sqlstore

import (
	"net/url"
	"slices"
	"strings"
)

// databasePasswords returns the passwords in a postgres:// URL, each as
// written and decoded: the user-info password and the password and
// sslpassword query parameters. It parses by hand, so that a URL that
// url.Parse refuses still gives up its password.
func databasePasswords(databaseURL string) []string {
	_, rest, ok := strings.Cut(databaseURL, "://")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	authority, _, _ := strings.Cut(rest, "/")
	var out []string
	add := func(raw string, unescape func(string) (string, error)) {
		if raw == "" {
			return
		}
		out = append(out, raw)
		if v, err := unescape(raw); err == nil && v != raw && v != "" {
			out = append(out, v)
		}
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
			add(pw, url.PathUnescape)
		}
	}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err == nil && (k == "password" || k == "sslpassword") {
			add(v, url.QueryUnescape)
		}
	}
	return out
}

// RedactURL returns databaseURL with its passwords replaced by "xxxxx", for
// showing it (a flag's default in a usage text, say).
func RedactURL(databaseURL string) string { return redactPasswords(databaseURL, databaseURL) }

// redactPasswords replaces every password of databaseURL in s by "xxxxx".
func redactPasswords(s, databaseURL string) string {
	pws := databasePasswords(databaseURL)
	// Longest first: a password that contains another is replaced whole.
	slices.SortFunc(pws, func(a, b string) int { return len(b) - len(a) })
	for _, pw := range pws {
		s = strings.ReplaceAll(s, pw, "xxxxx")
	}
	return s
}

// redactedError is an error whose message has the database passwords
// taken out. errors.Is and errors.As still see the error it wraps.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact takes the passwords of databaseURL out of err's message. The
// drivers quote the URL in their errors: pgx masks a user-info password but
// not a password query parameter.
func redact(err error, databaseURL string) error {
	msg := redactPasswords(err.Error(), databaseURL)
	if msg == err.Error() {
		return err
	}
	return &redactedError{err: err, msg: msg}
}
