package oauth

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice is the nice value of the calling thread (the raw
// getpriority system call answers 20 - nice).
func threadNice(t *testing.T) int {
	t.Helper()
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// TestLowPriority: work passed to lowPriority runs on a thread of its own at
// nice 10, and the caller's thread keeps its priority.
func TestLowPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	if before >= 10 {
		t.Skipf("the test runs at nice %d already; nice 10 would change nothing", before)
	}
	var tid, nice int
	lowPriority(func() {
		tid = unix.Gettid()
		p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
		if err == nil {
			nice = 20 - p
		}
	})
	if tid == unix.Gettid() {
		t.Error("work ran on the caller's thread")
	}
	if nice != 10 {
		t.Errorf("work ran at nice %d, want 10", nice)
	}
	if after := threadNice(t); after != before {
		t.Errorf("the caller's thread went from nice %d to %d", before, after)
	}
}

// TestHashingStaysOnTheLowPriorityThread: all the CPU time of a password
// hash is spent on the thread lowPriority lowered, not on threads of normal
// priority. (golang.org/x/crypto's argon2 computed on goroutines of its own:
// the lowered thread only waited, and this test saw a fraction of the
// process's CPU time on it.)
func TestHashingStaysOnTheLowPriorityThread(t *testing.T) {
	params := argon2Params{memory: 32 * 1024, time: 2, threads: 1, keyLen: 32}
	var thread, process time.Duration
	lowPriority(func() {
		t0, p0 := mustRusage(t, unix.RUSAGE_THREAD), mustRusage(t, unix.RUSAGE_SELF)
		argon2Key([]byte("password"), []byte("0123456789abcdef"), params, 32)
		thread, process = mustRusage(t, unix.RUSAGE_THREAD)-t0, mustRusage(t, unix.RUSAGE_SELF)-p0
	})
	t.Logf("hash: %v on the hashing thread, %v in the whole process", thread, process)
	// The rest of the process (the collector, other tests' goroutines)
	// may take a little CPU meanwhile.
	if thread < process*8/10 {
		t.Errorf("the hashing thread spent %v of the process's %v: the hash ran elsewhere", thread, process)
	}
}

func mustRusage(t *testing.T, who int) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
