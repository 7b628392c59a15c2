package handlers

import (
	"log/slog"
	"net/http"

	"github.com/latchhq/latch/oauth"
)

// handleJWKS serves GET /.well-known/jwks.json (RFC 7517): the public keys
// that verify Latch's JWT access tokens. With opaque access tokens there is
// nothing to verify, and it answers 404. The short max-age lets resource
// servers cache the set while a rotation still reaches them quickly; they
// refetch anyway when a token names a kid they do not know.
func handleJWKS(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return jwtOnly(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set, err := p.JWKS(r.Context())
		if err != nil {
			unavailable(w, r, logger, err, "jwks failed", "The signing keys cannot be read; retry later.")
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		writeJSON(w, http.StatusOK, set)
	}))
}

// jwtOnly answers 404 for what exists only with JWT access tokens while
// they are opaque.
func jwtOnly(p *oauth.Provider, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.JWTAccessTokens() {
			writeJSONError(w, http.StatusNotFound, "not_found", "JWT access tokens are not enabled.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unavailable answers a read that failed: 503 with Retry-After and
// description, logged as msg, unless the request itself ended first.
func unavailable(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error, msg, description string) {
	if answerEnded(w, r, logger, err) {
		return
	}
	logger.ErrorContext(r.Context(), msg, "err", err)
	w.Header().Set("Retry-After", "5")
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", description)
}
