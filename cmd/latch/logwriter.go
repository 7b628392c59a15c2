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
	w    io.Writer
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBatchWriter(w io.Writer, interval time.Duration) *batchWriter {
	b := &batchWriter{w: w, buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
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
	n, err := b.buf.Write(p)
	if err != nil {
		// A full buffer was written out and that failed: the batch is
		// lost, p is not.
		b.reset()
		n, err = b.buf.Write(p)
	}
	return n, err
}

func (b *batchWriter) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.buf.Flush(); err != nil {
		b.reset()
	}
}

// reset drops the buffered lines after a failed write. A bufio.Writer
// keeps its first error and fails every write after it, so without this a
// single failure (stderr's pipe full or its reader restarting, a disk full
// for a moment) would silence the log for the rest of the process; with
// it, that failure costs one batch.
func (b *batchWriter) reset() {
	b.buf.Reset(b.w)
}

// Close writes out what is buffered and stops the flusher.
func (b *batchWriter) Close() {
	close(b.stop)
	<-b.done
}
