package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/latchhq/latch/storage"
)

// TestErrorCode: the code of an error comes from the Error in its chain,
// else from the context's and storage's sentinels, however deeply wrapped;
// a request that ended is canceled even when its store called that an
// outage; anything else is internal, and its message never shows the
// cause.
func TestErrorCode(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("oauth: op: %w", fmt.Errorf("sqlstore: op: %w", err)) }
	const secret = `relation "users" on host db.internal`
	for _, tc := range []struct {
		name    string
		err     error
		code    string
		message string
	}{
		{"nil", nil, "", ""},
		{"invalid", invalid("username: must be %d to %d bytes", 1, 255), EInvalid, "username: must be 1 to 255 bytes"},
		{"invalid, wrapped", wrap(invalid("scope: %q is bad", "x")), EInvalid, `scope: "x" is bad`},
		{"typed not found", &Error{Code: ENotFound, Message: "no user alice"}, ENotFound, "no user alice"},
		{"not found", wrap(storage.ErrNotFound), ENotFound, "No such resource."},
		{"already exists", wrap(storage.ErrAlreadyExists), EAlreadyExists, "A resource with that identifier already exists."},
		{"conflict", wrap(fmt.Errorf("%w: %s", storage.ErrConflict, secret)), EConflict, "Another request changed the same resource at the same time; retry."},
		{"unavailable", wrap(fmt.Errorf("%w: %s", storage.ErrUnavailable, secret)), EUnavailable, "The database is unavailable; retry later."},
		{"canceled", wrap(context.Canceled), ECanceled, "The request ended before it was answered."},
		{"deadline", wrap(context.DeadlineExceeded), ECanceled, "The request ended before it was answered."},
		{"canceled, reported as an outage", fmt.Errorf("%w: %w", storage.ErrUnavailable, context.Canceled), ECanceled, "The request ended before it was answered."},
		{"anything else", errors.New(secret), EInternal, "Internal error."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
			}
			if got := ErrorMessage(tc.err); got != tc.message {
				t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.message)
			}
			if strings.Contains(ErrorMessage(tc.err), "db.internal") {
				t.Errorf("ErrorMessage(%v) shows the cause", tc.err)
			}
		})
	}
}

// TestCanceledAsksTheContext: an error of a request whose context ended is
// canceled, whatever the driver called it.
func TestCanceledAsksTheContext(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	interrupted := fmt.Errorf("sqlstore: get user: %w: interrupted", storage.ErrUnavailable)
	if !Canceled(ended, interrupted) {
		t.Error("an outage of an ended request is not Canceled")
	}
	if Canceled(t.Context(), interrupted) {
		t.Error("an outage of a live request is Canceled")
	}
}
