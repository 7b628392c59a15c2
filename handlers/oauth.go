package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/oauth"
)

// handleToken serves POST /oauth2/token.
func handleToken(logger *slog.Logger, p *oauth.Provider, clients func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := withCaller(r, clients)
		if nonce, ok := p.DPoPNonce(); ok {
			// RFC 9449 §8: a fresh nonce with every answer, so that a
			// client never has to fail once to learn the next one.
			w.Header().Set(oauth.DPoPNonceHeader, nonce)
		}
		ar, resp, err := p.Token(ctx, r)
		if err != nil {
			writeOAuthError(ctx, logger, w, p, ar, err)
			return
		}
		p.WriteAccessResponse(ctx, w, ar, resp)
	})
}

// handleRevoke serves POST /oauth2/revoke (RFC 7009).
func handleRevoke(logger *slog.Logger, p *oauth.Provider, clients func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := withCaller(r, clients)
		if err := p.Revoke(ctx, r); err != nil {
			writeOAuthError(ctx, logger, w, p, nil, err)
			return
		}
		p.WriteRevocationResponse(ctx, w)
	})
}

// handleIntrospect serves POST /oauth2/introspect (RFC 7662).
func handleIntrospect(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		in, err := p.Introspect(ctx, r)
		if err != nil {
			writeOAuthError(ctx, logger, w, p, nil, err)
			return
		}
		writeJSON(w, http.StatusOK, in) // no-store: set by noStore for the whole path
	})
}

// writeOAuthError writes err in RFC 6749 §5.2's shape through the provider,
// adding what the RFCs ask of the headers: WWW-Authenticate on every 401
// (RFC 6749 §5.2) and Retry-After on 503.
func writeOAuthError(ctx context.Context, logger *slog.Logger, w http.ResponseWriter, p *oauth.Provider, ar fosite.AccessRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="latch"`)
	}
	if d, ok := oauth.RetryAfter(err); ok {
		// Whole seconds, rounded up: a client that waits what it is told
		// must find the refusal over.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
	} else if rfc.CodeField == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	switch {
	case rfc.CodeField == http.StatusServiceUnavailable:
		// Back-pressure or a database outage: expected, and /readyz says more.
		logger.WarnContext(ctx, "oauth request refused for now", "error", rfc.ErrorField, "err", err)
	case rfc.CodeField >= 500:
		logger.ErrorContext(ctx, "oauth request failed", "error", rfc.ErrorField, "err", err)
	default:
		// debug is what the client is not told, such as why its
		// authentication failed (STYLE.md: debug detail goes to the logs).
		logger.DebugContext(ctx, "oauth request refused", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
	}
	p.WriteAccessError(ctx, w, ar, err)
}

// answerEnded answers a request that ended before its answer (its client
// hung up or ran out of time, [oauth.Canceled]) with 499, logged at Debug,
// and reports whether it did. Such a request is no outage and no failure:
// a 5xx would log a WARN line or an ERROR and count as one in the metrics.
// The OAuth endpoints get the same answer from the provider.
func answerEnded(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) bool {
	if !oauth.Canceled(r.Context(), err) {
		return false
	}
	logger.DebugContext(r.Context(), "request ended before its answer", "err", err)
	a := jsonErrors[oauth.ECanceled]
	writeJSONError(w, a.status, a.error, oauth.ErrorMessage(context.Canceled))
	return true
}

// withCaller adds the caller's address and user agent for the audit trail.
func withCaller(r *http.Request, clients func(*http.Request) string) context.Context {
	return oauth.WithRequestInfo(r.Context(), oauth.RequestInfo{Address: clients(r), UserAgent: r.UserAgent()})
}

// metadata is RFC 8414 authorization server metadata.
type metadata struct {
	Issuer                           string   `json:"issuer"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	RevocationEndpoint               string   `json:"revocation_endpoint"`
	IntrospectionEndpoint            string   `json:"introspection_endpoint"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	JWKSURI                          string   `json:"jwks_uri,omitempty"`
	// StatusListAggregation is draft-ietf-oauth-status-list's
	// status_list_aggregation_endpoint, with JWT access tokens.
	StatusListAggregation string   `json:"status_list_aggregation_endpoint,omitempty"`
	DPoPSigningAlgs       []string `json:"dpop_signing_alg_values_supported"`
}

// handleMetadata serves RFC 8414 metadata. There is no authorization
// endpoint, so response_types_supported is empty. jwks_uri and
// status_list_aggregation_endpoint are there when access tokens are JWTs.
func handleMetadata(issuer string, jwks bool) http.Handler {
	var jwksURI, statusLists string
	if jwks {
		jwksURI = issuer + "/.well-known/jwks.json"
		statusLists = issuer + "/oauth2/status"
	}
	body, err := json.Marshal(metadata{
		Issuer:                           issuer,
		TokenEndpoint:                    issuer + "/oauth2/token",
		RevocationEndpoint:               issuer + "/oauth2/revoke",
		IntrospectionEndpoint:            issuer + "/oauth2/introspect",
		GrantTypesSupported:              oauth.GrantTypes(),
		ResponseTypesSupported:           []string{},
		TokenEndpointAuthMethods:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethods: []string{"client_secret_basic", "client_secret_post"},
		JWKSURI:                          jwksURI,
		StatusListAggregation:            statusLists,
		DPoPSigningAlgs:                  oauth.DPoPAlgorithms,
	})
	if err != nil {
		panic(err) // a fixed struct of strings always marshals
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	})
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 200 only while the database answers.
func handleReadyz(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ready(ctx); err != nil {
			logger.WarnContext(r.Context(), "not ready", "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError writes {"error", "error_description"} for answers that are
// not OAuth2 protocol errors (routing, admin API).
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}
