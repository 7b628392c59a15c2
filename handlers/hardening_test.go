package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/handlers"
)

// The policies of securityHeaders and of the operator console.
const (
	apiCSP     = "default-src 'none'; frame-ancestors 'none'"
	consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

// maxBody is the default cap on request bodies (handlers.Options.MaxBodyBytes
// left 0), which is what cmd/latch runs with.
const maxBody = 64 << 10

// send makes a request with a body of its own: Basic auth as c (if c has an
// ID) and the given headers. A chunked body is sent without Content-Length:
// the reader hides its length, so the transport streams it in chunks.
func (s *testServer) send(t testing.TB, method, path string, c client, header http.Header, body string, chunked bool) response {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunked {
		rd = struct{ io.Reader }{rd}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.ID != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	return s.do(t, req)
}

var formHeader = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

// padForm encodes form with an extra parameter that makes it exactly size
// bytes long.
func padForm(t testing.TB, form url.Values, size int) string {
	t.Helper()
	enc := form.Encode() + "&pad="
	if len(enc) > size {
		t.Fatalf("form %q is longer than %d bytes", enc, size)
	}
	return enc + strings.Repeat("x", size-len(enc))
}

// padJSON puts whitespace before a JSON document to make it exactly size
// bytes long. The whitespace goes first so that the decoder must read the
// last byte to finish the object.
func padJSON(t testing.TB, doc string, size int) string {
	t.Helper()
	if len(doc) > size {
		t.Fatalf("document %q is longer than %d bytes", doc, size)
	}
	return strings.Repeat(" ", size-len(doc)) + doc
}

// TestSecurityHeaders: every answer, whatever its route and status, carries
// the headers that keep a browser from sniffing, framing, rendering or
// leaking it (securityHeaders), each exactly once. The operator console
// replaces the Content-Security-Policy with its own, which lets the page
// load its own script and style and call the admin API; it keeps the rest.
// Every answer of the token, revocation and introspection endpoints is
// no-store, whoever writes it: fosite, or the edge (405, 413).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	cc := s.createClient(t, map[string]any{"client_id": "cc", "grant_types": []string{"client_credentials"}})
	fetch := func(path string, header http.Header) func(t *testing.T) response {
		return func(t *testing.T) response { return s.send(t, http.MethodGet, path, client{}, header, "", false) }
	}
	token := func(c client, form url.Values) func(t *testing.T) response {
		return func(t *testing.T) response { return s.post(t, "/oauth2/token", c, form) }
	}
	bearer := http.Header{"Authorization": {"Bearer " + s.admin}}

	for _, tc := range []struct {
		name    string
		send    func(t *testing.T) response
		status  int
		csp     string
		noStore bool // Cache-Control: no-store and Pragma: no-cache, as on every token endpoint answer
	}{
		{"token", token(cc, url.Values{"grant_type": {"client_credentials"}}), 200, apiCSP, true},
		{"token invalid_request", token(cc, url.Values{}), 400, apiCSP, true},
		{"token invalid_client", token(client{ID: cc.ID, Secret: "wrong", AuthMethod: cc.AuthMethod}, url.Values{"grant_type": {"client_credentials"}}), 401, apiCSP, true},
		{"token body too large", func(t *testing.T) response {
			return s.send(t, http.MethodPost, "/oauth2/token", cc, formHeader, padForm(t, url.Values{"grant_type": {"client_credentials"}}, maxBody+1), false)
		}, 413, apiCSP, true},
		{"token wrong method", fetch("/oauth2/token", nil), 405, apiCSP, true},
		{"revoke", func(t *testing.T) response {
			return s.post(t, "/oauth2/revoke", cc, url.Values{"token": {"latch_at_x.y"}})
		}, 200, apiCSP, true},
		{"revoke wrong method", fetch("/oauth2/revoke", nil), 405, apiCSP, true},
		{"introspect", func(t *testing.T) response {
			return s.post(t, "/oauth2/introspect", s.introspector, url.Values{"token": {"latch_at_x.y"}})
		}, 200, apiCSP, true},
		{"introspect wrong method", fetch("/oauth2/introspect", nil), 405, apiCSP, true},
		{"metadata", fetch("/.well-known/oauth-authorization-server", nil), 200, apiCSP, false},
		{"jwks without JWTs", fetch("/.well-known/jwks.json", nil), 404, apiCSP, false},
		{"healthz", fetch("/healthz", nil), 200, apiCSP, false},
		{"readyz", fetch("/readyz", nil), 200, apiCSP, false},
		{"metrics", fetch("/metrics", nil), 200, apiCSP, false},
		{"admin without bearer", fetch("/admin/clients", nil), 401, apiCSP, false},
		{"admin with bearer", fetch("/admin/clients", bearer), 200, apiCSP, false},
		{"admin not found", fetch("/admin/clients/nope", bearer), 404, apiCSP, false},
		{"unknown path", fetch("/nope", nil), 404, apiCSP, false},
		{"wrong method", func(t *testing.T) response {
			return s.send(t, http.MethodPost, "/healthz", client{}, nil, "", false)
		}, 405, apiCSP, false},
		{"console", fetch("/admin/ui/", nil), 200, consoleCSP, false},
		{"console script", fetch("/admin/ui/static/console.js", nil), 200, consoleCSP, false},
		{"console missing file", fetch("/admin/ui/static/nope.js", nil), 404, consoleCSP, false},
		// A directory is not listed.
		{"console static directory", fetch("/admin/ui/static/", nil), 404, consoleCSP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.send(t)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", res.status, tc.status, res.body)
			}
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": tc.csp,
			}
			if tc.noStore {
				want["Cache-Control"] = "no-store"
				want["Pragma"] = "no-cache"
			}
			for k, want := range want {
				if got := res.header.Values(k); !slices.Equal(got, []string{want}) {
					t.Errorf("%s = %q, want [%q]", k, got, want)
				}
			}
			// Over plain HTTP, never (RFC 6797 §7.2).
			if got := res.header.Values("Strict-Transport-Security"); got != nil {
				t.Errorf("Strict-Transport-Security = %q over plain HTTP, want none", got)
			}
		})
	}
}

// TestHSTS: a request that reached Latch over TLS, as with LATCH_TLS_CERT,
// is answered with Strict-Transport-Security, whatever its route and status.
func TestHSTS(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	for _, path := range []string{"/healthz", "/.well-known/oauth-authorization-server", "/admin/clients", "/nope", "/admin/ui/"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			for _, target := range []string{"https://latch.example" + path, "http://latch.example" + path} {
				rec := httptest.NewRecorder()
				s.srv.Config.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil)) // https: r.TLS is set
				want := []string{"max-age=63072000"}
				if strings.HasPrefix(target, "http:") {
					want = nil
				}
				if got := rec.Header().Values("Strict-Transport-Security"); !slices.Equal(got, want) {
					t.Errorf("GET %s: %d, Strict-Transport-Security = %q, want %q", target, rec.Code, got, want)
				}
			}
		})
	}
}

// TestBodyLimit: request bodies are capped at 64 KiB by default. A body that
// declares a larger Content-Length is refused 413 before it is read, in the
// JSON shape of the edge's own errors. A chunked body that runs past the
// cap is cut off while it is read and answered 413 as well: by the admin
// API in the same shape, by the OAuth2 endpoints as an RFC 6749 §5.2
// invalid_request written by the provider. At the OAuth2 endpoints both
// 413s are no-store, like every answer there. Every refused body here is a
// valid request, so it is the cap that refuses it; the same request padded
// to exactly the cap is served.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	cc := s.createClient(t, map[string]any{"client_id": "cc", "grant_types": []string{"client_credentials"}})
	if cc.AuthMethod != "client_secret_basic" {
		t.Fatalf("client authenticates by %s, want client_secret_basic", cc.AuthMethod)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + s.admin}}
	n := 0
	newClient := func() string {
		n++
		return fmt.Sprintf(`{"client_id":"padded-%d","grant_types":["client_credentials"]}`, n)
	}

	for _, tc := range []struct {
		name string
		path string
		c    client
		hdr  http.Header
		body func(t *testing.T, size int) string
		ok   int // the status of the request at exactly the cap
	}{
		{"token", "/oauth2/token", cc, formHeader, func(t *testing.T, size int) string {
			return padForm(t, url.Values{"grant_type": {"client_credentials"}}, size)
		}, 200},
		{"revoke", "/oauth2/revoke", cc, formHeader, func(t *testing.T, size int) string {
			return padForm(t, url.Values{"token": {"latch_at_x.y"}}, size)
		}, 200},
		{"introspect", "/oauth2/introspect", s.introspector, formHeader, func(t *testing.T, size int) string {
			return padForm(t, url.Values{"token": {"latch_at_x.y"}}, size)
		}, 200},
		{"admin", "/admin/clients", client{}, jsonHeader, func(t *testing.T, size int) string {
			return padJSON(t, newClient(), size)
		}, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("Content-Length over the cap", func(t *testing.T) {
				res := s.send(t, http.MethodPost, tc.path, tc.c, tc.hdr, tc.body(t, maxBody+1), false)
				wantTooLarge(t, res)
				if tc.path != "/admin/clients" {
					checkNoStore(t, res)
				}
			})
			if tc.path == "/admin/clients" {
				// The bearer comes first: a 413 to a caller without it would
				// tell which paths and methods the admin API serves.
				t.Run("Content-Length over the cap, no bearer", func(t *testing.T) {
					hdr := http.Header{"Content-Type": {"application/json"}}
					res := s.send(t, http.MethodPost, tc.path, tc.c, hdr, tc.body(t, maxBody+1), false)
					wantAdminError(t, "oversized request without the bearer", res, http.StatusUnauthorized, "")
				})
			}
			t.Run("chunked over the cap", func(t *testing.T) {
				res := s.send(t, http.MethodPost, tc.path, tc.c, tc.hdr, tc.body(t, maxBody+1), true)
				if tc.path == "/admin/clients" {
					wantTooLarge(t, res)
					return
				}
				wantOAuthError(t, "chunked body over the cap", res, http.StatusRequestEntityTooLarge, "invalid_request")
				checkNoStore(t, res)
				if d := str(res.object(t)["error_description"]); !strings.Contains(d, "too large") {
					t.Errorf("error_description %q does not say the body is too large", d)
				}
			})
			for _, chunked := range []bool{false, true} {
				name := "Content-Length at the cap"
				if chunked {
					name = "chunked at the cap"
				}
				t.Run(name, func(t *testing.T) {
					res := s.send(t, http.MethodPost, tc.path, tc.c, tc.hdr, tc.body(t, maxBody), chunked)
					if res.status != tc.ok {
						t.Errorf("status %d, want %d (body %s)", res.status, tc.ok, res.body)
					}
				})
			}
		})
	}
}

// wantTooLarge asserts the edge's 413: {"error", "error_description"} and
// nothing else.
func wantTooLarge(t testing.TB, res response) {
	t.Helper()
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413 (body %s)", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	m := res.object(t)
	want := map[string]any{"error": "invalid_request", "error_description": "The request body is too large."}
	if len(m) != len(want) || m["error"] != want["error"] || m["error_description"] != want["error_description"] {
		t.Errorf("body %s, want %v", res.body, want)
	}
}

// TestClientAddress pins how a request's client address is chosen: the
// peer, unless the peer is a trusted proxy; then the right-most hop of
// X-Forwarded-For that is not a trusted proxy itself, walking from the
// right and giving up (back to the peer) at the first hop that is not an
// address.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one X-Forwarded-For header per element
		want    string
	}{
		{"no trusted proxies", nil, "127.0.0.1:4000", []string{"198.51.100.7"}, "127.0.0.1"},
		{"untrusted peer", proxies, "203.0.113.5:4000", []string{"198.51.100.7"}, "203.0.113.5"},
		{"untrusted peer without header", proxies, "203.0.113.5:4000", nil, "203.0.113.5"},
		{"trusted peer without header", proxies, "127.0.0.1:4000", nil, "127.0.0.1"},
		{"trusted peer", proxies, "127.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most hop wins over what the client wrote", proxies, "127.0.0.1:4000", []string{"192.0.2.66, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops skipped", proxies, "127.0.0.1:4000", []string{"192.0.2.66, 198.51.100.7, 10.0.0.2,10.1.2.3"}, "198.51.100.7"},
		{"spaces trimmed", proxies, "127.0.0.1:4000", []string{"  198.51.100.7 ,  10.0.0.2  "}, "198.51.100.7"},
		{"several headers joined in order", proxies, "127.0.0.1:4000", []string{"192.0.2.66, 198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"last header is right-most", proxies, "127.0.0.1:4000", []string{"192.0.2.66", "198.51.100.7"}, "198.51.100.7"},
		{"all hops trusted", proxies, "127.0.0.1:4000", []string{"10.0.0.3, 10.0.0.2", "127.0.0.2"}, "127.0.0.1"},
		{"garbage hop stops the walk", proxies, "127.0.0.1:4000", []string{"198.51.100.7, garbage, 10.0.0.2"}, "127.0.0.1"},
		{"garbage left of the client is never reached", proxies, "127.0.0.1:4000", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},
		{"hop with a port", proxies, "127.0.0.1:4000", []string{"198.51.100.7:443"}, "198.51.100.7"},
		{"IPv6 hop with a port", proxies, "127.0.0.1:4000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"trusted hop with a port skipped", proxies, "127.0.0.1:4000", []string{"198.51.100.7, 10.0.0.2:80"}, "198.51.100.7"},
		{"empty header is garbage", proxies, "127.0.0.1:4000", []string{""}, "127.0.0.1"},
		{"empty last header is garbage", proxies, "127.0.0.1:4000", []string{"198.51.100.7", ""}, "127.0.0.1"},
		{"IPv6 trusted peer", proxies, "[::1]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 untrusted peer", proxies, "[2001:db8::5]:4000", []string{"198.51.100.7"}, "2001:db8::5"},
		{"IPv4-mapped trusted peer", proxies, "[::ffff:127.0.0.1]:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped trusted peer, no usable hop", proxies, "[::ffff:127.0.0.1]:4000", nil, "127.0.0.1"},
		{"IPv4-mapped untrusted peer", proxies, "[::ffff:203.0.113.5]:4000", []string{"198.51.100.7"}, "203.0.113.5"},
		{"IPv4-mapped hop unmapped", proxies, "127.0.0.1:4000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv4-mapped trusted hop skipped", proxies, "127.0.0.1:4000", []string{"198.51.100.7, ::ffff:10.0.0.2"}, "198.51.100.7"},
		{"peer without a port", proxies, "203.0.113.5", []string{"198.51.100.7"}, "203.0.113.5"},
		{"trusted peer without a port", proxies, "127.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv6 trusted peer without a port", proxies, "::1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"peer that is not an address", proxies, "@", []string{"198.51.100.7"}, "@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := handlers.ClientAddress(tc.trusted)(r); got != tc.want {
				t.Errorf("client address of %s with X-Forwarded-For %q = %q, want %q", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

// postForwarded is s.post (client_secret_basic) with an X-Forwarded-For
// header.
func (s *testServer) postForwarded(t testing.TB, c client, form url.Values, xff string) response {
	t.Helper()
	return s.send(t, http.MethodPost, "/oauth2/token", c, http.Header{
		"Content-Type":    {"application/x-www-form-urlencoded"},
		"X-Forwarded-For": {xff},
	}, form.Encode(), false)
}

// wantChecked asserts a wrong password refused after it was checked: 400
// invalid_grant, with no Retry-After.
func wantChecked(t testing.TB, what string, res response) {
	t.Helper()
	wantOAuthError(t, what, res, http.StatusBadRequest, "invalid_grant")
	if ra := res.header.Get("Retry-After"); ra != "" {
		t.Errorf("%s: Retry-After %q: locked out too early", what, ra)
	}
}

// wantLockedOut asserts a login refused by the lockout: 400 invalid_grant
// with Retry-After, even for the right password.
func wantLockedOut(t testing.TB, what string, res response) {
	t.Helper()
	wantOAuthError(t, what, res, http.StatusBadRequest, "invalid_grant")
	if res.header.Get("Retry-After") == "" {
		t.Errorf("%s: no Retry-After: not locked out", what)
	}
}

// TestLockoutPerAddress: the per-address lockout
// (LATCH_LOGIN_MAX_FAILURES_PER_ADDRESS) counts the client address. Without
// trusted proxies that is the peer, whatever X-Forwarded-For says, so a
// guesser cannot spread its failures by making up addresses. Behind trusted
// proxies it is the forwarded address, so clients behind one proxy are
// counted apart, and the login is audited with it.
func TestLockoutPerAddress(t *testing.T) {
	t.Parallel()
	const perAddress = 3

	t.Run("untrusted X-Forwarded-For", func(t *testing.T) {
		t.Parallel()
		s := newTestServer(t, withLoginLimits(100, perAddress))
		s.createUser(t, "ivy", "pw-ivy")
		app := s.newPasswordClient(t, "app", "client_secret_basic")
		for i := range perAddress {
			res := s.postForwarded(t, app, pwForm(fmt.Sprintf("nobody-%d", i), "wrong"), fmt.Sprintf("198.51.100.%d", i+1))
			wantChecked(t, fmt.Sprintf("failure %d", i+1), res)
		}
		res := s.postForwarded(t, app, pwForm("ivy", "pw-ivy"), "198.51.100.99")
		wantLockedOut(t, "right password from the same peer, yet another made-up address", res)
	})

	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		s := newTestServer(t, withLoginLimits(100, perAddress), withTrustedProxies("127.0.0.0/8", "::1/128"))
		uid := s.createUser(t, "ivy", "pw-ivy")
		app := s.newPasswordClient(t, "app", "client_secret_basic")

		// One failure each from perAddress clients behind the proxy: each
		// client is counted apart, and the proxy's own address not at all.
		for i := range perAddress {
			res := s.postForwarded(t, app, pwForm(fmt.Sprintf("nobody-%d", i), "wrong"), fmt.Sprintf("198.51.100.%d", i+1))
			wantChecked(t, fmt.Sprintf("failure from client %d", i+1), res)
		}
		if res := s.postForwarded(t, app, pwForm("ivy", "pw-ivy"), "192.0.2.66, 198.51.100.4"); res.status != http.StatusOK {
			t.Fatalf("right password from another client behind the proxy: %s", res)
		}

		// perAddress failures from one client lock that client out.
		for i := range perAddress {
			res := s.postForwarded(t, app, pwForm(fmt.Sprintf("guess-%d", i), "wrong"), "203.0.113.7")
			wantChecked(t, fmt.Sprintf("failure %d from one client", i+1), res)
		}
		wantLockedOut(t, "right password from the locked-out client", s.postForwarded(t, app, pwForm("ivy", "pw-ivy"), "203.0.113.7"))
		wantLockedOut(t, "the locked-out client making up a left-hand hop", s.postForwarded(t, app, pwForm("ivy", "pw-ivy"), "192.0.2.1, 203.0.113.7"))
		if res := s.postForwarded(t, app, pwForm("ivy", "pw-ivy"), "198.51.100.5"); res.status != http.StatusOK {
			t.Fatalf("right password from another client while one is locked out: %s", res)
		}

		// The audit trail names the forwarded client, not the proxy.
		res := s.adminDo(t, http.MethodGet, "/admin/users/"+uid+"/sessions", nil)
		var addrs []string
		for _, it := range asSlice(res.object(t)["items"]) {
			sid := str(it.(map[string]any)["id"])
			ev := s.adminDo(t, http.MethodGet, "/admin/sessions/"+sid+"/events", nil)
			for _, e := range asSlice(ev.object(t)["items"]) {
				if e := e.(map[string]any); str(e["type"]) == "issued" {
					addrs = append(addrs, str(e["client_address"]))
				}
			}
		}
		slices.Sort(addrs)
		if want := []string{"198.51.100.4", "198.51.100.5"}; !slices.Equal(addrs, want) {
			t.Errorf("issued events name client addresses %q, want %q", addrs, want)
		}
	})
}
