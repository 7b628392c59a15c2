package main

import (
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
