package main

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBatchWriterFlushes(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	b := newBatchWriter(&out, 10*time.Millisecond)
	newLogger("json", slog.LevelInfo, b).Info("first", "client_id", "c1")
	if out.String() != "" {
		t.Fatal("a line was written through at once; it should wait for the batch")
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), `"msg":"first"`) {
		if time.Now().After(deadline) {
			t.Fatal("the batch was never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { newLogger("json", slog.LevelInfo, b).Info("many") })
	}
	wg.Wait()
	b.Close()
	if n := strings.Count(out.String(), `"msg":"many"`); n != 50 {
		t.Fatalf("%d of 50 lines after Close", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
			t.Fatalf("a line was split or interleaved: %q", line)
		}
	}
}
