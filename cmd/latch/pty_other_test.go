//go:build !linux

package main

import (
	"os"
	"testing"
)

// newPTY skips the test: the tests open pseudo-terminals on Linux only.
func newPTY(t testing.TB) (master, tty *os.File) {
	t.Helper()
	t.Skip("pseudo-terminal tests run on Linux only")
	return nil, nil
}

func ttyEchoes(t testing.TB, tty *os.File) bool {
	t.Helper()
	t.Skip("pseudo-terminal tests run on Linux only")
	return false
}

func setEcho(t testing.TB, tty *os.File, on bool) {
	t.Helper()
	t.Skip("pseudo-terminal tests run on Linux only")
}
