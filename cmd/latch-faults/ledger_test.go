package main

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestLedgerRecord checks how answers count against the HTTP invariants:
// a 503 needs Retry-After, any other 5xx breaks the first invariant, and
// transport errors are no answer at all.
func TestLedgerRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a        answer
		inv      invariant
		checked  int
		violated int
	}{
		{"200", answer{status: http.StatusOK}, invNo5xx, 1, 0},
		{"500", answer{status: http.StatusInternalServerError}, invNo5xx, 1, 1},
		{"502", answer{status: http.StatusBadGateway}, invNo5xx, 1, 1},
		{"503 is allowed", answer{status: http.StatusServiceUnavailable, retryAfter: "5"}, invNo5xx, 1, 0},
		{"503 with Retry-After", answer{status: http.StatusServiceUnavailable, retryAfter: "5"}, invRetryAfter, 1, 0},
		{"503 without Retry-After", answer{status: http.StatusServiceUnavailable}, invRetryAfter, 1, 1},
		{"transport error is no answer", answer{err: errors.New("connection refused")}, invNo5xx, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLedger("test")
			l.record("/oauth2/token", tc.a)
			if l.checked[tc.inv] != tc.checked || l.violated[tc.inv] != tc.violated {
				t.Errorf("%s: checked %d, violated %d; want %d, %d", tc.inv, l.checked[tc.inv], l.violated[tc.inv], tc.checked, tc.violated)
			}
		})
	}
}

// TestBrokenNamesTheInvariant checks that a violation comes out by name,
// which is what the self-test looks for.
func TestBrokenNamesTheInvariant(t *testing.T) {
	t.Parallel()
	l := newLedger("postgres")
	l.count(invFork)
	if got := broken(l); len(got) != 0 {
		t.Fatalf("broken = %q with no violation", got)
	}
	l.violate(invChainLost, "chain 0: refresh answered 400 invalid_grant")
	got := broken(l)
	if len(got) != 1 || got[0] != "no refresh chain lost [postgres]" {
		t.Errorf("broken = %q, want the lost chain", got)
	}
	var b strings.Builder
	printTable(&b, l)
	if !strings.Contains(b.String(), "VIOLATED") || !strings.Contains(b.String(), "invalid_grant") {
		t.Errorf("the table shows neither the violation nor its example:\n%s", b.String())
	}
}

// TestLedgerWatch checks that a fault's window collects the failed answers
// only while it is open.
func TestLedgerWatch(t *testing.T) {
	t.Parallel()
	l := newLedger("test")
	l.record("/oauth2/token", answer{status: http.StatusServiceUnavailable, retryAfter: "1"})
	collect := l.watch()
	l.record("/oauth2/token", answer{status: http.StatusOK})
	l.record("/oauth2/token", answer{status: http.StatusServiceUnavailable, retryAfter: "1", balancerErr: "502"})
	l.record("/oauth2/revoke", answer{err: errors.New("read: connection reset by peer")})
	got := collect()
	l.record("/oauth2/token", answer{status: http.StatusServiceUnavailable, retryAfter: "1"})
	want := []string{
		"/oauth2/token 503  (balancer, was 502)",
		"/oauth2/revoke transport: connection reset by peer",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("window = %q, want %q", got, want)
	}
}

// TestErrorFile checks the balancer's stand-in answer: an HTTP message
// HAProxy can send as it is, a 503 with Retry-After whose length is right.
func TestErrorFile(t *testing.T) {
	t.Parallel()
	for _, code := range []int{502, 503, 504} {
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(errorFile(code))), nil)
		if err != nil {
			t.Fatalf("errorFile(%d): %v", code, err)
		}
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Errorf("errorFile(%d): status %d, Retry-After %q; want 503 with Retry-After", code, res.StatusCode, res.Header.Get("Retry-After"))
		}
		if res.ContentLength <= 0 {
			t.Errorf("errorFile(%d): Content-Length %d", code, res.ContentLength)
		}
	}
}

// TestLoopbackOnly checks that the suite's dialer refuses every address
// that is not loopback.
func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:80", true},
		{"10.0.0.1:80", false},
		{"192.0.2.1:443", false},
		{"localhost:80", false}, // resolved before Control sees it
	}
	for _, tc := range tests {
		err := loopbackOnly("tcp", tc.addr, nil)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%s) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
