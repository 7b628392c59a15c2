package main

// This file is the HTTP/1.1 client of the timed requests, and only of those:
// provisioning, pools and relogins keep using net/http. net/http's client
// cost the tool 81-90 µs of CPU per request here, kernel time included (its
// connection pool, a reader and a writer goroutine per connection, header
// maps, body wrappers), against 35-38 µs with this client: CPU that the
// server under test and its database did not get. This client does one
// thing: POST a form on a keep-alive connection that one worker owns, and
// read the answer into a reused buffer. It keeps what the tool guaranteed
// with net/http: loopback only, a per-request timeout covering the whole
// exchange, https with default certificate verification, and errors by cause.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"
)

const (
	// maxResponseBody bounds an answer's body. Latch's answers are under
	// 2 KiB; anything near this is a broken server, not a result.
	maxResponseBody = 1 << 20
	// readBufferSize is the per-connection read buffer, which also bounds
	// the length of one status or header line.
	readBufferSize = 4 << 10
)

// aLongTimeAgo is a deadline in the past: setting it ends a blocked read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// Errors in answers that are not well-formed HTTP/1.1. They are always
// wrapped with the request they belong to (see [wireConn.post]).
var (
	errMalformed = errors.New("malformed response")
	errTooLarge  = errors.New("response body over 1 MiB")
	errNoLength  = errors.New("response has neither Content-Length nor chunked encoding, yet keeps the connection open")
)

// wireTarget is the server the timed requests go to, and the part of every
// request that never changes. Workers share it and never modify it.
type wireTarget struct {
	// addr is the host:port to dial.
	addr string
	// tls is nil for http.
	tls *tls.Config
	// headers holds every header line after the request line, each
	// preceded by CRLF, and ends with "Content-Length: ", whose value
	// depends on the request.
	headers string
	timeout time.Duration
	dialer  *net.Dialer
}

// newWireTarget prepares POSTs to baseURL (scheme, host and port, as
// [checkLoopbackURL] accepts them) that authenticate with authorization, an
// Authorization header value. timeout bounds each request, dialling
// included. roots are the CAs an https server's certificate must chain to;
// nil means the system's, as with net/http's default transport.
func newWireTarget(baseURL, authorization string, timeout time.Duration, roots *x509.CertPool) (*wireTarget, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("latch-bench: %w", err)
	}
	t := &wireTarget{timeout: timeout, dialer: newLoopbackDialer()}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
		t.tls = &tls.Config{ServerName: u.Hostname(), RootCAs: roots}
	default:
		return nil, fmt.Errorf("latch-bench: %q: scheme must be http or https", baseURL)
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	// The server stores and logs the User-Agent of audited requests; net/http
	// sent one too, so leaving it out would change the server's work.
	t.headers = "\r\nHost: " + u.Host +
		"\r\nUser-Agent: latch-bench" +
		"\r\nAuthorization: " + authorization +
		"\r\nContent-Type: application/x-www-form-urlencoded" +
		"\r\nContent-Length: "
	return t, nil
}

// wireConn is one worker's keep-alive connection to a [wireTarget]. It is
// dialled on first use, and again after any error or an answer with
// "Connection: close". It is not safe for concurrent use: each worker owns
// one.
type wireConn struct {
	t *wireTarget
	// raw is the TCP connection, nil when closed; conn is raw or the TLS
	// client over it.
	raw  net.Conn
	conn net.Conn
	br   *bufio.Reader
	// wake sets a past deadline on raw, so that a cancelled context ends a
	// blocked write or read at once. It is made once per connection, so
	// that registering it per request allocates no closure.
	wake func()
	// req and body are reused by every request.
	req  []byte
	body []byte
}

func newWireConn(t *wireTarget) *wireConn { return &wireConn{t: t} }

// connect dials unless a connection is open, so that a scenario can open its
// connections before the clock starts, as net/http's pool had them open.
func (c *wireConn) connect(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	if err := c.dial(ctx, time.Now().Add(c.t.timeout)); err != nil {
		return fmt.Errorf("latch-bench: connect: %w", err)
	}
	return nil
}

// post sends form to path and reads the answer. It returns the status and
// the body, which stays valid until the next call. The target's timeout
// bounds the whole exchange, dialling included, and cancelling ctx ends it
// early.
//
// After an error the connection is closed, and the next call dials again.
// The request is never resent: the server may have processed it (a refresh
// rotation, a revocation), and a POST is not the client's to replay. That
// includes a connection the server closed while it was idle, which is
// counted as one transport error; see TestIdleCloseCountsOneError.
func (c *wireConn) post(ctx context.Context, path string, form []byte) (status int, body []byte, err error) {
	deadline := time.Now().Add(c.t.timeout)
	if c.conn == nil {
		if err := c.dial(ctx, deadline); err != nil {
			return 0, nil, fmt.Errorf("latch-bench: POST %s: %w", path, err)
		}
	}
	// The deadline is set before wake is registered: if ctx is already
	// cancelled, wake runs after this and its past deadline wins.
	if err := c.raw.SetDeadline(deadline); err != nil {
		c.close()
		return 0, nil, fmt.Errorf("latch-bench: POST %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, c.wake)
	status, closeAfter, err := c.roundTrip(path, form)
	if !stop() {
		// wake has run or is about to: this connection's deadline can no
		// longer be trusted.
		closeAfter = true
	}
	if err != nil {
		c.close()
		return 0, nil, fmt.Errorf("latch-bench: POST %s: %w", path, err)
	}
	// Bytes beyond the answer mean the stream is out of step.
	if closeAfter || c.br.Buffered() > 0 {
		c.close()
	}
	return status, c.body, nil
}

// roundTrip writes the request in one Write and reads the answer into
// c.body. closeAfter reports that the server ends the connection after it.
func (c *wireConn) roundTrip(path string, form []byte) (status int, closeAfter bool, err error) {
	c.req = appendRequest(c.req[:0], c.t.headers, path, form)
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, fmt.Errorf("write request: %w", err)
	}
	var h respHead
	c.body, h, err = readResponse(c.br, c.body[:0])
	if err != nil {
		return 0, false, fmt.Errorf("read answer: %w", err)
	}
	return h.status, h.close, nil
}

// dial opens a connection through the loopback-only dialer and, for https,
// completes the TLS handshake, all before deadline.
func (c *wireConn) dial(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	raw, err := c.t.dialer.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	conn := raw
	if c.t.tls != nil {
		tc := tls.Client(raw, c.t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return err
		}
		conn = tc
	}
	c.raw, c.conn = raw, conn
	// wake holds this connection, not c.raw: if it runs late, it can only
	// touch a connection that is already closed.
	c.wake = func() { _ = raw.SetDeadline(aLongTimeAgo) }
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, readBufferSize)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

// close closes the connection, if any; the next post dials a new one.
func (c *wireConn) close() {
	if c.conn == nil {
		return
	}
	_ = c.conn.Close()
	c.raw, c.conn, c.wake = nil, nil, nil
	c.br.Reset(nil)
}

// appendRequest appends a whole POST request with a form body (RFC 9112
// §3, §6) to dst.
func appendRequest(dst []byte, headers, path string, form []byte) []byte {
	dst = slices.Grow(dst, len("POST  HTTP/1.1")+len(path)+len(headers)+20+len("\r\n\r\n")+len(form))
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1"...)
	dst = append(dst, headers...)
	dst = strconv.AppendInt(dst, int64(len(form)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, form...)
}

// respHead is what the client uses of an answer's status line and headers.
type respHead struct {
	status int
	// length is the Content-Length, or -1 without one.
	length  int
	chunked bool
	// close reports that the server closes the connection after this
	// answer: "Connection: close", or HTTP/1.0 without keep-alive.
	close     bool
	keepAlive bool
}

// readResponse reads one answer from br and appends its body to body. It
// skips interim (1xx) answers, as net/http does.
func readResponse(br *bufio.Reader, body []byte) ([]byte, respHead, error) {
	for {
		h, err := readHead(br)
		if err != nil {
			return body, h, err
		}
		switch {
		case h.status == 101:
			return body, h, fmt.Errorf("%w: unexpected 101 Switching Protocols", errMalformed)
		case h.status < 200:
			continue // RFC 9110 §15.2: no body, the final answer follows
		}
		body, err = readBody(br, h, body)
		return body, h, err
	}
}

// readHead reads a status line and the header fields after it (RFC 9112
// §4, §5).
func readHead(br *bufio.Reader) (respHead, error) {
	h := respHead{length: -1}
	line, err := readLine(br)
	if err != nil {
		return h, err // io.EOF here: the server closed without answering
	}
	var http10 bool
	if h.status, http10, err = parseStatusLine(line); err != nil {
		return h, err
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return h, noEOF(err)
		}
		if len(line) == 0 {
			break
		}
		if err := h.field(line); err != nil {
			return h, err
		}
	}
	if http10 && !h.keepAlive {
		h.close = true // RFC 9112 §9.3: HTTP/1.0 closes unless asked not to
	}
	return h, nil
}

// parseStatusLine parses "HTTP/1.x NNN reason".
func parseStatusLine(line []byte) (status int, http10 bool, err error) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	switch line[7] {
	case '0':
		http10 = true
	case '1':
	default:
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = status*10 + int(d-'0')
	}
	if status < 100 {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	return status, http10, nil
}

// field records one header field line, if it is one the client uses.
func (h *respHead) field(line []byte) error {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return fmt.Errorf("%w: header line %q", errMalformed, line)
	}
	name, value := line[:i], bytes.TrimSpace(line[i+1:])
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseLength(value)
		if !ok || (h.length >= 0 && h.length != n) {
			return fmt.Errorf("%w: Content-Length %q", errMalformed, value)
		}
		h.length = n
	case equalFold(name, "transfer-encoding"):
		// Latch compresses nothing; anything but plain chunked would be
		// a surprise worth an error.
		if !equalFold(value, "chunked") {
			return fmt.Errorf("%w: unsupported Transfer-Encoding %q", errMalformed, value)
		}
		h.chunked = true
	case equalFold(name, "connection"):
		h.close = h.close || hasToken(value, "close")
		h.keepAlive = h.keepAlive || hasToken(value, "keep-alive")
	}
	return nil
}

// readBody appends the body of an answer with head h to body (RFC 9112 §6.3).
func readBody(br *bufio.Reader, h respHead, body []byte) ([]byte, error) {
	switch {
	case h.status == 204 || h.status == 304:
		return body, nil
	case h.chunked: // Transfer-Encoding overrides Content-Length
		return readChunked(br, body)
	case h.length >= 0:
		if h.length > maxResponseBody {
			return body, errTooLarge
		}
		n := len(body)
		body = slices.Grow(body, h.length)[:n+h.length]
		_, err := io.ReadFull(br, body[n:])
		return body, noEOF(err)
	case h.close:
		return readUntilEOF(br, body)
	default:
		return body, errNoLength
	}
}

// readChunked appends a chunked body (RFC 9112 §7.1) to body and skips its
// trailer fields.
func readChunked(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return body, noEOF(err)
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return body, err
		}
		if size == 0 {
			return body, skipTrailers(br)
		}
		if len(body)+size > maxResponseBody {
			return body, errTooLarge
		}
		n := len(body)
		body = slices.Grow(body, size)[:n+size]
		if _, err := io.ReadFull(br, body[n:]); err != nil {
			return body, noEOF(err)
		}
		line, err = readLine(br)
		if err != nil {
			return body, noEOF(err)
		}
		if len(line) != 0 {
			return body, fmt.Errorf("%w: %d bytes after a chunk", errMalformed, len(line))
		}
	}
}

// parseChunkSize parses the hexadecimal size of a chunk line, ignoring any
// chunk extension.
func parseChunkSize(line []byte) (int, error) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 {
		return 0, fmt.Errorf("%w: empty chunk size", errMalformed)
	}
	size := 0
	for _, d := range line {
		var v byte
		switch {
		case '0' <= d && d <= '9':
			v = d - '0'
		case 'a' <= d && d <= 'f':
			v = d - 'a' + 10
		case 'A' <= d && d <= 'F':
			v = d - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		size = size<<4 | int(v)
		if size > maxResponseBody {
			return 0, errTooLarge
		}
	}
	return size, nil
}

func skipTrailers(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readUntilEOF appends a body delimited by the end of the connection.
func readUntilEOF(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		if len(body) == cap(body) {
			body = slices.Grow(body, 512)
		}
		n, err := br.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		switch {
		case len(body) > maxResponseBody:
			return body, errTooLarge
		case err == io.EOF:
			return body, nil
		case err != nil:
			return body, err
		}
	}
}

// readLine reads a line and drops its CRLF (or bare LF). The line points
// into br's buffer and is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w: line over %d bytes", errMalformed, readBufferSize)
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// noEOF turns an end of stream in the middle of an answer into
// [io.ErrUnexpectedEOF].
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLength parses a Content-Length value: decimal digits only. Values
// over maxResponseBody come out as maxResponseBody+1, which cannot overflow.
func parseLength(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, d := range v {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = min(n*10+int(d-'0'), maxResponseBody+1)
	}
	return n, true
}

// equalFold reports whether b equals lower, a lower-case ASCII string,
// ignoring ASCII case, without converting b to a string.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token
// (lower-case), ignoring case and spaces.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		item := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(bytes.TrimSpace(item), token) {
			return true
		}
	}
	return false
}
