package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// batchWriter collects log lines and writes them out together, every
// interval or when its buffer fills. A busy server logs a line per request
// and per audit event; written one by one they cost a write system call
// each, which a CPU profile under load showed as a large share of a
// request. At most one interval of lines is lost if the process dies; the
// audit trail is also in the database.
type batchWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBatchWriter(w io.Writer, interval time.Duration) *batchWriter {
	b := &batchWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.flush()
			case <-b.stop:
				b.flush()
				return
			}
		}
	}()
	return b
}

// Write buffers p; slog handlers write one whole line per call, so lines
// are never split between batches.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *batchWriter) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.buf.Flush()
}

// Close writes out what is buffered and stops the flusher.
func (b *batchWriter) Close() {
	close(b.stop)
	<-b.done
}
