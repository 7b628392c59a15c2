package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
)

// clientJSON is a client's RFC 7591 metadata as the admin API shows it.
type clientJSON struct {
	ClientID              string   `json:"client_id"`
	ClientSecret          string   `json:"client_secret,omitempty"`
	ClientName            string   `json:"client_name,omitempty"`
	GrantTypes            []string `json:"grant_types"`
	Scope                 string   `json:"scope"`
	AuthMethod            string   `json:"token_endpoint_auth_method"`
	CanIntrospect         bool     `json:"can_introspect"`
	Audience              []string `json:"audience"`
	DPoPBoundAccessTokens bool     `json:"dpop_bound_access_tokens"`
	ClientIDIssuedAt      int64    `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64   `json:"client_secret_expires_at,omitempty"`
}

func toClientJSON(c *storage.Client) clientJSON {
	return clientJSON{
		ClientID: c.ID, ClientName: c.Name, GrantTypes: nonNil(c.GrantTypes), Scope: strings.Join(c.Scopes, " "),
		AuthMethod: c.AuthMethod, CanIntrospect: c.CanIntrospect, Audience: nonNil(c.Audience),
		ClientIDIssuedAt: c.CreatedAt.Unix(), DPoPBoundAccessTokens: c.DPoPBoundAccessTokens,
	}
}

type userJSON struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at"`
	Disabled  *bool     `json:"disabled,omitempty"`
}

func toUserJSON(u *storage.User) userJSON {
	disabled := u.Disabled
	return userJSON{ID: u.ID, Username: u.Username, CreatedAt: u.CreatedAt, Disabled: &disabled}
}

type sessionJSON struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	Scope      string    `json:"scope"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type eventJSON struct {
	Type          string    `json:"type"`
	FamilyID      string    `json:"session_id,omitempty"`
	ClientID      string    `json:"client_id,omitempty"`
	UserID        string    `json:"user_id,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	ClientAddress string    `json:"client_address,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// Enforced is on reuse_detected events only: whether the reuse ended
	// the login or reuse detection only reported it (API.md).
	Enforced *bool `json:"enforced,omitempty"`
	// Signals are the refresh-time signals a refresh raised (API.md).
	Signals []string `json:"signals,omitempty"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

func handleCreateClient(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ClientID      string   `json:"client_id"`
			ClientSecret  string   `json:"client_secret"`
			ClientName    string   `json:"client_name"`
			GrantTypes    []string `json:"grant_types"`
			Scope         string   `json:"scope"`
			AuthMethod    string   `json:"token_endpoint_auth_method"`
			CanIntrospect bool     `json:"can_introspect"`
			Audience      []string `json:"audience"`
			DPoPBound     bool     `json:"dpop_bound_access_tokens"`
		}
		if !decodeJSON(w, r, &in) {
			return
		}
		c, secret, err := p.CreateClient(r.Context(), oauth.ClientSpec{
			ID: in.ClientID, Secret: in.ClientSecret, Name: in.ClientName, GrantTypes: in.GrantTypes,
			Scope: in.Scope, AuthMethod: in.AuthMethod, CanIntrospect: in.CanIntrospect, Audience: in.Audience,
			DPoPBoundAccessTokens: in.DPoPBound,
		})
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := toClientJSON(c)
		// RFC 7591 asks for client_secret_expires_at with a secret; API.md
		// puts it in every 201, and 0 (never) is true of a public client too.
		never := int64(0)
		out.ClientSecret, out.ClientSecretExpiresAt = secret, &never
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusCreated, out)
	})
}

func handleListClients(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs, err := p.Clients(r.Context())
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := list[clientJSON]{Items: []clientJSON{}}
		for i := range cs {
			out.Items = append(out.Items, toClientJSON(&cs[i]))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handleGetClient(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		c, err := p.Client(r.Context(), id)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, toClientJSON(c))
	})
}

func handleDeleteClient(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return noContent(logger, func(r *http.Request) error {
		id, err := pathVar(r, "id")
		if err != nil {
			return err
		}
		return p.DeleteClient(r.Context(), id)
	})
}

func handleCreateUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if !decodeJSON(w, r, &in) {
			return
		}
		u, err := p.CreateUser(r.Context(), in.Username, in.Password)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := toUserJSON(u)
		out.Disabled = nil
		writeJSON(w, http.StatusCreated, out)
	})
}

// handleFindUser serves GET /admin/users?username=NAME: zero or one user;
// with username_prefix instead, the users it starts (handleSearchUsers).
func handleFindUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("username_prefix") {
			handleSearchUsers(logger, p, w, r)
			return
		}
		name := r.URL.Query().Get("username")
		if name == "" {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "username: the query parameter is required")
			return
		}
		out := list[userJSON]{Items: []userJSON{}}
		u, err := p.UserByUsername(r.Context(), name)
		switch {
		case err == nil:
			out.Items = append(out.Items, toUserJSON(u))
		case oauth.ErrorCode(err) != oauth.ENotFound:
			writeAdminError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handleGetUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		u, err := p.User(r.Context(), id)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, toUserJSON(u))
	})
}

func handlePatchUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		var in struct {
			Disabled *bool `json:"disabled"`
		}
		if !decodeJSON(w, r, &in) {
			return
		}
		if in.Disabled == nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "disabled: a boolean is required")
			return
		}
		u, err := p.SetUserDisabled(r.Context(), id, *in.Disabled)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		writeJSON(w, http.StatusOK, toUserJSON(u))
	})
}

func handleDeleteUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return noContent(logger, func(r *http.Request) error {
		id, err := pathVar(r, "id")
		if err != nil {
			return err
		}
		return p.DeleteUser(r.Context(), id)
	})
}

func handleSetPassword(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		var in struct {
			Password string `json:"password"`
		}
		if !decodeJSON(w, r, &in) {
			return
		}
		if err := p.SetPassword(r.Context(), id, in.Password); err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleUnlockUser serves DELETE /admin/users/{id}/lockout: the user's
// failed logins are forgotten, and the user can log in again at once.
func handleUnlockUser(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return noContent(logger, func(r *http.Request) error {
		id, err := pathVar(r, "id")
		if err != nil {
			return err
		}
		return p.UnlockUser(r.Context(), id)
	})
}

func handleListSessions(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		fams, err := p.Sessions(r.Context(), id)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := list[sessionJSON]{Items: []sessionJSON{}}
		for _, f := range fams {
			out.Items = append(out.Items, sessionJSON{
				ID: f.ID, ClientID: f.ClientID, Scope: strings.Join(f.Scopes, " "),
				CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt, ExpiresAt: f.ExpiresAt,
			})
		}
		writeJSON(w, http.StatusOK, out)
	})
}

func handleRevokeUserSessions(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return noContent(logger, func(r *http.Request) error {
		id, err := pathVar(r, "id")
		if err != nil {
			return err
		}
		return p.RevokeUserSessions(oauthCtx(r), id)
	})
}

func handleRevokeSession(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return noContent(logger, func(r *http.Request) error {
		id, err := pathVar(r, "id")
		if err != nil {
			return err
		}
		return p.RevokeSession(oauthCtx(r), id)
	})
}

func handleSessionEvents(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "id")
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		events, err := p.SessionEvents(r.Context(), id)
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := list[eventJSON]{Items: []eventJSON{}}
		for _, e := range events {
			out.Items = append(out.Items, toEventJSON(e))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// toEventJSON is an event as both event lists of the admin API show it.
func toEventJSON(e storage.Event) eventJSON {
	ej := eventJSON{
		Type: e.Type, FamilyID: e.FamilyID, ClientID: e.ClientID, UserID: e.UserID, Reason: e.Reason,
		ClientAddress: e.Address, UserAgent: e.UserAgent, CreatedAt: e.CreatedAt, Signals: e.Signals,
	}
	if e.Type == oauth.EventReuseDetected {
		ej.Enforced = &e.Enforced
	}
	return ej
}

// eventPage is a page of GET /admin/events: the list, and the value of
// the before parameter that asks for the page after it, when this one is
// full.
type eventPage struct {
	Items []eventJSON `json:"items"`
	Next  string      `json:"next,omitempty"`
}

// eventParams are the query parameters of GET /admin/events.
var eventParams = []string{"type", "user_id", "since", "limit", "before"}

func handleSearchEvents(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, err := url.ParseQuery(r.URL.RawQuery)
		if err == nil {
			err = strictParams(params, eventParams)
		} else {
			err = &oauth.Error{Code: oauth.EInvalid, Message: "the query string is malformed"}
		}
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		page, err := p.SearchEvents(r.Context(), oauth.EventQuery{
			Type: params.Get("type"), UserID: params.Get("user_id"), Since: params.Get("since"),
			Limit: params.Get("limit"), Before: params.Get("before"),
		})
		if err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		out := eventPage{Items: []eventJSON{}, Next: page.Next}
		for _, e := range page.Events {
			out.Items = append(out.Items, toEventJSON(e))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// strictParams refuses a query parameter not in known, and one given
// twice: a misspelt filter would otherwise widen the answer silently.
func strictParams(params url.Values, known []string) error {
	for name, vs := range params {
		switch {
		case !slices.Contains(known, name):
			return &oauth.Error{Code: oauth.EInvalid, Message: fmt.Sprintf("unknown parameter %.40q (known: %s)", name, strings.Join(known, ", "))}
		case len(vs) > 1:
			return &oauth.Error{Code: oauth.EInvalid, Message: fmt.Sprintf("parameter %s is given more than once", name)}
		}
	}
	return nil
}

// pathVar returns a path variable of an admin route, unescaped. The routes
// match the escaped path so that an id holding "/" (a client_id is any
// VSCHAR, and URLs are common client ids) stays one path segment; every
// handler reads its ids here, so none sees one still escaped. A malformed
// escape names nothing: ErrNotFound, 404. (net/http refuses such a request
// line before routing; this keeps the answer right whoever built the
// request.)
func pathVar(r *http.Request, name string) (string, error) {
	raw := mux.Vars(r)[name]
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("handlers: path variable %s %q: %w", name, raw, storage.ErrNotFound)
	}
	return v, nil
}

// oauthCtx names the operator's address in audit events of admin actions.
func oauthCtx(r *http.Request) context.Context {
	return oauth.WithRequestInfo(r.Context(), oauth.RequestInfo{Address: r.RemoteAddr, UserAgent: r.UserAgent()})
}

func noContent(logger *slog.Logger, do func(*http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := do(r); err != nil {
			writeAdminError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// decodeJSON reads one JSON object into v with [decodeStrict], answering
// 413 for a body over the cap and 400 with the field at fault when it
// cannot decode it.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = decodeStrict(body, v)
	}
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooBig *http.MaxBytesError
	var invalid invalidBody
	msg := "the body must be one JSON object"
	switch {
	case errors.As(err, &tooBig):
		writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
		return false
	case errors.As(err, &invalid):
		msg = invalid.Error()
	case errors.As(err, &typeErr) && typeErr.Field != "":
		msg = fmt.Sprintf("%s: must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &typeErr):
		msg = "the body must be a JSON object"
	case errors.As(err, &syntaxErr):
		msg = fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF):
		msg = "the body is empty; a JSON object is required"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "the JSON body ends too early"
	}
	writeJSONError(w, http.StatusBadRequest, "invalid_request", msg)
	return false
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "ptr":
		return "value of the right type"
	}
	return goKind
}

// writeAdminError answers err in the admin API's shape, by its code
// ([oauth.ErrorCode]): the status and error in jsonErrors, and a
// description the caller may see ([oauth.ErrorMessage]). A request that
// ended first is answered 499 at Debug (answerEnded). An outage and an
// internal error are logged here, once, with their cause, which the
// caller is never shown.
func writeAdminError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if answerEnded(w, r, logger, err) {
		return
	}
	code := oauth.ErrorCode(err)
	a, ok := jsonErrors[code]
	if !ok {
		code, a = oauth.EInternal, jsonErrors[oauth.EInternal]
	}
	switch code {
	case oauth.EUnavailable:
		logger.ErrorContext(r.Context(), "admin request failed", "err", err)
		w.Header().Set("Retry-After", "5")
	case oauth.EInternal:
		logger.ErrorContext(r.Context(), "admin request failed", "err", err)
	}
	writeJSONError(w, a.status, a.error, oauth.ErrorMessage(err))
}

// jsonErrors maps each error code to the status and error of a
// writeJSONError answer: the admin API's (API.md: 400 bad input, 404, 409
// conflict), and the 499 of answerEnded. A lost race is 409 like a taken
// key: the caller may read again and retry; it is no failure of the
// server.
var jsonErrors = map[string]struct {
	status int
	error  string
}{
	oauth.EInvalid:       {http.StatusBadRequest, "invalid_request"},
	oauth.ENotFound:      {http.StatusNotFound, "not_found"},
	oauth.EAlreadyExists: {http.StatusConflict, "conflict"},
	oauth.EConflict:      {http.StatusConflict, "conflict"},
	oauth.EUnavailable:   {http.StatusServiceUnavailable, "temporarily_unavailable"},
	oauth.ECanceled:      {oauth.StatusClientClosedRequest, "request_canceled"},
	oauth.EInternal:      {http.StatusInternalServerError, "server_error"},
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
