package main

import "testing"

func TestCheckLoopbackURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"ipv4 loopback", "http://127.0.0.1:8080", true},
		{"other 127/8 address", "http://127.1.2.3:8080", true},
		{"trailing slash", "http://127.0.0.1:8080/", true},
		{"localhost", "http://localhost:8080", true},
		{"localhost any case", "https://LocalHost", true},
		{"ipv6 loopback", "http://[::1]:8080", true},
		{"ipv4-mapped loopback", "http://[::ffff:127.0.0.1]:8080", true},
		{"public ip", "http://192.0.2.1:8080", false},
		{"private ip", "http://10.0.0.1", false},
		{"unspecified", "http://0.0.0.0:8080", false},
		{"public name", "http://example.com", false},
		{"localhost lookalike", "http://localhost.example.com", false},
		{"subdomain of localhost", "http://evil.localhost", false},
		{"loopback-looking name", "http://127.0.0.1.nip.io", false},
		{"zone", "http://[::1%25lo]:8080", false},
		{"no scheme", "127.0.0.1:8080", false},
		{"other scheme", "ftp://127.0.0.1", false},
		{"path", "http://127.0.0.1:8080/oauth2", false},
		{"userinfo", "http://user@127.0.0.1:8080", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkLoopbackURL(tc.url)
			if (err == nil) != tc.ok {
				t.Errorf("checkLoopbackURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
}

// TestLoopbackOnly checks the dialer guard, which catches what the URL check
// cannot see: what localhost resolves to, and redirects.
func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:80", true},
		{"127.0.0.53:53", true},
		{"192.0.2.1:80", false},
		{"[2001:db8::1]:443", false},
		{"example.com:80", false},
		{"nonsense", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			if err := loopbackOnly("tcp", tc.addr, nil); (err == nil) != tc.ok {
				t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
			}
		})
	}
}
