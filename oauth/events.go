package oauth

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchhq/latch/storage"
)

// Limits of an event search (API.md: GET /admin/events).
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
)

// EventQuery is an event search as an operator writes it: every field is
// optional text, checked by [Provider.SearchEvents].
type EventQuery struct {
	Type   string
	UserID string
	// Since is an RFC 3339 time.
	Since string
	// Limit is a number from 1 to MaxEventLimit (default
	// DefaultEventLimit).
	Limit string
	// Before is the Next of an earlier page: the search goes on after
	// that page's last event.
	Before string
}

// EventPage is one page of an event search, newest first. Next is set
// when the page is full: the Before of the page after it.
type EventPage struct {
	Events []storage.Event
	Next   string
}

// SearchEvents returns the events of every login that match q, newest
// first. A malformed field is an EInvalid error that names it.
func (p *Provider) SearchEvents(ctx context.Context, q EventQuery) (*EventPage, error) {
	f, err := q.filter()
	if err != nil {
		return nil, err
	}
	events, err := p.store.SearchEvents(ctx, f)
	if err != nil {
		return nil, err
	}
	page := &EventPage{Events: events}
	if len(events) == f.Limit {
		last := events[len(events)-1]
		page.Next = encodeEventCursor(storage.EventCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return page, nil
}

func (q EventQuery) filter() (storage.EventFilter, error) {
	f := storage.EventFilter{Type: q.Type, UserID: q.UserID, Limit: DefaultEventLimit}
	if len(q.Type) > 64 || strings.IndexFunc(q.Type, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		return f, invalid("type: must be an event type such as refreshed or reuse_detected (lower case letters and _)")
	}
	if len(q.UserID) > 255 || !utf8.ValidString(q.UserID) || strings.ContainsFunc(q.UserID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return f, invalid("user_id: must be a user id")
	}
	if q.Since != "" {
		since, err := time.Parse(time.RFC3339Nano, q.Since)
		if err != nil {
			return f, invalid("since: must be an RFC 3339 time, such as 2026-12-08T04:00:00Z")
		}
		f.Since = since
	}
	if q.Limit != "" {
		n, err := strconv.Atoi(q.Limit)
		if err != nil || n < 1 || n > MaxEventLimit {
			return f, invalid("limit: must be a whole number from 1 to %d", MaxEventLimit)
		}
		f.Limit = n
	}
	if q.Before != "" {
		c, ok := decodeEventCursor(q.Before)
		if !ok {
			return f, invalid("before: must be the next of an earlier page, as it was given")
		}
		f.After = &c
	}
	return f, nil
}

// An event cursor is opaque outside: base64url of "unixmicro.id".
func encodeEventCursor(c storage.EventCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)))
}

func decodeEventCursor(s string) (storage.EventCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 64 {
		return storage.EventCursor{}, false
	}
	at, id, ok := strings.Cut(string(b), ".")
	micros, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 0 {
		return storage.EventCursor{}, false
	}
	return storage.EventCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: n}, true
}
