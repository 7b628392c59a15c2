package bearer

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// This file checks the status of JWT access tokens against the Token Status
// List (draft-ietf-oauth-status-list): a token whose claims carry
// "status": {"status_list": {"idx": N, "uri": URI}} is valid only while bit
// N of the list served at URI is 0.
//
// Each list is kept decoded in memory, one per URI, and read without a
// network round trip. Once a list is older than its ttl (or the HTTP
// max-age, whichever is shorter) the next request that needs it starts a
// refetch in the background, with If-None-Match, and is answered from the
// copy it has; a list older than Options.StatusListMaxStaleness, or past its
// exp, is not used: the request waits for a fetch, and fails with
// ErrUnavailable when the fetch fails (fail closed).
//
// So, while the server answers, a revocation is seen within ttl plus one
// fetch of the list after the revocation call returned (for a list in
// use), and never later than StatusListMaxStaleness whatever happens.

// Limits on what a server may make a verifier hold.
const (
	// maxStatusListToken bounds the Status List Token read from the wire.
	maxStatusListToken = 8 << 20
	// maxStatusListBytes bounds a decompressed list (a zlib bomb must not
	// exhaust memory): 16 MiB is 134M tokens at one bit each.
	maxStatusListBytes = 16 << 20
	// maxStatusLists bounds how many lists are held at once.
	maxStatusLists = 1000
	// minStatusRefresh is the least time between two fetches of a list,
	// whatever its ttl says, and the pause after a failed fetch.
	minStatusRefresh = time.Second
	// defaultStatusRefresh is the refresh interval of a list with neither
	// ttl nor max-age.
	defaultStatusRefresh = time.Minute
	// statusFetchTimeout bounds a background fetch, which no request's
	// context bounds.
	statusFetchTimeout = 30 * time.Second
)

// statusClaim is the "status" claim of a referenced token
// (draft-ietf-oauth-status-list §6.1). Other status mechanisms may sit
// beside status_list; they are not checked.
type statusClaim struct {
	StatusList *struct {
		Idx *json.Number `json:"idx"`
		URI string       `json:"uri"`
	} `json:"status_list"`
}

// checkStatus checks the status of a verified JWT access token: a token
// without a status_list passes unless Options.RequireStatusList is set.
// Errors wrap ErrInvalidToken (revoked, malformed, a list outside the
// issuer) or ErrUnavailable (no fresh enough list could be had).
func (v *Verifier) checkStatus(ctx context.Context, sc *statusClaim) error {
	if sc == nil || sc.StatusList == nil {
		if v.opts.RequireStatusList {
			return invalidf("no status_list claim")
		}
		return nil
	}
	ref := sc.StatusList
	idx, err := strconv.ParseInt(string(derefNumber(ref.Idx)), 10, 64)
	if err != nil || idx < 0 {
		return invalidf("status_list idx is not a non-negative integer")
	}
	if !v.underIssuer(ref.URI) {
		// Fetching any URI a token names would let a token make this
		// server call anywhere (SSRF): only the issuer's lists are read.
		return invalidf("status_list uri is not under the issuer")
	}
	list, err := v.status.get(ctx, ref.URI)
	if err != nil {
		return err
	}
	s, err := list.status(idx)
	if err != nil {
		return invalidf("%v", err)
	}
	if s != 0 {
		// 0x01 INVALID, 0x02 SUSPENDED, or anything else: not valid now.
		return invalidf("revoked (status %d)", s)
	}
	return nil
}

func derefNumber(n *json.Number) json.Number {
	if n == nil {
		return ""
	}
	return *n
}

// underIssuer reports whether raw is an https or http URL on the issuer's
// origin, under its path, without tricks (user info, dot segments).
func (v *Verifier) underIssuer(raw string) bool {
	iss := v.issuerURL
	u, err := url.Parse(raw)
	if err != nil || iss == nil || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return false
	}
	if !strings.EqualFold(u.Scheme, iss.Scheme) || !strings.EqualFold(u.Host, iss.Host) {
		return false
	}
	if u.Path == "" || path.Clean(u.Path) != u.Path || strings.Contains(u.Path, "//") {
		return false
	}
	return strings.HasPrefix(u.Path, strings.TrimSuffix(iss.Path, "/")+"/")
}

// statusList is one decoded list as fetched at a time: immutable, so that
// requests read it without a lock.
type statusList struct {
	bits    int
	lst     []byte
	etag    string
	checked time.Time     // when the fetch that confirmed it began (Options.Now)
	refresh time.Duration // refetch once checked is this old
	stale   time.Duration // refuse to use once checked is this old
	exp     time.Time     // the Status List Token's exp; zero: none
}

// status returns the status of the token at idx (§4.1: bits per token,
// least significant first within a byte). An idx outside the list is an
// error (§8.3).
func (l *statusList) status(idx int64) (byte, error) {
	perByte := int64(8 / l.bits)
	i := idx / perByte
	if i >= int64(len(l.lst)) {
		return 0, fmt.Errorf("status_list idx %d is outside the list", idx)
	}
	shift := uint(idx%perByte) * uint(l.bits)
	return (l.lst[i] >> shift) & byte(1<<l.bits-1), nil
}

// statusEntry holds the current copy of one list URI.
type statusEntry struct {
	uri      string
	cur      atomic.Pointer[statusList]
	fetching chan struct{} // a one-slot semaphore: one fetch at a time
	// failed is when the last fetch failed (Options.Now, Unix nanoseconds),
	// so a server that is down is not asked by every request.
	failed atomic.Int64
	// why is the error of the last failed fetch, said again to the
	// requests refused meanwhile.
	why atomic.Pointer[error]
}

// statusCache holds the lists, one entry per URI.
type statusCache struct {
	v *Verifier

	mu      sync.RWMutex
	entries map[string]*statusEntry
}

func newStatusCache(v *Verifier) *statusCache {
	return &statusCache{v: v, entries: map[string]*statusEntry{}}
}

func (c *statusCache) entry(uri string) *statusEntry {
	c.mu.RLock()
	e := c.entries[uri]
	c.mu.RUnlock()
	if e != nil {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e = c.entries[uri]; e != nil {
		return e
	}
	if len(c.entries) >= maxStatusLists {
		c.evict()
	}
	e = &statusEntry{uri: uri, fetching: make(chan struct{}, 1)}
	c.entries[uri] = e
	return e
}

// evict drops the lists no request could use without a fetch (stale or
// never fetched), or, when every list is fresh, one of them.
func (c *statusCache) evict() {
	now := c.v.opts.Now()
	for uri, e := range c.entries {
		if l := e.cur.Load(); l == nil || now.Sub(l.checked) >= l.stale {
			delete(c.entries, uri)
		}
	}
	for uri := range c.entries {
		if len(c.entries) < maxStatusLists {
			break
		}
		delete(c.entries, uri)
	}
}

// get returns a list for uri that is fresh enough to use, fetching it when
// there is none, and starting a background refetch when the one it has is
// older than its refresh interval.
func (c *statusCache) get(ctx context.Context, uri string) (*statusList, error) {
	e := c.entry(uri)
	now := c.v.opts.Now()
	l := e.cur.Load()
	if usable(l, now, c.v.opts.Leeway) {
		if now.Sub(l.checked) >= l.refresh {
			c.refreshInBackground(ctx, e, now)
		}
		return l, nil
	}
	// Nothing usable: this request waits for a fetch (fail closed).
	if f := e.failed.Load(); f != 0 && now.Sub(time.Unix(0, f)) < minStatusRefresh {
		why := errors.New("unknown")
		if p := e.why.Load(); p != nil {
			why = *p
		}
		return nil, fmt.Errorf("%w: status list %s: the last fetch failed (%v)", ErrUnavailable, uri, why)
	}
	select {
	case e.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-e.fetching }()
	// Another request may have fetched it while this one waited.
	if l := e.cur.Load(); usable(l, c.v.opts.Now(), c.v.opts.Leeway) {
		return l, nil
	}
	return c.fetch(ctx, e)
}

// usable reports whether l may answer a request at now: fetched no longer
// than its staleness bound ago, and not past the token's exp.
func usable(l *statusList, now time.Time, leeway time.Duration) bool {
	if l == nil || now.Sub(l.checked) >= l.stale {
		return false
	}
	return l.exp.IsZero() || now.Before(l.exp.Add(leeway))
}

// refreshInBackground refetches e unless a fetch is under way or the last
// one failed a moment ago; the request that triggered it is not held up.
func (c *statusCache) refreshInBackground(ctx context.Context, e *statusEntry, now time.Time) {
	if f := e.failed.Load(); f != 0 && now.Sub(time.Unix(0, f)) < minStatusRefresh {
		return
	}
	select {
	case e.fetching <- struct{}{}:
	default:
		return // a fetch is under way
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusFetchTimeout)
	go func() {
		defer cancel()
		defer func() { <-e.fetching }()
		_, _ = c.fetch(ctx, e)
	}()
}

// fetch fetches e's list (the caller holds e.fetching), conditionally when
// it has a copy whose token has not expired, and installs the result.
func (c *statusCache) fetch(ctx context.Context, e *statusEntry) (*statusList, error) {
	l, err := c.fetchList(ctx, e.uri, e.cur.Load())
	if err != nil {
		// A fetch cut short by its caller going away says nothing of the
		// server: recorded, it would refuse every request for the list for
		// a while (TestKeyRotationUnderLoad caught that).
		if ctx.Err() == nil {
			e.why.Store(&err)
			e.failed.Store(c.v.opts.Now().UnixNano())
		}
		return nil, err
	}
	e.failed.Store(0)
	e.cur.Store(l)
	return l, nil
}

// fetchList GETs the Status List Token at uri (§8.1: Accept
// application/statuslist+jwt), or learns with If-None-Match that old is
// still current (304), and returns the list with its freshness. Errors wrap
// ErrUnavailable: a list that cannot be had, or cannot be trusted, says
// nothing about the token.
func (c *statusCache) fetchList(ctx context.Context, uri string, old *statusList) (*statusList, error) {
	v := c.v
	began := v.opts.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: status list: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/statuslist+jwt")
	conditional := old != nil && old.etag != "" && (old.exp.IsZero() || began.Before(old.exp))
	if conditional {
		req.Header.Set("If-None-Match", old.etag)
	}
	res, err := v.statusClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: status list: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	maxAge, hasMaxAge := cacheMaxAge(res.Header)
	switch {
	case res.StatusCode == http.StatusNotModified && conditional:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		l := *old
		l.checked = began
		if hasMaxAge {
			l.refresh, l.stale = v.statusTimes(l.refresh, maxAge, true)
		}
		if etag := res.Header.Get("ETag"); etag != "" {
			l.etag = etag
		}
		return &l, nil
	case res.StatusCode != http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
		return nil, fmt.Errorf("%w: GET %s answered %s", ErrUnavailable, req.URL.Redacted(), res.Status)
	}
	if ct := res.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/statuslist+jwt" {
			return nil, fmt.Errorf("%w: GET %s: content type %q is not application/statuslist+jwt", ErrUnavailable, req.URL.Redacted(), ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxStatusListToken+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, req.URL.Redacted(), err)
	}
	if len(body) > maxStatusListToken {
		return nil, fmt.Errorf("%w: GET %s: the Status List Token is larger than %d bytes", ErrUnavailable, req.URL.Redacted(), maxStatusListToken)
	}
	l, ttl, err := v.parseStatusListToken(ctx, strings.TrimSpace(string(body)), uri, began)
	if err != nil {
		return nil, fmt.Errorf("%w: status list %s: %w", ErrUnavailable, req.URL.Redacted(), err)
	}
	l.etag = res.Header.Get("ETag")
	l.checked = began
	l.refresh, l.stale = v.statusTimes(ttl, maxAge, hasMaxAge)
	return l, nil
}

// statusTimes returns a list's refresh interval, the shorter of its ttl
// (0: none) and the HTTP max-age, and its staleness bound.
func (v *Verifier) statusTimes(ttl, maxAge time.Duration, hasMaxAge bool) (refresh, stale time.Duration) {
	refresh = ttl
	if refresh <= 0 {
		refresh = defaultStatusRefresh
	}
	if hasMaxAge && maxAge < refresh {
		refresh = maxAge
	}
	refresh = max(refresh, minStatusRefresh)
	stale = v.opts.StatusListMaxStaleness
	if stale <= 0 {
		stale = max(5*refresh, time.Minute)
	}
	return refresh, stale
}

// cacheMaxAge reads Cache-Control (RFC 9111 §5.2.2): max-age, or 0 for
// no-cache and no-store.
func cacheMaxAge(h http.Header) (time.Duration, bool) {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
					return time.Duration(min(n, math.MaxInt64/int64(time.Second))) * time.Second, true
				}
			}
		}
	}
	return 0, false
}

// statusListClaims is the claim set of a Status List Token (§5.1).
type statusListClaims struct {
	Issuer     string       `json:"iss"`
	Subject    string       `json:"sub"`
	IssuedAt   *json.Number `json:"iat"`
	Expiry     *json.Number `json:"exp"`
	TTL        *json.Number `json:"ttl"`
	StatusList *struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
}

// parseStatusListToken verifies a Status List Token (§5.1, §8.3): signed by
// a key of the server's set, typ statuslist+jwt, sub the URI it was fetched
// from, iat present, exp not passed, iss (when present) the issuer; and
// decodes its list. It returns the list and the ttl (0 when absent).
func (v *Verifier) parseStatusListToken(ctx context.Context, token, uri string, now time.Time) (*statusList, time.Duration, error) {
	payload, err := v.verifySigned(ctx, token, "statuslist+jwt")
	if err != nil {
		return nil, 0, err
	}
	var c statusListClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, 0, errors.New("claims are not a JSON object")
	}
	iat, hasIat := numericDate(c.IssuedAt)
	exp, hasExp := numericDate(c.Expiry)
	switch {
	case c.Subject != uri:
		return nil, 0, fmt.Errorf("sub %q is not the list's URI", c.Subject)
	case c.Issuer != "" && c.Issuer != v.opts.Issuer:
		return nil, 0, fmt.Errorf("iss %q is not %q", c.Issuer, v.opts.Issuer)
	case !hasIat:
		return nil, 0, errors.New("no iat")
	case now.Add(v.opts.Leeway).Before(iat):
		return nil, 0, errors.New("iat is in the future")
	case hasExp && !now.Before(exp.Add(v.opts.Leeway)):
		return nil, 0, errors.New("expired")
	case c.StatusList == nil:
		return nil, 0, errors.New("no status_list")
	case !slices.Contains([]int{1, 2, 4, 8}, c.StatusList.Bits):
		return nil, 0, fmt.Errorf("bits %d is not 1, 2, 4 or 8", c.StatusList.Bits)
	}
	var ttl time.Duration
	if c.TTL != nil {
		n, err := c.TTL.Float64()
		if err != nil || n <= 0 {
			return nil, 0, errors.New("ttl is not a positive number")
		}
		ttl = time.Duration(min(n, float64(math.MaxInt64/int64(time.Second)))) * time.Second
	}
	lst, err := inflate(c.StatusList.Lst)
	if err != nil {
		return nil, 0, err
	}
	l := &statusList{bits: c.StatusList.Bits, lst: lst}
	if hasExp {
		l.exp = exp
	}
	return l, ttl, nil
}

// inflate decodes a list's lst: base64url (RFC 7515 §2, unpadded) of the
// ZLIB (RFC 1950) DEFLATE data of the byte array.
func inflate(lst string) ([]byte, error) {
	z, err := base64.RawURLEncoding.DecodeString(lst)
	if err != nil {
		return nil, errors.New("lst is not base64url")
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, errors.New("lst is not zlib data")
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxStatusListBytes+1))
	if err != nil {
		return nil, errors.New("lst is not zlib data")
	}
	if len(b) > maxStatusListBytes {
		return nil, fmt.Errorf("the list is larger than %d bytes", maxStatusListBytes)
	}
	return b, nil
}

// verifySigned checks a compact JWS signed by a key of the server's set
// with an accepted algorithm, whose typ is typ (or application/typ), and
// returns its payload.
func (v *Verifier) verifySigned(ctx context.Context, token, typ string) ([]byte, error) {
	jws, err := jose.ParseSigned(token)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("not a compact JWS")
	}
	h := jws.Signatures[0].Protected
	if !slices.Contains(allowedAlgs, h.Algorithm) {
		return nil, fmt.Errorf("algorithm %q is not accepted", h.Algorithm)
	}
	got, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(got, typ) && !strings.EqualFold(got, "application/"+typ) {
		return nil, fmt.Errorf("typ %q is not %s", got, typ)
	}
	if h.JSONWebKey != nil {
		return nil, errors.New("embedded keys are not accepted")
	}
	keys, err := v.jwks.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") && (k.Algorithm == "" || k.Algorithm == h.Algorithm) {
			if payload, err := jws.Verify(k.Key); err == nil {
				return payload, nil
			}
		}
	}
	return nil, errors.New("no published key verifies the signature")
}

// noRedirects makes the client used for status lists: a redirect could
// lead a fetch off the issuer, so a 3xx is an answer, not a hop.
func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}
