// Package handlers is Latch's HTTP edge: it routes requests, parses and
// limits them, calls package oauth, and writes the answers. It holds no
// protocol rules of its own; OAuth2 errors are written through the provider
// so that every endpoint answers in RFC 6749 §5.2's shape.
package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/templates"
)

// Options configures the HTTP edge.
type Options struct {
	// AdminToken is the bearer of the admin API; empty turns it off (404).
	AdminToken string
	// TrustedProxies lists the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Registry serves /metrics and receives the HTTP metrics. Nil means a
	// fresh registry.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies; 0 means 64 KiB.
	MaxBodyBytes int64
	// Console is the operator console's pages; nil turns the console off.
	Console *templates.Templates
	// Version is shown in the console.
	Version string
}

// New builds Latch's whole HTTP tree.
func New(logger *slog.Logger, provider *oauth.Provider, opts Options) http.Handler {
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	m := newHTTPMetrics(opts.Registry)
	clients := clientAddress(opts.TrustedProxies)

	// Routes match the escaped path, so that an id holding "/" stays one
	// segment of /admin/clients/{id}; handlers unescape ids with pathVar.
	r := mux.NewRouter().UseEncodedPath()
	noRoute := handleNoRoute(r)
	r.NotFoundHandler = noRoute
	r.MethodNotAllowedHandler = noRoute
	r.Use(m.middleware, limitBody(opts.MaxBodyBytes, "/admin/"))

	// OAuth2 endpoints: no cookies, no CSRF protection; clients
	// authenticate themselves (and public clients call cross-origin).
	r.Handle("/oauth2/token", handleToken(logger, provider, clients)).Methods(http.MethodPost).Name("token")
	r.Handle("/oauth2/revoke", handleRevoke(logger, provider, clients)).Methods(http.MethodPost).Name("revoke")
	r.Handle("/oauth2/introspect", handleIntrospect(logger, provider)).Methods(http.MethodPost).Name("introspect")
	r.Handle(metadataPath, handleMetadata(provider.Issuer(), provider.JWTAccessTokens())).Methods(http.MethodGet, http.MethodHead).Name("metadata")
	r.Handle("/.well-known/jwks.json", handleJWKS(logger, provider)).Methods(http.MethodGet, http.MethodHead).Name("jwks")
	r.Handle("/oauth2/status", handleStatusLists(logger, provider)).Methods(http.MethodGet, http.MethodHead).Name("status_lists")
	r.Handle("/oauth2/status/{list}", handleStatusList(logger, provider)).Methods(http.MethodGet, http.MethodHead).Name("status_list")
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet, http.MethodHead).Name("healthz")
	r.Handle("/readyz", handleReadyz(logger, provider)).Methods(http.MethodGet, http.MethodHead).Name("readyz")
	r.Handle("/metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet).Name("metrics")

	// The console page is a shell without data, so a browser can open it
	// without the bearer; everything it shows comes from the admin API. It
	// exists only while the admin API does.
	console := opts.Console != nil && opts.AdminToken != ""
	if console {
		protect := http.NewCrossOriginProtection()
		r.Handle("/admin/ui/", protect.Handler(handleConsole(logger, opts.Console, templates.Console{Issuer: provider.Issuer(), Version: opts.Version}))).Methods(http.MethodGet, http.MethodHead).Name("admin_ui")
		r.PathPrefix("/admin/ui/static/").Handler(protect.Handler(handleConsoleStatic())).Methods(http.MethodGet, http.MethodHead).Name("admin_ui_static")
		r.Handle("/admin/ui", http.RedirectHandler("/admin/ui/", http.StatusMovedPermanently)).Methods(http.MethodGet, http.MethodHead).Name("admin_ui")
	}

	// The admin API is everything under /admin/ but the console's paths.
	// Every call needs the bearer (API.md), so it is checked before routing:
	// without it a wrong method or an unknown path answers 401 as well,
	// rather than a 404 or 405 that maps the API for anyone who asks.
	zone := r.PathPrefix("/admin/")
	if console {
		zone = zone.MatcherFunc(outsideConsole)
	}
	admin := zone.Subrouter()
	guard := requireAdmin(opts.AdminToken)
	admin.Use(guard, limitBody(opts.MaxBodyBytes, ""))
	// What answers GET answers HEAD, without the body (RFC 9110 §9.3.2);
	// net/http drops what a handler writes for HEAD.
	read := []string{http.MethodGet, http.MethodHead}
	admin.Handle("/clients", handleCreateClient(logger, provider)).Methods(http.MethodPost).Name("admin_clients")
	admin.Handle("/clients", handleListClients(logger, provider)).Methods(read...).Name("admin_clients")
	admin.Handle("/clients/{id}", handleGetClient(logger, provider)).Methods(read...).Name("admin_client")
	admin.Handle("/clients/{id}", handleDeleteClient(logger, provider)).Methods(http.MethodDelete).Name("admin_client")
	admin.Handle("/clients/{id}/secret", handleRotateClientSecret(logger, provider)).Methods(http.MethodPost).Name("admin_client_secret")
	admin.Handle("/stats", handleStats(logger, provider)).Methods(read...).Name("admin_stats")
	admin.Handle("/users", handleCreateUser(logger, provider)).Methods(http.MethodPost).Name("admin_users")
	admin.Handle("/users", handleFindUser(logger, provider)).Methods(read...).Name("admin_users")
	admin.Handle("/users/{id}", handleGetUser(logger, provider)).Methods(read...).Name("admin_user")
	admin.Handle("/users/{id}", handlePatchUser(logger, provider)).Methods(http.MethodPatch).Name("admin_user")
	admin.Handle("/users/{id}", handleDeleteUser(logger, provider)).Methods(http.MethodDelete).Name("admin_user")
	admin.Handle("/users/{id}/password", handleSetPassword(logger, provider)).Methods(http.MethodPut).Name("admin_user_password")
	admin.Handle("/users/{id}/lockout", handleUnlockUser(logger, provider)).Methods(http.MethodDelete).Name("admin_user_lockout")
	admin.Handle("/users/{id}/sessions", handleListSessions(logger, provider)).Methods(read...).Name("admin_user_sessions")
	admin.Handle("/users/{id}/sessions", handleRevokeUserSessions(logger, provider)).Methods(http.MethodDelete).Name("admin_user_sessions")
	admin.Handle("/sessions/{id}", handleRevokeSession(logger, provider)).Methods(http.MethodDelete).Name("admin_session")
	admin.Handle("/sessions/{id}/events", handleSessionEvents(logger, provider)).Methods(read...).Name("admin_session_events")
	admin.Handle("/events", handleSearchEvents(logger, provider)).Methods(read...).Name("admin_events")
	// mux runs a subrouter's middleware only for the requests its routes
	// take; the guard must also answer the others.
	admin.NotFoundHandler = guard(noRoute)
	admin.MethodNotAllowedHandler = guard(noRoute)

	tokenEndpoints := noStore("/oauth2/token", "/oauth2/revoke", "/oauth2/introspect")
	browserApps := crossOrigin("/oauth2/token", "/oauth2/revoke", metadataPath, "/.well-known/jwks.json")
	under := issuerPath(provider.Issuer(), r)
	return requestID(recoverPanics(logger, securityHeaders(under(tokenEndpoints(browserApps(logRequests(logger, r)))))))
}

// metadataPath is RFC 8414's well-known path for an issuer without a path.
const metadataPath = "/.well-known/oauth-authorization-server"

// MetadataURL is where RFC 8414 §3.1 puts the metadata of issuer: the
// well-known path goes between the host and the issuer's own path.
func MetadataURL(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return issuer + metadataPath
	}
	u.Path, u.RawPath = metadataPath+u.Path, ""
	return u.String()
}

// issuerPath serves an issuer with a path, such as https://example.com/auth,
// where its clients look: the metadata advertises endpoints under the path
// (https://example.com/auth/oauth2/token) and RFC 8414 §3.1 puts the
// metadata itself at /.well-known/oauth-authorization-server/auth. A proxy
// in front may pass those paths on as they are or strip the issuer's path
// first; either way the request reaches its route, because the tree is
// served at the root as well. A path a route of root takes is left alone,
// so an issuer path such as /oauth2 or /admin cannot shadow the root's.
func issuerPath(issuer string, root *mux.Router) func(http.Handler) http.Handler {
	u, err := url.Parse(issuer)
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	if err != nil || prefix == "" {
		return func(next http.Handler) http.Handler { return next }
	}
	routed := func(r *http.Request) bool {
		var m mux.RouteMatch
		return root.Match(r, &m) && !errors.Is(m.MatchErr, mux.ErrNotFound)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch p := r.URL.EscapedPath(); {
			case p == metadataPath+prefix:
				r = withEscapedPath(r, metadataPath)
			case strings.HasPrefix(p, prefix+"/") && !routed(r):
				r = withEscapedPath(r, strings.TrimPrefix(p, prefix))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// withEscapedPath returns a copy of r for another path, given escaped.
func withEscapedPath(r *http.Request, escaped string) *http.Request {
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = path, escaped
	r2.URL = &u
	return r2
}

// outsideConsole matches the paths under /admin/ that are not the
// console's, which answers without the bearer even when none of its routes
// takes the request. It reads the escaped path, as the routes do.
func outsideConsole(r *http.Request, _ *mux.RouteMatch) bool {
	p := r.URL.EscapedPath()
	return p != "/admin/ui" && !strings.HasPrefix(p, "/admin/ui/")
}

// handleNoRoute answers the requests no route takes: 405 with the Allow
// header RFC 9110 §15.5.6 asks for when routes serve the path with other
// methods, else 404. It decides by itself rather than trusting which of
// mux's two handlers called it: mux v1.8.1 forgets a method mismatch when
// any matcher of a later route matches (in a subrouter, every route's copy
// of the prefix does) and reports 404.
func handleNoRoute(root *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(root, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "This method is not allowed here.")
			return
		}
		writeJSONError(w, http.StatusNotFound, "not_found", "No such endpoint.")
	})
}

// allowedMethods lists, sorted, the methods of the routes that would take r
// but for its method.
func allowedMethods(root *mux.Router, r *http.Request) []string {
	var allow []string
	_ = root.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := route.GetMethods()
		if err != nil {
			// A subrouter's prefix: Walk visits its routes next.
			return nil
		}
		var m mux.RouteMatch
		if route.Match(r, &m) || errors.Is(m.MatchErr, mux.ErrMethodMismatch) {
			allow = append(allow, methods...)
		}
		return nil
	})
	slices.Sort(allow)
	return slices.Compact(allow)
}
