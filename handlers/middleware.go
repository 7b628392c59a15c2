package handlers

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchhq/latch/oauth/bearer"
	"github.com/latchhq/latch/oauth/reqlog"
)

// requestID gives every request an id, in the X-Request-Id answer header
// and in the context's log scope (package reqlog), from which every line
// logged with the request's context carries it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(reqlog.NewContext(r.Context(), id)))
	})
}

// hsts is the Strict-Transport-Security of answers over TLS: browsers use
// https for the host for two years (RFC 6797). No includeSubDomains: the
// domain's other hosts are not Latch's to decide.
const hsts = "max-age=63072000"

// securityHeaders sets headers that make answers safe to render nowhere,
// and, on a request that reached Latch over TLS (LATCH_TLS_CERT), the HSTS
// header, which RFC 6797 §7.2 forbids over plain HTTP. Behind a proxy that
// ends TLS, HSTS is the proxy's to send.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		next.ServeHTTP(w, r)
	})
}

// noStore marks every answer at the given paths uncacheable, as RFC 6749
// §5.1 asks of token responses. fosite sets these headers on what it
// writes; setting them here for the whole path, before routing, covers the
// answers the edge writes there too (405, the 413 of limitBody), so that a
// client or a cache meets one rule per endpoint.
func noStore(paths ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slices.Contains(paths, r.URL.Path) {
				w.Header().Set("Cache-Control", "no-store")
				w.Header().Set("Pragma", "no-cache")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// crossOrigin lets browser apps on other origins call the given paths: a
// single-page app signs its users in at the token endpoint and signs them
// out at the revocation endpoint, and reads the metadata and keys. Any
// origin may, because nothing there rides on the browser's ambient
// credentials: these endpoints read no cookies, and a caller must send the
// client's and user's credentials itself, which another origin's page does
// not have. Introspection and the admin API are for servers and operators
// and stay same-origin.
func crossOrigin(paths ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !slices.Contains(paths, r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			// Whether or not the request has an Origin: the metadata and
			// the keys are cacheable, and a shared cache must not keep an
			// answer without these headers for a browser app to get.
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, DPoP-Nonce")
			if r.Method != http.MethodOptions || r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
				next.ServeHTTP(w, r)
				return
			}
			// A preflight (Fetch standard): answered here, since no route
			// serves OPTIONS. It names the methods of all these paths; a
			// request with one its path does not serve still gets 405.
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

// statusRecorder remembers the status written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) code() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// logRequests logs one line per request: its id, the client it
// authenticated as (when it did), method, path (never the query, which a
// careless client may fill with credentials), status and duration. The ids
// are written here even though a reqlog handler would add them, so that
// the line has them whatever logger handlers is given.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// The cause of a 5xx was logged where it happened; this line only
		// records the request.
		level := slog.LevelInfo
		if rec.code() >= 500 {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String(reqlog.KeyRequestID, reqlog.RequestID(r.Context()))}
		if id := reqlog.ClientID(r.Context()); id != "" {
			attrs = append(attrs, slog.String(reqlog.KeyClientID, id))
		}
		logger.LogAttrs(r.Context(), level, "request", append(attrs,
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.code()),
			slog.Duration("duration", time.Since(start)),
		)...)
	})
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic", "path", r.URL.Path, "panic", v)
				writeJSONError(w, http.StatusInternalServerError, "server_error", "Internal error.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies: 413 when the declared length is too large,
// and a read error when a streamed body runs over, which the OAuth2
// endpoints and the admin API answer 413 too. Paths under except are left
// to a limitBody of their own: the admin API caps after its bearer check.
func limitBody(max int64, except string) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if except != "" && strings.HasPrefix(r.URL.Path, except) {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > max {
				writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, max)
			next.ServeHTTP(w, r)
		})
	}
}

// requireAdmin guards the admin API with a bearer token compared in
// constant time. Without a configured token the admin API does not exist.
func requireAdmin(token string) mux.MiddlewareFunc {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if token == "" {
				writeJSONError(w, http.StatusNotFound, "not_found", "The admin API is off: no admin token is set.")
				return
			}
			got, presented := bearer.Token(r)
			sum := sha256.Sum256([]byte(got))
			if !presented || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				challenge := `Bearer realm="latch-admin"`
				if presented {
					// RFC 6750 §3.1: an error code only when a token was
					// presented; a caller that sent none just learns the
					// scheme.
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
				writeJSONError(w, http.StatusUnauthorized, "invalid_token", "A valid admin bearer token is required.")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// clientAddress returns a function that names the client of a request: the
// peer address, or, when the peer is a trusted proxy, the right-most address
// of X-Forwarded-For that is not itself a trusted proxy.
func clientAddress(trusted []netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil {
			return host
		}
		// One client, one key: ::ffff:192.0.2.1 is 192.0.2.1.
		peer = peer.Unmap()
		if !isTrusted(peer) {
			return peer.String()
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := forwardedAddr(hops[i])
			if !ok {
				break
			}
			if !isTrusted(a) {
				return a.String()
			}
		}
		return peer.String()
	}
}

// forwardedAddr parses one X-Forwarded-For hop: an address, or an address
// and a port, which some load balancers write.
func forwardedAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// httpMetrics counts requests and times them per route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latch_http_requests_total",
			Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latch_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unknown"
		if cr := mux.CurrentRoute(r); cr != nil && cr.GetName() != "" {
			route = cr.GetName()
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.code())).Inc()
	})
}
