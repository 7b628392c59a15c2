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
// of ended logins, ended logins, status lists of expired tokens — and wipes sealed grace responses whose
// window has closed, batch by batch until nothing is left. Spent refresh
// tokens of live logins stay: they catch reuse. Audit events older than
// Config.EventRetention go too, in the same batches.
func (p *Provider) Purge(ctx context.Context) (storage.PurgeCounts, error) {
	var total storage.PurgeCounts
	for {
		now := p.now()
		n, err := p.store.Purge(ctx, now, now.Add(-p.cfg.RefreshGrace), purgeBatch)
		if err == nil {
			n.DPoPJTIs, err = p.store.PurgeDPoPJTIs(ctx, now, purgeBatch)
		}
		if err == nil && p.cfg.EventRetention > 0 {
			n.Events, err = p.store.PurgeEvents(ctx, now.Add(-p.cfg.EventRetention), purgeBatch)
		}
		full := false
		for _, c := range []struct {
			kind  string
			n     int64
			total *int64
		}{
			{"tokens", n.Tokens, &total.Tokens},
			{"families", n.Families, &total.Families},
			{"replays", n.Replays, &total.Replays},
			{"attempts", n.Attempts, &total.Attempts},
			{"denylist", n.Denied, &total.Denied},
			{"keys", n.Keys, &total.Keys},
			{"dpop_jtis", n.DPoPJTIs, &total.DPoPJTIs},
			{"status_lists", n.StatusLists, &total.StatusLists},
			{"events", n.Events, &total.Events},
		} {
			*c.total += c.n
			p.metrics.purged.WithLabelValues(c.kind).Add(float64(c.n))
			full = full || c.n >= purgeBatch
		}
		if err != nil || !full {
			return total, err
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
		if n != (storage.PurgeCounts{}) {
			p.log.InfoContext(ctx, "janitor purged", "tokens", n.Tokens, "families", n.Families, "replays", n.Replays,
				"attempts", n.Attempts, "denylist", n.Denied, "keys", n.Keys, "dpop_jtis", n.DPoPJTIs, "status_lists", n.StatusLists,
				"events", n.Events)
		}
	}
}
