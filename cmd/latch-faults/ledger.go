package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// An invariant is one property the suite checks; each has a row in the
// table it prints.
type invariant int

const (
	invNo5xx invariant = iota
	invRetryAfter
	invChainLost
	invFork
	invRevocation
	invLiveActive
	invRecovery
	invReadyz
	invDrain
	invStartup
	invNonRoot
	invSQLiteIntegrity
	numInvariants
)

var invariantNames = [numInvariants]string{
	invNo5xx:           "no 5xx other than 503",
	invRetryAfter:      "every 503 has Retry-After",
	invChainLost:       "no refresh chain lost",
	invFork:            "no fork (one answer per refresh token)",
	invRevocation:      "no revocation lost (every node)",
	invLiveActive:      "live tokens introspect active",
	invRecovery:        "recovery after the database returns",
	invReadyz:          "/readyz 503 while db down, 200 after",
	invDrain:           "SIGTERM: drained first, no failure",
	invStartup:         "nodes start at once on a fresh db",
	invNonRoot:         "static binary as uid 65532, empty dir",
	invSQLiteIntegrity: "SQLite integrity_check after kill -9",
}

func (i invariant) String() string { return invariantNames[i] }

// ledger counts the checks and violations of one phase (PostgreSQL behind
// the balancer, or SQLite) and keeps a few examples of each violation.
type ledger struct {
	phase string

	mu       sync.Mutex
	checked  [numInvariants]int
	violated [numInvariants]int
	examples [numInvariants][]string
	statuses map[string]int
	notes    map[string]int
	// window, when set, collects the failed answers of a fault's window.
	window *[]string

	// retriedOK counts refreshes that got their answer after at least one
	// transport error or 503.
	retriedOK atomic.Int64
}

func newLedger(phase string) *ledger {
	return &ledger{phase: phase, statuses: map[string]int{}, notes: map[string]int{}}
}

// record counts one answer against the HTTP invariants.
func (l *ledger) record(path string, a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := path + " " + a.code()
	if a.balancerErr != "" {
		key += " (balancer, was " + a.balancerErr + ")"
	}
	l.statuses[key]++
	if a.err != nil || a.status == http.StatusServiceUnavailable {
		if l.window != nil {
			*l.window = append(*l.window, key)
		}
	}
	if a.err != nil {
		return
	}
	if a.status >= 500 && a.status != http.StatusServiceUnavailable {
		l.violateLocked(invNo5xx, fmt.Sprintf("%s answered %d: %.200s", path, a.status, a.body))
	} else {
		l.checked[invNo5xx]++
	}
	switch {
	case a.status != http.StatusServiceUnavailable:
	case a.retryAfter == "":
		l.violateLocked(invRetryAfter, fmt.Sprintf("%s answered 503 without Retry-After", path))
	default:
		l.checked[invRetryAfter]++
	}
}

// count records a check of inv that held.
func (l *ledger) count(inv invariant) {
	l.mu.Lock()
	l.checked[inv]++
	l.mu.Unlock()
}

// checkedOf returns how often inv was checked so far.
func (l *ledger) checkedOf(inv invariant) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checked[inv]
}

// violate records a check of inv that failed.
func (l *ledger) violate(inv invariant, example string) {
	l.mu.Lock()
	l.violateLocked(inv, example)
	l.mu.Unlock()
}

func (l *ledger) violateLocked(inv invariant, example string) {
	l.checked[inv]++
	l.violated[inv]++
	if len(l.examples[inv]) < 3 {
		l.examples[inv] = append(l.examples[inv], example)
	}
}

// note counts something worth printing that is no violation.
func (l *ledger) note(s string) {
	l.mu.Lock()
	l.notes[s]++
	l.mu.Unlock()
}

// watch starts collecting failed answers (transport errors and 503s) and
// returns a function that stops and returns them.
func (l *ledger) watch() func() []string {
	var got []string
	l.mu.Lock()
	l.window = &got
	l.mu.Unlock()
	return func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.window = nil
		return got
	}
}

// broken lists the invariants of the ledgers that were violated.
func broken(ledgers ...*ledger) []string {
	var out []string
	for _, l := range ledgers {
		for i := range numInvariants {
			if l.violated[i] > 0 {
				out = append(out, fmt.Sprintf("%s [%s]", i, l.phase))
			}
		}
	}
	return out
}

// printTable writes the invariants table: one row per invariant and phase
// that was checked at all.
func printTable(w io.Writer, ledgers ...*ledger) {
	fmt.Fprintf(w, "%-40s %-10s %9s %10s  %s\n", "invariant", "phase", "checked", "violated", "result")
	fmt.Fprintln(w, strings.Repeat("-", 80))
	for i := range numInvariants {
		for _, l := range ledgers {
			if l.checked[i] == 0 {
				continue
			}
			result := "ok"
			if l.violated[i] > 0 {
				result = "VIOLATED"
			}
			fmt.Fprintf(w, "%-40s %-10s %9d %10d  %s\n", i, l.phase, l.checked[i], l.violated[i], result)
			for _, ex := range l.examples[i] {
				fmt.Fprintf(w, "    e.g. %s\n", ex)
			}
		}
	}
}

// printAnswers writes every kind of answer seen, by path and status, and
// the notes.
func printAnswers(w io.Writer, l *ledger) {
	fmt.Fprintf(w, "answers [%s]:\n", l.phase)
	keys := make([]string, 0, len(l.statuses))
	for k := range l.statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %7d  %s\n", l.statuses[k], k)
	}
	fmt.Fprintf(w, "  refreshes answered after a transport error or 503, same token retried: %d\n", l.retriedOK.Load())
	keys = keys[:0]
	for k := range l.notes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  note (%dx): %s\n", l.notes[k], k)
	}
}
