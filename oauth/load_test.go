package oauth

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientSecretFlood is a load probe, not a pass/fail test: it fires 48
// wrong client secrets at once at the token endpoint over HTTP, first for
// one client whose secret an operator chose (argon2id), then for 48 client
// ids that do not exist, at the production argon2id cost, and reports how
// many argon2id computations ran at once, how the requests were answered,
// the process's peak RSS, and the median and worst time of introspections
// by another client (a generated secret, SHA-256) meanwhile. It asserts
// nothing about speed. Run it alone, so that the RSS is its own:
//
//	LATCH_LOAD_TEST=1 go test -run TestClientSecretFlood -v ./oauth
func TestClientSecretFlood(t *testing.T) {
	if os.Getenv("LATCH_LOAD_TEST") == "" {
		t.Skip("a load probe; set LATCH_LOAD_TEST=1 to run it")
	}
	f := newFixture(t, func(c *Config) { c.Argon2 = Argon2Params{} })
	ctx := context.Background()
	if _, _, err := f.p.CreateClient(ctx, ClientSpec{ID: "chosen", Secret: "an operator's choice", GrantTypes: []string{GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	_, probeSecret, err := f.p.CreateClient(ctx, ClientSpec{ID: "probe", GrantTypes: []string{GrantClientCredentials}, CanIntrospect: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.URL.Path == "/introspect" {
			in, err := f.p.Introspect(ctx, r)
			if err != nil {
				f.p.WriteAccessError(ctx, w, nil, err)
				return
			}
			_ = json.NewEncoder(w).Encode(in)
			return
		}
		_ = f.serveToken(ctx, w, r)
	}))
	t.Cleanup(srv.Close)
	post := func(path, id, secret string, form url.Values) (int, []byte, time.Duration) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, time.Since(start)
		}
		defer res.Body.Close()
		var body json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body, time.Since(start)
	}
	cc := url.Values{"grant_type": {GrantClientCredentials}}
	status, body, _ := post("/token", "probe", probeSecret, cc)
	var tok tokenResponse
	if err := json.Unmarshal(body, &tok); status != http.StatusOK || err != nil {
		t.Fatalf("probe token: %d %s", status, body)
	}
	introspect := func() time.Duration {
		status, _, d := post("/introspect", "probe", probeSecret, url.Values{"token": {tok.AccessToken}})
		if status != http.StatusOK {
			t.Errorf("introspection: %d", status)
		}
		return d
	}
	var idle []time.Duration
	for range 50 {
		idle = append(idle, introspect())
	}
	t.Logf("introspection alone: median %v, worst %v", median(idle), slices.Max(idle))

	// Count the argon2id computations running at once.
	var running, peak atomic.Int64
	idKey = func(password, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer running.Add(-1)
		return argon2IDKey(password, salt, passes, memory, threads, keyLen)
	}
	t.Cleanup(func() { idKey = argon2IDKey })

	for _, flood := range []struct {
		name string
		id   func(i int) string
	}{
		{"48 wrong secrets of one argon2id client", func(int) string { return "chosen" }},
		{"48 unknown client ids", func(i int) string { return "nobody-" + string(rune('A'+i)) }},
	} {
		peak.Store(0)
		hwm := vmHWM()
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		var times []time.Duration
		start := make(chan struct{})
		for i := range 48 {
			wg.Go(func() {
				<-start
				status, _, d := post("/token", flood.id(i), "wrong secret", cc)
				mu.Lock()
				defer mu.Unlock()
				statuses[status]++
				times = append(times, d)
			})
		}
		var during []time.Duration
		done := make(chan struct{})
		probed := make(chan struct{})
		go func() {
			defer close(probed)
			for {
				select {
				case <-done:
					return
				default:
					during = append(during, introspect())
				}
			}
		}()
		close(start)
		wg.Wait()
		close(done)
		<-probed
		t.Logf("%s: answers %v; time median %v, worst %v; peak argon2id at once %d; peak RSS %d → %d MiB; introspection meanwhile median %v, worst %v (%d)",
			flood.name, statuses, median(times), slices.Max(times), peak.Load(), hwm>>10, vmHWM()>>10, median(during), slices.Max(during), len(during))
	}
}

// argon2IDKey is the real idKey, for TestClientSecretFlood to restore.
var argon2IDKey = idKey

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// vmHWM returns the process's peak resident set in KiB, 0 where /proc
// does not say.
func vmHWM() int64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var kib int64
		if n, _ := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kib); n == 1 {
			return kib
		}
	}
	return 0
}
