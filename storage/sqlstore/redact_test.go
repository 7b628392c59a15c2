package sqlstore

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestRedactPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, want string
	}{
		{"user info", "postgres://bob:hunter2@db:5432/latch", "postgres://bob:xxxxx@db:5432/latch"},
		{"query", "postgresql://bob@db/latch?sslmode=require&password=hunter2", "postgresql://bob@db/latch?sslmode=require&password=xxxxx"},
		{"sslpassword", "postgres://bob@db/latch?sslpassword=hunter2", "postgres://bob@db/latch?sslpassword=xxxxx"},
		{"escaped", "postgres://bob:p%40ss@db/latch?password=q%26s", "postgres://bob:xxxxx@db/latch?password=xxxxx"},
		{"one inside the other", "postgres://bob:pw@db/latch?password=pwpw", "postgres://bob:xxxxx@db/latch?password=xxxxx"},
		{"malformed port", "postgres://bob:hunter2@db:port/latch", "postgres://bob:xxxxx@db:port/latch"},
		{"no password", "postgres://bob@db/latch?user=x", "postgres://bob@db/latch?user=x"},
		{"sqlite", "sqlite:latch.db?password=x", "sqlite:latch.db?password=x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Drivers quote the URL as written, and sometimes decoded.
			if got := redactPasswords(tc.url, tc.url); got != tc.want {
				t.Errorf("redactPasswords(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
	err := redact(fmt.Errorf("open: %w: p@ss", io.EOF), "postgres://bob:p%40ss@db/latch")
	if err.Error() != "open: EOF: xxxxx" || !errors.Is(err, io.EOF) {
		t.Errorf("redact = %q, Is(io.EOF) = %v", err, errors.Is(err, io.EOF))
	}
}

// FuzzDatabasePasswords checks that the passwords Latch takes out of error
// messages include the ones url.Parse, and so the PostgreSQL driver, finds.
func FuzzDatabasePasswords(f *testing.F) {
	f.Add("postgres://bob:hunter2@db:5432/latch")                // user info
	f.Add("postgres://bob@db/latch?sslmode=disable&password=pw") // query parameter
	f.Add("postgres://bob:p%40ss:w@db/latch?pass%77ord=q%26s#x") // escapes, a colon in the password, a fragment
	f.Add("postgres://a@b:c@db/latch?password=1&password=2")     // an @ in the user name; two parameters
	f.Add("postgres://bob:hunter2@[::1/latch")                   // url.Parse refuses it
	f.Fuzz(func(t *testing.T, s string) {
		pws := databasePasswords(s)
		for _, pw := range pws {
			if pw == "" {
				t.Fatalf("databasePasswords(%q) has an empty password", s)
			}
		}
		u, err := url.Parse(s)
		if err != nil || !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
			return
		}
		want := u.Query()["password"]
		if pw, ok := u.User.Password(); ok {
			want = append(want, pw)
		}
		for _, pw := range want {
			if pw != "" && !slices.Contains(pws, pw) {
				t.Fatalf("databasePasswords(%q) = %q, misses %q", s, pws, pw)
			}
		}
	})
}
