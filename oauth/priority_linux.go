package oauth

import "syscall"

// lowerThreadPriority sets the calling thread's nice value to 10 (on Linux,
// setpriority with a thread id applies to that thread alone). A failure
// leaves the thread at its priority: slower under a flood, still correct.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 10)
}
