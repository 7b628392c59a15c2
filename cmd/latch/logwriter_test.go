package main

import (
	"errors"
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

// failingWriter fails its first fails writes, then writes to out.
type failingWriter struct {
	fails int
	out   strings.Builder
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.fails > 0 {
		f.fails--
		return 0, errors.New("write failed")
	}
	return f.out.Write(p)
}

// TestBatchWriterRecovers checks that one failed write loses its batch and
// no more: bufio's errors are sticky, and once kept the whole log after
// them was lost.
func TestBatchWriterRecovers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40<<10) + "\n" // two fill the 64 KiB buffer
	tests := []struct {
		name  string
		write func(b *batchWriter)
		want  string
	}{
		{"failed flush", func(b *batchWriter) {
			_, _ = b.Write([]byte("lost\n"))
			b.flush() // fails
			_, _ = b.Write([]byte("kept\n"))
		}, "kept\n"},
		{"failed write of a full buffer", func(b *batchWriter) {
			_, _ = b.Write([]byte("lost " + long))
			if _, err := b.Write([]byte("kept " + long)); err != nil {
				t.Errorf("Write after the failed batch: %v", err)
			}
		}, "kept " + long},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &failingWriter{fails: 1}
			b := newBatchWriter(w, time.Hour) // flushed by hand and by Close
			tc.write(b)
			b.Close()
			if got := w.out.String(); got != tc.want {
				t.Errorf("written %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), tc.want, len(tc.want))
			}
		})
	}
}
