package oauth

import (
	"runtime"
	"syscall"
	"testing"

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
