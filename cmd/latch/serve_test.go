package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/oauth"
)

func TestNewHTTPServer(t *testing.T) {
	t.Parallel()
	handler := http.NotFoundHandler()
	srv := newHTTPServer(handler, slog.New(slog.NewTextHandler(t.Output(), nil)))
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 15 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", srv.IdleTimeout, 120 * time.Second},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if grace := shutdownGrace(srv); grace <= srv.WriteTimeout {
		t.Errorf("shutdownGrace = %v, want more than WriteTimeout %v: shutdown would cut off answers still due", grace, srv.WriteTimeout)
	}
	if srv.Handler == nil {
		t.Error("Handler is nil")
	}
	if srv.ErrorLog == nil {
		t.Error("ErrorLog is nil: the server's errors would go to the standard logger")
	}
}

// startServe runs "latch serve" in-process with c's environment and the
// given standard output and error. stop cancels its context, as SIGTERM does; done
// receives what run returned. The test fails if serve is still running when
// it ends.
func startServe(t *testing.T, c *cli, stdout, stderr io.Writer) (stop context.CancelFunc, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		errc <- run(ctx, []string{"serve"}, c.getenv(), environFunc(c.env), strings.NewReader(""), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(30 * time.Second):
			t.Error("serve did not return within 30s of cancel")
		}
	})
	return cancel, errc
}

// waitServing polls url until it answers 200, failing the test when serve
// returns or 30s pass first.
func waitServing(t *testing.T, client *http.Client, url string, done <-chan error, stderr *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\nstderr:\n%s", err, stderr.String())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 from %s within 30s (last error %v)\nstderr:\n%s", url, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var welcomeIssuer = regexp.MustCompile(`Latch is serving (\S+) `)

// waitIssuer returns the issuer that serve's welcome on stdout names,
// failing the test when serve returns or 30s pass first.
func waitIssuer(t *testing.T, stdout *syncBuffer, done <-chan error, stderr *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := welcomeIssuer.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\nstderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no welcome on stdout within 30s:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantMetadata fetches the RFC 8414 metadata from base and fails the test
// unless it names base as the issuer and base's token endpoint.
func wantMetadata(t *testing.T, client *http.Client, base string) {
	t.Helper()
	resp, err := client.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: status %d, %v", resp.StatusCode, err)
	}
	if meta.Issuer != base {
		t.Errorf("issuer = %q, want %q", meta.Issuer, base)
	}
	if meta.TokenEndpoint != base+"/oauth2/token" {
		t.Errorf("token_endpoint = %q, want %q", meta.TokenEndpoint, base+"/oauth2/token")
	}
}

// waitServeReturns fails the test unless serve returns nil within 30s.
func waitServeReturns(t *testing.T, done <-chan error, stderr *syncBuffer) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v, want nil (graceful shutdown)\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not return within 30s of cancel\nstderr:\n%s", stderr.String())
	}
}

// TestRunServeShutdownFinishesRequests checks that a SIGTERM (a cancelled
// context) lets a request whose body is still arriving finish with a whole
// response, while new connections are refused.
func TestRunServeShutdownFinishesRequests(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	addr := freeAddr(t)
	c.env["LATCH_ADDR"] = addr
	stderr := new(syncBuffer)
	stop, done := startServe(t, c, io.Discard, stderr)
	waitServing(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/healthz", done, stderr)

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		t.Helper()
		if _, err := io.WriteString(conn, s); err != nil {
			t.Fatalf("write: %v\nstderr:\n%s", err, stderr.String())
		}
	}
	br := bufio.NewReader(conn)

	// The server answers "100 Continue" when the handler first reads the
	// body: from then on the request is in flight, with no sleep to guess
	// when that is.
	body := "grant_type=client_credentials&client_id=nosuch&client_secret=wrong"
	write("POST /oauth2/token HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Expect: 100-continue\r\n" +
		"\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading 100 Continue: %v", err)
	}
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("status %d before the body was sent, want 100", resp.StatusCode)
	}
	half := len(body) / 2
	write(body[:half])

	stop()
	// Shutdown closes the listener first, so a refused connection says
	// that shutdown has begun.
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("new connections still accepted 30s after cancel\nstderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned while a request was in flight: %v", err)
	default:
	}

	write(body[half:])
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to the in-flight request: %v\nstderr:\n%s", err, stderr.String())
	}
	var oauthErr struct {
		Error string `json:"error"`
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	if err := json.Unmarshal(b, &oauthErr); err != nil {
		t.Fatalf("response body is not JSON: %v\n%s", err, b)
	}
	// An unknown client: the server read the whole body, client_id included.
	if resp.StatusCode != http.StatusUnauthorized || oauthErr.Error != "invalid_client" {
		t.Errorf("in-flight request: status %d, error %q, want 401 invalid_client\n%s", resp.StatusCode, oauthErr.Error, b)
	}

	waitServeReturns(t, done, stderr)
	if nc, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		nc.Close()
		t.Error("a new connection was accepted after shutdown")
	}
}

// TestRunServeLogFormat checks serve's default log format, text when its
// standard error is a terminal and JSON otherwise, and that
// LATCH_LOG_FORMAT wins.
func TestRunServeLogFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		terminal bool
		format   string // LATCH_LOG_FORMAT
		want     string // in the start-up line
	}{
		{"terminal", true, "", `level=INFO msg="latch serving"`},
		{"pipe", false, "", `"msg":"latch serving"`},
		{"terminal, json asked for", true, "json", `"msg":"latch serving"`},
		{"pipe, text asked for", false, "text", `level=INFO msg="latch serving"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.env["LATCH_ADDR"] = "127.0.0.1:0"
			c.env["LATCH_LOG_FORMAT"] = tc.format
			logs := new(syncBuffer)
			var stderr io.Writer = logs
			if tc.terminal {
				master, tty := newPTY(t)
				stderr = tty
				go func() { _, _ = io.Copy(logs, master) }() // ends when master closes
			}
			stdout := new(syncBuffer)
			stop, done := startServe(t, c, stdout, stderr)
			base := waitIssuer(t, stdout, done, logs)
			waitServing(t, &http.Client{Timeout: 5 * time.Second}, base+"/healthz", done, logs)
			stop()
			waitServeReturns(t, done, logs)
			// What serve wrote to the terminal may still be on its way.
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "latch serving") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("log lacks %s:\n%s", tc.want, logs.String())
			}
		})
	}
}

// TestRunServeTLS checks that LATCH_TLS_CERT and LATCH_TLS_KEY make serve
// speak HTTPS, with an https issuer, and nothing else on that port.
func TestRunServeTLS(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	addr := freeAddr(t)
	certFile, keyFile, roots := mustWriteCert(t, "127.0.0.1")
	c.env["LATCH_ADDR"] = addr
	c.env["LATCH_TLS_CERT"] = certFile
	c.env["LATCH_TLS_KEY"] = keyFile
	stderr := new(syncBuffer)
	stop, done := startServe(t, c, io.Discard, stderr)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	base := "https://" + addr
	waitServing(t, client, base+"/healthz", done, stderr)

	wantMetadata(t, client, base)
	if resp, err := client.Get(base + "/healthz"); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("Strict-Transport-Security = %q over TLS, want max-age=...", got)
		}
	}

	// Plain HTTP to the TLS port gets Go's 400, never the metadata.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/.well-known/oauth-authorization-server"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "issuer") {
			t.Errorf("plain HTTP to the TLS port: status %d\n%s", resp.StatusCode, b)
		}
	}

	stop()
	waitServeReturns(t, done, stderr)
	// The server's ErrorLog is Latch's logger: the plain-HTTP handshake
	// failure is in serve's log, which is flushed when serve returns.
	if !strings.Contains(stderr.String(), "TLS handshake error") {
		t.Errorf("no TLS handshake error in serve's log:\n%s", stderr.String())
	}
}

// TestRunServeTLSBadFiles: a certificate that cannot be read, or a key of
// another certificate, stops serve before it listens, with a message that
// says so.
func TestRunServeTLSBadFiles(t *testing.T) {
	t.Parallel()
	cert, key, _ := mustWriteCert(t, "127.0.0.1")
	_, otherKey, _ := mustWriteCert(t, "127.0.0.1")
	for _, tc := range []struct{ name, cert, key string }{
		{"missing certificate", filepath.Join(t.TempDir(), "none.pem"), key},
		{"key of another certificate", cert, otherKey},
		{"key for certificate", key, cert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			c.env["LATCH_ADDR"] = freeAddr(t)
			c.env["LATCH_TLS_CERT"], c.env["LATCH_TLS_KEY"] = tc.cert, tc.key
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, c.getenv(), environFunc(c.env), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
				t.Fatalf("serve = %v, want a TLS certificate error", err)
			}
			if strings.Contains(stdout.String()+stderr.String(), "latch serving") {
				t.Errorf("serve announced itself before failing:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}

// mustWriteCert writes a self-signed ECDSA P-256 certificate for the IP
// address host and its key as PEM files in t.TempDir(), and returns their
// paths and a pool that trusts only that certificate.
func mustWriteCert(t testing.TB, host string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		IPAddresses:  []net.IP{net.ParseIP(host)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// TestPrintWelcome: the welcome names the metadata where RFC 8414 §3.1
// puts it, also for an issuer with a path.
func TestPrintWelcome(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string]string{
		"http://127.0.0.1:8080":    "Latch is serving http://127.0.0.1:8080 (metadata: http://127.0.0.1:8080/.well-known/oauth-authorization-server)\n",
		"https://example.com/auth": "Latch is serving https://example.com/auth (metadata: https://example.com/.well-known/oauth-authorization-server/auth)\n",
	} {
		var out strings.Builder
		printWelcome(&out, &config{issuer: issuer, adminToken: "set"})
		if first, _, _ := strings.Cut(out.String(), "Create"); first != want {
			t.Errorf("welcome for %s starts %q, want %q", issuer, first, want)
		}
	}
}

// TestRunServeLogsCarryTheRequest: the lines a password grant causes deep
// inside (oauth's client authentication at debug, its audit line at info) carry
// the request_id of the access line and of the X-Request-Id header, and the
// client_id the request authenticated as; LATCH_LOG_LEVEL filters them.
func TestRunServeLogsCarryTheRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string // LATCH_LOG_LEVEL
		want  []string
		never []string
	}{
		{"debug", []string{"client authenticated", "audit", "request"}, nil},
		{"info", []string{"audit", "request"}, []string{"client authenticated"}},
		{"warn", nil, []string{"client authenticated", "audit", "request"}},
	}
	for _, tc := range tests {
		t.Run(tc.level, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			secret := clientSecretLine.FindStringSubmatch(c.mustRun("", "clients", "create", "--id", "svc", "--grant-types", "password", "--scope", "read"))[1]
			c.mustRun("a long password\n", "users", "create", "alice")
			c.env["LATCH_ADDR"] = "127.0.0.1:0"
			c.env["LATCH_LOG_FORMAT"] = "json"
			c.env["LATCH_LOG_LEVEL"] = tc.level
			logs, stdout := new(syncBuffer), new(syncBuffer)
			stop, done := startServe(t, c, stdout, logs)
			base := waitIssuer(t, stdout, done, logs)
			client := &http.Client{Timeout: 5 * time.Second}
			waitServing(t, client, base+"/healthz", done, logs)
			req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader("grant_type=password&username=alice&password=a+long+password"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("svc", secret)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			if resp.StatusCode != http.StatusOK || id == "" {
				t.Fatalf("token: %s, X-Request-Id %q", resp.Status, id)
			}
			stop()
			waitServeReturns(t, done, logs)

			seen := map[string]bool{}
			for raw := range strings.Lines(logs.String()) {
				var line map[string]any
				if err := json.Unmarshal([]byte(raw), &line); err != nil {
					t.Fatalf("not a JSON line: %q", raw)
				}
				if line["request_id"] != id {
					continue
				}
				msg, _ := line["msg"].(string)
				seen[msg] = true
				if line["client_id"] != "svc" {
					t.Errorf("%q line of the request: client_id %v, want svc", msg, line["client_id"])
				}
			}
			for _, msg := range tc.want {
				if !seen[msg] {
					t.Errorf("no %q line with request_id %s:\n%s", msg, id, logs.String())
				}
			}
			for _, msg := range tc.never {
				if strings.Contains(logs.String(), `"msg":"`+msg+`"`) {
					t.Errorf("a %q line at LATCH_LOG_LEVEL=%s:\n%s", msg, tc.level, logs.String())
				}
			}
		})
	}
}

// TestMemoryLimit checks that serve's soft memory limit leaves room for
// every hash its pool may run at once: the 100 MiB it was on two CPUs, and
// one argon2id hash more per CPU.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	perHash := int64(oauth.DefaultArgon2MemoryKiB) << 10
	for _, tc := range []struct {
		concurrency int
		want        int64
	}{
		{1, 83 * mib},
		{2, 102 * mib},
		{16, 368 * mib},
	} {
		if got := memoryLimit(tc.concurrency); got != tc.want {
			t.Errorf("memoryLimit(%d) = %d MiB, want %d MiB", tc.concurrency, got/mib, tc.want/mib)
		}
		if got := memoryLimit(tc.concurrency) - memoryLimit(tc.concurrency-1); got != perHash {
			t.Errorf("memoryLimit grows by %d bytes per hashing slot, want %d", got, perHash)
		}
	}
}
