package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// checkLoopbackURL accepts an http or https URL whose host is localhost or a
// loopback address, and nothing else: this tool is for measuring a server on
// the same machine, never for loading someone else's.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("latch-bench: --url %q is not a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("latch-bench: --url %q: scheme must be http or https", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("latch-bench: --url %q: give only scheme, host and port", raw)
	}
	host := u.Hostname()
	if !isLoopbackHost(host) {
		return fmt.Errorf("latch-bench: --url %q: host %q is not a loopback address or localhost; load is only allowed against this machine", raw, host)
	}
	return nil
}

// checkAloneURL accepts the scratch database of --alone: sqlite:PATH, or a
// PostgreSQL URL without a password whose host is loopback or a Unix
// socket. Its errors never quote the URL.
func checkAloneURL(raw string) error {
	if path, ok := strings.CutPrefix(raw, "sqlite:"); ok {
		if path == "" || strings.Contains(path, "?") {
			return errors.New("latch-bench: --alone sqlite:PATH needs a plain file path")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("latch-bench: --alone takes sqlite:PATH or a postgres:// URL")
	}
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		return errors.New("latch-bench: --alone: put no password in the URL (ps shows it); use PGPASSWORD or ~/.pgpass")
	}
	hosts := []string{u.Hostname(), u.Query().Get("host"), u.Query().Get("hostaddr")}
	for _, h := range hosts {
		if h != "" && !strings.HasPrefix(h, "/") && !isLoopbackHost(h) {
			return errors.New("latch-bench: --alone: the PostgreSQL host must be a loopback address, localhost or a Unix socket")
		}
	}
	return nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP
// literal (127.0.0.0/8, ::1, or an IPv4-mapped 127.x).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return false
	}
	return addr.Unmap().IsLoopback()
}

// newLoopbackDialer returns the dialer of every connection the tool opens:
// it refuses anything but loopback ([loopbackOnly]).
func newLoopbackDialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
}

// loopbackOnly is a [net.Dialer] Control function that refuses any
// connection to a non-loopback address, whatever "localhost" resolves to and
// wherever a redirect points.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("latch-bench: dial %s: %w", address, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Unmap().IsLoopback() {
		return fmt.Errorf("latch-bench: refusing to connect to non-loopback address %s", address)
	}
	return nil
}
