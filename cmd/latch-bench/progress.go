package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 250 * time.Millisecond

// progress draws one self-overwriting line on a terminal while a phase runs.
// For a timed phase it shows elapsed/total and the current request rate; for
// a counted phase (pool generation) done/total.
type progress struct {
	w     io.Writer
	label string
	count *atomic.Int64
	// total is the duration of a timed phase; zero for a counted one.
	total time.Duration
	// of is the target count of a counted phase.
	of int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts redrawing; on == false (stderr is no terminal) gives a
// progress that draws nothing. Call done to erase the line.
func startProgress(on bool, w io.Writer, label string, count *atomic.Int64, total time.Duration, of int64) *progress {
	p := &progress{w: w, label: label, count: count, total: total, of: of, stop: make(chan struct{})}
	if !on {
		return p
	}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer p.wg.Done()
	start := time.Now()
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	last, lastAt := int64(0), start
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case now := <-t.C:
			n := p.count.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			elapsed := now.Sub(start)
			var frac float64
			var text string
			if p.total > 0 {
				frac = elapsed.Seconds() / p.total.Seconds()
				text = fmt.Sprintf("%5.1fs/%s  %7.0f req/s", elapsed.Seconds(), p.total, rate)
			} else {
				frac = float64(n) / float64(max(p.of, 1))
				text = fmt.Sprintf("%d/%d  %7.0f req/s", n, p.of, rate)
			}
			fmt.Fprintf(p.w, "\r%-28s %s %s\x1b[K", p.label, bar(frac, 30), text)
		}
	}
}

func (p *progress) done() {
	close(p.stop)
	p.wg.Wait()
}

// bar draws frac (clamped to [0, 1]) as [=====>    ] of the given width.
func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	full := int(frac * float64(width))
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", full))
	if full < width {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-full-1))
	}
	b.WriteByte(']')
	return b.String()
}
