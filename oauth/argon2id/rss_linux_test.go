package argon2id

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// TestRSS runs 200 verifications at Latch's cost through 2 goroutines (the
// server's hashing pool on two CPUs) in a child process per
// implementation, with the Go defaults and with serve's 100 MiB soft
// memory limit, and reports each child's peak resident size (VmHWM), minor
// page faults and wall time. It fails if this package's peak reaches
// 150 MB, the server's memory bar. It takes about 20 s of two CPUs, so it
// runs only with LATCH_ARGON2ID_RSS=1:
//
//	LATCH_ARGON2ID_RSS=1 go test -run TestRSS -v ./oauth/argon2id/
func TestRSS(t *testing.T) {
	if os.Getenv("LATCH_ARGON2ID_RSS") == "" {
		t.Skip("set LATCH_ARGON2ID_RSS=1 to measure peak RSS")
	}
	for _, limit := range []string{"off", "100MiB"} {
		for _, impl := range []string{"xcrypto", "pooled"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$")
			cmd.Env = append(os.Environ(), "LATCH_ARGON2ID_RSS_CHILD="+impl, "GOMEMLIMIT="+limit, "GOMAXPROCS=2")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", impl, err, out)
			}
			var hwm, faults int64
			var wallMS int64
			line := lastLine(string(out), "rss:")
			if _, err := fmt.Sscanf(line, "rss: hwm_kib=%d minflt=%d wall_ms=%d", &hwm, &faults, &wallMS); err != nil {
				t.Fatalf("%s: %v in %q", impl, err, out)
			}
			t.Logf("GOMEMLIMIT=%s %-7s VmHWM %5.1f MB, %6d minor faults, %d ms for 200 hashes", limit, impl, float64(hwm)*1024/1e6, faults, wallMS)
			if impl == "pooled" && hwm*1024 >= 150e6 {
				t.Errorf("GOMEMLIMIT=%s: peak RSS %d KiB, want under 150 MB", limit, hwm)
			}
		}
	}
}

// TestRSSChild is TestRSS's child process.
func TestRSSChild(t *testing.T) {
	impl := os.Getenv("LATCH_ARGON2ID_RSS_CHILD")
	if impl == "" {
		t.Skip("run by TestRSS")
	}
	f := IDKey
	if impl == "xcrypto" {
		f = argon2.IDKey
	}
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range jobs {
				f([]byte("password "+strconv.Itoa(i)), []byte("0123456789abcdef"), 2, 19*1024, 1, 32)
			}
		})
	}
	for i := range 200 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(start)

	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var hwm int64
	if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(lastLine(string(status), "VmHWM:"), "VmHWM:")), "%d kB", &hwm); err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rss: hwm_kib=%d minflt=%d wall_ms=%d\n", hwm, ru.Minflt, wall.Milliseconds())
}

// lastLine returns the last line of s that starts with prefix.
func lastLine(s, prefix string) string {
	var found string
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) {
			found = strings.TrimSpace(line)
		}
	}
	return found
}
