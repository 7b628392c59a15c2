package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
)

// handleStatusList serves GET /oauth2/status/{list}: the Status List Token
// of a list (draft-ietf-oauth-status-list §8), cacheable for the list's
// ttl, with an ETag that If-None-Match answers 304 to. An unknown list, or
// any list with opaque access tokens, is 404.
func handleStatusList(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return jwtOnly(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pathVar(r, "list")
		var tok *oauth.StatusListToken
		if err == nil {
			tok, err = p.StatusList(r.Context(), id)
		}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			writeJSONError(w, http.StatusNotFound, "not_found", "No such status list.")
			return
		case err != nil:
			unavailable(w, r, logger, err, "status list failed", "The status list cannot be read; retry later.")
			return
		}
		h := w.Header()
		h.Set("Cache-Control", maxAge(p))
		h.Set("ETag", tok.ETag)
		if etagMatches(r.Header.Get("If-None-Match"), tok.ETag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", oauth.StatusListMediaType)
		h.Set("Content-Length", strconv.Itoa(len(tok.Token)))
		_, _ = w.Write(tok.Token)
	}))
}

// handleStatusLists serves GET /oauth2/status, the Status List Aggregation
// (the draft's §9.3): the URI of every list that still covers an unexpired
// token. 404 with opaque access tokens.
func handleStatusLists(logger *slog.Logger, p *oauth.Provider) http.Handler {
	return jwtOnly(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uris, err := p.StatusListURIs(r.Context())
		if err != nil {
			unavailable(w, r, logger, err, "status list failed", "The status list cannot be read; retry later.")
			return
		}
		w.Header().Set("Cache-Control", maxAge(p))
		writeJSON(w, http.StatusOK, map[string][]string{"status_lists": uris})
	}))
}

func maxAge(p *oauth.Provider) string {
	return "max-age=" + strconv.Itoa(max(1, int(p.StatusListTTL().Seconds())))
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 §13.1.2)
// against etag: "*" or any listed tag with the same opaque value.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
