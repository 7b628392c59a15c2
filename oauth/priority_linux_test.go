package oauth

import (
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLowPriority: work passed to lowPriority runs on a thread in the
// SCHED_IDLE class (or at nice 10 where that is refused), and the caller's
// thread keeps its own policy.
func TestLowPriority(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Skipf("sched_getattr: %v", err)
	}
	var policy uint32
	var nice int
	var tid int
	lowPriority(func() {
		tid = unix.Gettid()
		if a, err := unix.SchedGetAttr(0, 0); err == nil {
			policy = a.Policy
		}
		nice, _ = syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	})
	if tid == unix.Gettid() {
		t.Error("work ran on the caller's thread")
	}
	// Getpriority's raw syscall answers 20 - nice.
	if policy != unix.SCHED_IDLE && 20-nice != 10 {
		t.Errorf("work ran with policy %d, nice %d; want SCHED_IDLE or nice 10", policy, 20-nice)
	}
	after, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Policy != before.Policy || after.Nice != before.Nice {
		t.Errorf("caller's thread changed: policy %d nice %d, was %d and %d", after.Policy, after.Nice, before.Policy, before.Nice)
	}
}
