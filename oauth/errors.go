package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/storage"
)

// Error codes: what kind of failure an error is, whichever door (the admin
// API, the command line, the OAuth endpoints) answers it. [ErrorCode]
// derives them; each door maps them to its answer in one function.
const (
	EInvalid       = "invalid"        // the caller's input is wrong; the message says how
	ENotFound      = "not_found"      // storage.ErrNotFound
	EAlreadyExists = "already_exists" // storage.ErrAlreadyExists: a unique key is taken
	EConflict      = "conflict"       // storage.ErrConflict: lost a race; trying again may succeed
	EUnavailable   = "unavailable"    // storage.ErrUnavailable: the database is down
	ECanceled      = "canceled"       // the request ended (context.Canceled, DeadlineExceeded)
	EInternal      = "internal"       // anything else: a defect, logged with its cause
)

// Error is a failure whose Message is safe to show to whoever made the
// request: an operator's mistake, such as a malformed field. Package oauth
// returns one where it has something to say; storage failures keep their
// sentinel errors, from which [ErrorCode] derives a code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "oauth: " + e.Code + ": " + e.Message }

// invalid returns an EInvalid [Error] whose message names the field and
// what is wrong with it.
func invalid(format string, args ...any) error {
	return &Error{Code: EInvalid, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: that of the [Error] in its chain, else
// one derived from the context's and storage's sentinel errors, else
// EInternal; "" for nil. It is the one place that decides what kind of
// failure an error is. A request that ended is ECanceled first, whatever
// else its chain holds: a store may report the end of a request as an
// outage. For an error of a request, [Canceled] also asks its context.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ECanceled
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, storage.ErrUnavailable):
		return EUnavailable
	case errors.Is(err, storage.ErrConflict):
		return EConflict
	case errors.Is(err, storage.ErrAlreadyExists):
		return EAlreadyExists
	case errors.Is(err, storage.ErrNotFound):
		return ENotFound
	}
	return EInternal
}

// genericMessages are what callers are told of an error without a message
// of its own: never the cause, which may name tables, queries or hosts.
var genericMessages = map[string]string{
	EInvalid:       "The request is invalid.",
	ENotFound:      "No such resource.",
	EAlreadyExists: "A resource with that identifier already exists.",
	EConflict:      "Another request changed the same resource at the same time; retry.",
	EUnavailable:   "The database is unavailable; retry later.",
	ECanceled:      "The request ended before it was answered.",
	EInternal:      "Internal error.",
}

// ErrorMessage returns what the caller may be told of err: the message of
// the [Error] in its chain, else a generic message for its code.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && ErrorCode(err) == e.Code {
		return e.Message
	}
	return genericMessages[ErrorCode(err)]
}

// Canceled reports whether a request ended before it was answered: err's
// code is ECanceled, or ctx, the request's context, has ended (a database
// driver interrupted by the end of a context may say only "interrupted").
// Such a request is no outage and no failed authentication: it is answered
// quietly, logged at Debug, and counts toward no lockout.
func Canceled(ctx context.Context, err error) bool {
	return ErrorCode(err) == ECanceled || ctx.Err() != nil
}

// StatusClientClosedRequest answers a request that ended before it was
// answered: nginx's 499 "client closed request". It is no 5xx, which
// metrics and logs would count as a failure of the server.
const StatusClientClosedRequest = 499

// errRequestEnded is the answer to a request that ended before it was
// answered; its client hung up or ran out of time and will not read it.
var errRequestEnded = &fosite.RFC6749Error{
	ErrorField:       "request_canceled",
	DescriptionField: genericMessages[ECanceled],
	CodeField:        StatusClientClosedRequest,
}

// errContested answers a token request that lost a race in the database
// (storage.ErrConflict: a serialization failure or a deadlock, on the user,
// the login or the guard's counters): API.md answers every contested case
// invalid_grant, never a 5xx. The refresh grant says more (refresh.go).
var errContested = fosite.ErrInvalidGrant.WithHint("Another request changed the same login at the same time; retry.")

// mapError is the token endpoint's mapping of err, by [ErrorCode], to an
// RFC 6749 error: a request that ended before its answer is
// [StatusClientClosedRequest] (no one reads that answer, and it must not
// count or log as a failure of the server); a storage outage anywhere in
// err's chain is 503 temporarily_unavailable, so that it never reads as a
// bad credential or a 500; a lost race is invalid_grant; anything else
// that fosite would answer 5xx is server_error, without detail.
func (p *Provider) mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	code := ErrorCode(err)
	if Canceled(ctx, err) {
		code = ECanceled
	}
	switch code {
	case ECanceled:
		return errRequestEnded.WithWrap(err)
	case EUnavailable:
		return fosite.ErrTemporarilyUnavailable.WithHint(genericMessages[EUnavailable]).WithWrap(err)
	case EConflict:
		return errContested.WithWrap(err)
	}
	if status := fosite.ErrorToRFC6749Error(err).CodeField; status >= 500 && status != http.StatusServiceUnavailable {
		// Unexpected: say so to the client without detail, keep the cause.
		return fosite.ErrServerError.WithWrap(err)
	}
	return err
}

// mapRetryError is [Provider.mapError] for revocation and introspection,
// which answer a lost race 503 with Retry-After instead: it grants nothing,
// and RFC 7009 §2.2.1 tells a client that gets 503 to assume the token
// still exists and retry later, which is the truth of a revocation that
// rolled back.
func (p *Provider) mapRetryError(ctx context.Context, err error) error {
	if ErrorCode(err) == EConflict && !Canceled(ctx, err) {
		return fosite.ErrTemporarilyUnavailable.WithHint(genericMessages[EConflict]).WithWrap(err)
	}
	return p.mapError(ctx, err)
}

// storageError wraps a storage error for fosite: not-found reads as
// fosite.ErrNotFound, everything else keeps its chain so that
// [Provider.mapError] can recognise an outage or a lost race.
func storageError(op string, err error) error {
	if ErrorCode(err) == ENotFound {
		return fmt.Errorf("oauth: %s: %w: %w", op, fosite.ErrNotFound, err)
	}
	return fmt.Errorf("oauth: %s: %w", op, err)
}
