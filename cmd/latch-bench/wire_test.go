package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wireServer is an httptest server that counts the connections it accepts
// and reports each one it closes or hands over.
type wireServer struct {
	*httptest.Server
	conns  atomic.Int64
	closed chan struct{}
}

// newWireServer starts h over http, or https when useTLS. configure, if not
// nil, adjusts the http.Server before it starts.
func newWireServer(t testing.TB, h http.Handler, useTLS bool, configure func(*http.Server)) *wireServer {
	t.Helper()
	s := &wireServer{Server: httptest.NewUnstartedServer(h), closed: make(chan struct{}, 64)}
	s.Config.ErrorLog = log.New(t.Output(), "server: ", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			select {
			case s.closed <- struct{}{}:
			default:
			}
		}
	}
	if configure != nil {
		configure(s.Config)
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// roots trusts the server's certificate, or is nil for plain http.
func (s *wireServer) roots() *x509.CertPool {
	if s.TLS == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

const testAuthorization = "Basic Yzpz" // c:s

func newTestTarget(t testing.TB, s *wireServer, timeout time.Duration) *wireTarget {
	t.Helper()
	target, err := newWireTarget(s.URL, testAuthorization, timeout, s.roots())
	if err != nil {
		t.Fatal(err)
	}
	return target
}

func newTestConn(t testing.TB, s *wireServer, timeout time.Duration) *wireConn {
	t.Helper()
	c := newWireConn(newTestTarget(t, s, timeout))
	t.Cleanup(c.close)
	return c
}

// newTestWorker is a worker of a bench whose server is s, with one token in
// its introspection pool.
func newTestWorker(t testing.TB, s *wireServer, timeout time.Duration) *worker {
	t.Helper()
	b := newBench(&config{baseURL: s.URL, timeout: timeout, concurrency: 1}, io.Discard)
	b.basicAuth = testAuthorization
	b.introspectPool = []string{"pool-token"}
	t.Cleanup(b.close)
	w := newWorker(b, user{username: "u", password: "p"}, newTestTarget(t, s, timeout))
	t.Cleanup(w.wire.close)
	return w
}

// handleEcho answers a well-formed form POST with its path and token, and
// anything else with 400.
func handleEcho() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != testAuthorization ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
			r.UserAgent() != "latch-bench" || r.Host != r.Context().Value(http.LocalAddrContextKey).(net.Addr).String() {
			http.Error(w, fmt.Sprintf("unexpected request %s %v host %s", r.Method, r.Header, r.Host), http.StatusBadRequest)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body := fmt.Sprintf(`{"path":%q,"token":%q}`, r.URL.Path, r.PostForm.Get("token"))
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = io.WriteString(w, body)
	}
}

func mustPost(t testing.TB, c *wireConn, path, token string) string {
	t.Helper()
	status, body, err := c.post(t.Context(), path, []byte("token="+url.QueryEscape(token)))
	if err != nil {
		t.Fatalf("post %s: %v", path, err)
	}
	if status != http.StatusOK {
		t.Fatalf("post %s: status %d: %s", path, status, body)
	}
	return string(body)
}

// TestPostContentLength sends requests on one keep-alive connection and
// reads Content-Length bodies, over http and https.
func TestPostContentLength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"http", false}, {"https", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newWireServer(t, handleEcho(), tc.tls, nil)
			c := newTestConn(t, s, 5*time.Second)
			for i := range 3 {
				tok := fmt.Sprintf("tok %d/+", i) // needs escaping
				want := fmt.Sprintf(`{"path":"/oauth2/introspect","token":%q}`, tok)
				if got := mustPost(t, c, "/oauth2/introspect", tok); got != want {
					t.Errorf("body %q, want %q", got, want)
				}
			}
			if n := s.conns.Load(); n != 1 {
				t.Errorf("%d connections for 3 requests, want 1", n)
			}
		})
	}
}

// TestPostTLSVerifies checks that https verifies the server's certificate
// against the system's roots by default, as net/http did.
func TestPostTLSVerifies(t *testing.T) {
	t.Parallel()
	s := newWireServer(t, handleEcho(), true, func(srv *http.Server) {
		srv.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	})
	target, err := newWireTarget(s.URL, testAuthorization, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newWireConn(target)
	defer c.close()
	_, _, err = c.post(t.Context(), "/", nil)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Errorf("post to a self-signed server: %v, want a certificate verification error", err)
	}
}

// TestPostChunked reads a body the server flushed in pieces, so that it
// comes chunked, with a piece larger than the read buffer.
func TestPostChunked(t *testing.T) {
	t.Parallel()
	parts := []string{"first;", strings.Repeat("y", 3*readBufferSize), ";last"}
	s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range parts {
			_, _ = io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	}), false, nil)
	c := newTestConn(t, s, 5*time.Second)
	for range 2 {
		if got := mustPost(t, c, "/", "t"); got != strings.Join(parts, "") {
			t.Errorf("body of %d bytes, want %d", len(got), len(strings.Join(parts, "")))
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections for 2 chunked answers, want 1", n)
	}
}

// TestPostConnectionClose checks that after an answer with "Connection:
// close" the next request dials again and succeeds.
func TestPostConnectionClose(t *testing.T) {
	t.Parallel()
	echo := handleEcho()
	s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("token") == "close" {
			w.Header().Set("Connection", "close")
		}
		echo(w, r)
	}), false, nil)
	c := newTestConn(t, s, 5*time.Second)
	mustPost(t, c, "/", "close")
	mustPost(t, c, "/", "again")
	mustPost(t, c, "/", "and again")
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2: one closed by the server, one kept", n)
	}
}

// TestIdleCloseCountsOneError has the server close a keep-alive connection
// while it is idle between two requests. The next request is counted as one
// transport error, and the one after dials again and succeeds.
//
// Why not re-dial and resend silently: once the request is written, the
// client cannot tell "closed while idle" from "closed after processing the
// request" (net/http can only for the first, thanks to a reader goroutine
// per connection, and does not resend a POST it wrote either). Resending a
// refresh rotation or a revocation the server may have applied is not ours
// to decide, and a lost answer is what a benchmark must show. In a closed
// loop a connection idles only between one answer and the next request,
// far below any server's idle timeout (Latch's is 120s), so this error
// appears only when the server really drops connections.
func TestIdleCloseCountsOneError(t *testing.T) {
	t.Parallel()
	s := newWireServer(t, handleIntrospect(), false, func(srv *http.Server) {
		srv.IdleTimeout = 20 * time.Millisecond
	})
	w := newTestWorker(t, s, 5*time.Second)
	w.do(t.Context(), opIntrospect, nil, time.Now())
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the idle connection")
	}
	w.do(t.Context(), opIntrospect, nil, time.Now())
	w.do(t.Context(), opIntrospect, nil, time.Now())

	st := w.stats[opIntrospect]
	if len(st.lat) != 3 {
		t.Errorf("%d samples, want 3: none lost", len(st.lat))
	}
	if len(st.errs) != 1 {
		t.Fatalf("errors %v, want exactly one transport error", st.errs)
	}
	for k, n := range st.errs {
		if k.status != 0 || n != 1 || !slices.Contains([]string{"eof", "connection reset by peer", "broken pipe"}, k.code) {
			t.Errorf("errors %v, want one eof, reset or broken pipe", st.errs)
		}
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// handleIntrospect answers every introspection "active".
func handleIntrospect() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":true,"client_id":"c","scope":"read"}`)
	}
}

// TestNon2xx counts an error answer by status and OAuth2 error code.
func TestNon2xx(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   errKey
	}{
		{"invalid_client", http.StatusUnauthorized, `{"error":"invalid_client","error_description":"no"}`, errKey{401, "invalid_client"}},
		{"temporarily_unavailable", http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`, errKey{503, "temporarily_unavailable"}},
		{"not json", http.StatusInternalServerError, "boom", errKey{500, ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}), false, nil)
			w := newTestWorker(t, s, 5*time.Second)
			w.do(t.Context(), opClientCredentials, nil, time.Now())
			st := w.stats[opClientCredentials]
			if len(st.lat) != 1 || len(st.errs) != 1 || st.errs[tc.want] != 1 {
				t.Errorf("samples %d, errors %v, want 1 and {%v: 1}", len(st.lat), st.errs, tc.want)
			}
		})
	}
}

// TestTimeout times out a request whose answer takes longer than the
// timeout, counts it as "timeout", and then succeeds on a new connection.
func TestTimeout(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client leave.
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			select {
			case <-r.Context().Done(): // the client gave up and closed
			case <-time.After(10 * time.Second):
			}
		}
		handleIntrospect()(w, r)
	}), false, nil)
	const timeout = 200 * time.Millisecond
	w := newTestWorker(t, s, timeout)
	w.do(t.Context(), opIntrospect, nil, time.Now())
	w.do(t.Context(), opIntrospect, nil, time.Now())
	st := w.stats[opIntrospect]
	if len(st.lat) != 2 || len(st.errs) != 1 || st.errs[errKey{code: "timeout"}] != 1 {
		t.Fatalf("samples %d, errors %v, want 2 and {net: timeout: 1}", len(st.lat), st.errs)
	}
	if d := st.lat[0]; d < timeout || d > 5*time.Second {
		t.Errorf("the timed-out request took %v, want about %v", d, timeout)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestCancelInFlight cancels the run while a request waits for its answer:
// the worker returns at once, recording neither a sample nor an error.
func TestCancelInFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var once sync.Once
	s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
		once.Do(func() { close(started) })
		<-r.Context().Done()
	}), false, nil)
	w := newTestWorker(t, s, time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	t0 := time.Now()
	w.do(ctx, opIntrospect, nil, t0)
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("the cancelled request returned after %v", d)
	}
	if st := w.stats[opIntrospect]; len(st.lat) != 0 || len(st.errs) != 0 {
		t.Errorf("samples %d, errors %v, want none", len(st.lat), st.errs)
	}
	if w.wire.conn != nil {
		t.Error("the connection of the cancelled request is still open")
	}
}

// TestTransportErrors checks that the wire client's failures come out of
// shortNetError as the causes the table shows.
func TestTransportErrors(t *testing.T) {
	t.Parallel()
	hijack := func(linger bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // unread input would make Close send a reset
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			if linger {
				_ = conn.(*net.TCPConn).SetLinger(0) // close with a reset
			}
			conn.Close()
		}
	}
	down := newWireServer(t, http.NotFoundHandler(), false, nil)
	down.Close()
	tests := []struct {
		name string
		h    http.Handler
		url  string
		want string
	}{
		{"closed without an answer", hijack(false), "", "eof"},
		{"reset", hijack(true), "", "connection reset by peer"},
		{"refused", nil, down.URL, "connection refused"},
		{"not loopback", nil, "http://192.0.2.1:80", "refusing to connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := tc.url
			if tc.h != nil {
				base = newWireServer(t, tc.h, false, nil).URL
			}
			target, err := newWireTarget(base, testAuthorization, 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := newWireConn(target)
			defer c.close()
			_, _, err = c.post(t.Context(), "/oauth2/token", []byte("grant_type=client_credentials"))
			if err == nil || shortNetError(err) != tc.want {
				t.Errorf("err = %v: %q, want %q", err, shortNetError(err), tc.want)
			}
		})
	}
}

// TestLostRefreshRetried loses the answer to a refresh: the next refresh
// sends the same token again, as with net/http.
func TestLostRefreshRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	s := newWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.FormValue("refresh_token"))
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		fmt.Fprintf(w, `{"access_token":"a","refresh_token":"r%d"}`, n)
	}), false, nil)
	w := newTestWorker(t, s, 5*time.Second)
	w.refresh = "r1"
	for range 3 {
		w.do(t.Context(), opRefresh, nil, time.Now())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"r1", "r1", "r2"}; !slices.Equal(seen, want) {
		t.Errorf("refresh tokens sent: %v, want %v", seen, want)
	}
	if st := w.stats[opRefresh]; len(st.lat) != 3 || st.errs[errKey{code: "eof"}] != 1 || len(st.errs) != 1 {
		t.Errorf("samples %d, errors %v, want 3 and {net: eof: 1}", len(st.lat), st.errs)
	}
}

// TestTimedForms checks that the timed requests send the same bodies as
// url.Values.Encode did.
func TestTimedForms(t *testing.T) {
	t.Parallel()
	u := user{username: "bench-ab12-3", password: "p&ss w=rd"}
	w := newWorker(&bench{}, u, nil)
	const tok = "ory_at_a+b/c=.d-e_f~g"
	tests := []struct {
		o    op
		want url.Values
	}{
		{opPassword, passwordForm(u)},
		{opRefresh, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}},
		{opClientCredentials, clientCredentialsForm},
		{opIntrospect, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}},
		{opRevoke, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}},
	}
	for _, tc := range tests {
		t.Run(tc.o.String(), func(t *testing.T) {
			if got, want := string(w.appendForm(nil, tc.o, tok)), tc.want.Encode(); got != want {
				t.Errorf("form %q, want %q", got, want)
			}
		})
	}
}

// readResponseCases are answers as bytes on the wire, and what
// readResponse makes of them. They seed FuzzReadResponse too.
var readResponseCases = []struct {
	name   string
	in     string
	status int
	body   string
	close  bool
	err    error
}{
	{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nhello", status: 200, body: "hello"},
	{name: "bare LF", in: "HTTP/1.1 200 OK\ncontent-length: 2\n\nhi", status: 200, body: "hi"},
	{name: "no reason", in: "HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", status: 201},
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA \r\n, world!!!\r\n0\r\nTrailer: x\r\n\r\n", status: 200, body: "hello, world!!!"},
	{name: "chunked beats length", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", status: 200, body: "ok"},
	{name: "close delimited", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n\r\nuntil the end", status: 200, body: "until the end", close: true},
	{name: "http/1.0", in: "HTTP/1.0 200 OK\r\n\r\nold", status: 200, body: "old", close: true},
	{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nold", status: 200, body: "old"},
	{name: "204 without length", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
	{name: "interim answer", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}", status: 400, body: "{}"},
	{name: "no length on keep-alive", in: "HTTP/1.1 200 OK\r\n\r\nbody", err: errNoLength},
	{name: "nothing", in: "", err: io.EOF},
	{name: "cut in the head", in: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF},
	{name: "cut in the body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", err: io.ErrUnexpectedEOF},
	{name: "cut in a chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", err: io.ErrUnexpectedEOF},
	{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", err: errMalformed},
	{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: errMalformed},
	{name: "switching protocols", in: "HTTP/1.1 101 Switching Protocols\r\n\r\n", err: errMalformed},
	{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", err: errMalformed},
	{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errMalformed},
	{name: "gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errMalformed},
	{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: errMalformed},
	{name: "chunk too long", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", err: errMalformed},
	{name: "header without colon", in: "HTTP/1.1 200 OK\r\nContent-Length 1\r\n\r\na", err: errMalformed},
	{name: "line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", readBufferSize) + "\r\n\r\n", err: errMalformed},
	{name: "body too large", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", err: errTooLarge},
	{name: "chunk too large", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n", err: errTooLarge},
}

func TestReadResponse(t *testing.T) {
	t.Parallel()
	for _, tc := range readResponseCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			br := bufio.NewReaderSize(strings.NewReader(tc.in), readBufferSize)
			body, h, err := readResponse(br, nil)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Errorf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || h.status != tc.status || string(body) != tc.body || h.close != tc.close {
				t.Errorf("= %d %q close=%v, %v; want %d %q close=%v", h.status, body, h.close, err, tc.status, tc.body, tc.close)
			}
		})
	}
}

// FuzzReadResponse feeds arbitrary bytes to the answer parser: it must never
// panic, and an answer it accepts has a final status and a bounded body
// that matches its Content-Length.
func FuzzReadResponse(f *testing.F) {
	for _, tc := range readResponseCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(strings.NewReader(string(in)), readBufferSize)
		body, h, err := readResponse(br, nil)
		if err != nil {
			return
		}
		if h.status < 200 || h.status > 999 || len(body) > maxResponseBody {
			t.Errorf("accepted status %d with %d bytes", h.status, len(body))
		}
		if !h.chunked && h.length >= 0 && h.status != 204 && h.status != 304 && len(body) != h.length {
			t.Errorf("body of %d bytes, Content-Length %d", len(body), h.length)
		}
	})
}

// BenchmarkPost times one introspection-sized exchange with the wire client
// and with net/http against an in-process server. The server's work is in
// both figures (and its allocations too), so the difference between them is
// what the wire client saves per request.
func BenchmarkPost(b *testing.B) {
	s := newWireServer(b, handleIntrospect(), false, nil)
	form := []byte("token=ory_at_0123456789abcdef.0123456789abcdef&token_type_hint=access_token")
	b.Run("wire", func(b *testing.B) {
		c := newTestConn(b, s, 5*time.Second)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.post(b.Context(), "/oauth2/introspect", form); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net/http", func(b *testing.B) {
		nb := newBench(&config{timeout: 5 * time.Second, concurrency: 1}, io.Discard)
		defer nb.close()
		var buf strings.Builder
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, s.URL+"/oauth2/introspect", strings.NewReader(string(form)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", testAuthorization)
			res, err := nb.hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			_, _ = io.Copy(&buf, res.Body)
			res.Body.Close()
		}
	})
}
