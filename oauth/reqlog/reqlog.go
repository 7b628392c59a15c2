// Package reqlog carries what the logs should say about a request, its
// request_id and, once known, its client_id, in the request's context, and
// adds both to every line logged with that context.
//
// Package handlers starts the scope at the edge ([NewContext]); package
// oauth names the client when it has authenticated it ([SetClientID]); and
// cmd/latch wraps the program's slog handler with [NewHandler], so that
// every ...Context(ctx, ...) call under a request, however deep, writes
// lines that can be joined to the request's access line. It imports only
// the standard library.
package reqlog

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// Attribute keys, the same as the style guide's.
const (
	KeyRequestID = "request_id"
	KeyClientID  = "client_id"
)

// scope is one request's log attributes. The client id is set after the
// scope was put in the context, deep inside fosite's client authentication,
// whose context never flows back to the edge; a holder shared by pointer
// lets the access line, written at the edge when the request is done, name
// the client too. It is atomic because a line may be logged from another
// goroutine of the request.
type scope struct {
	requestID string
	clientID  atomic.Pointer[string]
}

type scopeKey struct{}

// NewContext returns ctx carrying the log scope of a new request with the
// given id.
func NewContext(ctx context.Context, requestID string) context.Context {
	return context.WithValue(ctx, scopeKey{}, &scope{requestID: requestID})
}

func scopeOf(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

// RequestID returns the id of the request ctx belongs to, or "" outside a
// request.
func RequestID(ctx context.Context) string {
	if s := scopeOf(ctx); s != nil {
		return s.requestID
	}
	return ""
}

// ClientID returns the client the request has authenticated as, or "".
func ClientID(ctx context.Context) string {
	if s := scopeOf(ctx); s != nil {
		if id := s.clientID.Load(); id != nil {
			return *id
		}
	}
	return ""
}

// SetClientID records the client the request has authenticated as, for
// every line logged with ctx from now on, the access line included. Outside
// a request it does nothing.
func SetClientID(ctx context.Context, clientID string) {
	if s := scopeOf(ctx); s != nil {
		s.clientID.Store(&clientID)
	}
}

// Handler adds the request attributes of a record's context to the record
// before the handler it wraps sees it (like dex cmd/dex/logger.go). A key
// the line already has, in its own attributes or in the logger's (With),
// is not added twice: an audit line's client_id stays the one it names.
// Under a logger's WithGroup the attributes land in that group; Latch logs
// no groups.
type Handler struct {
	next slog.Handler
	// has are the request keys the logger's own attributes already set.
	hasRequestID, hasClientID bool
}

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled is next's: the level decides before any attribute is gathered.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds request_id and client_id from ctx, when ctx belongs to a
// request, and hands the record on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	s := scopeOf(ctx)
	if s == nil {
		return h.next.Handle(ctx, r)
	}
	addRequestID, addClientID := !h.hasRequestID, !h.hasClientID
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case KeyRequestID:
			addRequestID = false
		case KeyClientID:
			addClientID = false
		}
		return addRequestID || addClientID
	})
	if addRequestID {
		r.AddAttrs(slog.String(KeyRequestID, s.requestID))
	}
	if id := s.clientID.Load(); addClientID && id != nil {
		r.AddAttrs(slog.String(KeyClientID, *id))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs wraps next's handler with attrs, noting request keys among them.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	for _, a := range attrs {
		c.hasRequestID = c.hasRequestID || a.Key == KeyRequestID
		c.hasClientID = c.hasClientID || a.Key == KeyClientID
	}
	return &c
}

// WithGroup wraps next's handler with the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
