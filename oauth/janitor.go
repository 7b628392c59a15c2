package oauth

import (
	"context"
	"time"

	"github.com/latchhq/latch/storage"
)

// purgeBatch bounds each delete so the janitor never holds locks (or, on
// SQLite, the one connection) for long.
const purgeBatch = 500

// Purge deletes what can no longer be used — expired access tokens, tokens
// of ended logins, ended logins — and wipes sealed grace responses whose
// window has closed, batch by batch until nothing is left. Spent refresh
// tokens of live logins stay: they catch reuse.
func (p *Provider) Purge(ctx context.Context) (storage.PurgeCounts, error) {
	var total storage.PurgeCounts
	for {
		now := p.now()
		n, err := p.store.Purge(ctx, now, now.Add(-p.cfg.RefreshGrace), purgeBatch)
		total.Tokens += n.Tokens
		total.Families += n.Families
		total.Replays += n.Replays
		p.metrics.purged.WithLabelValues("tokens").Add(float64(n.Tokens))
		p.metrics.purged.WithLabelValues("families").Add(float64(n.Families))
		p.metrics.purged.WithLabelValues("replays").Add(float64(n.Replays))
		if err != nil {
			return total, err
		}
		if n.Tokens < purgeBatch && n.Families < purgeBatch && n.Replays < purgeBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// RunJanitor purges every interval until ctx ends. Errors are logged, not
// fatal: a database outage only delays the cleanup.
func (p *Provider) RunJanitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := p.Purge(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.WarnContext(ctx, "janitor failed", "err", err)
			continue
		}
		if n.Tokens+n.Families+n.Replays > 0 {
			p.log.InfoContext(ctx, "janitor purged", "tokens", n.Tokens, "families", n.Families, "replays", n.Replays)
		}
	}
}
