package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/latchhq/latch/oauth"
)

// The keys commands manage the JWT signing keys. A rotation takes effect on
// every node within seconds (each node rereads the keys); the retired keys
// stay published until every token they signed has expired, and the
// janitor deletes them after that.

func defineKeysList(_ *flag.FlagSet, inv *invocation) action {
	return operatorAction(inv, 0, "no positional arguments (flags only)", func(ctx context.Context, p *oauth.Provider, _ []string) error {
		keys, err := p.SigningKeys(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED\tPUBLISH_UNTIL")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339),
				timeOrDash(k.RetiredAt), timeOrDash(k.PublishUntil))
		}
		return tw.Flush()
	})
}

func defineKeysRotate(fs *flag.FlagSet, inv *invocation) action {
	var alg string
	var ttl time.Duration
	fs.StringVar(&alg, "algorithm", oauth.AlgES256, "signing algorithm of the new key: ES256 or RS256")
	a := operatorAction(inv, 0, "no positional arguments (flags only)", func(ctx context.Context, p *oauth.Provider, _ []string) error {
		k, err := p.RotateSigningKey(ctx, alg)
		if err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "new signing key %s (%s); the previous keys stay published for %s\n",
			k.ID, k.Algorithm, ttl+time.Minute)
		return nil
	})
	check := a.check
	a.check = func(cfg *config, pos []string) error {
		if err := check(cfg, pos); err != nil {
			return err
		}
		ttl = cfg.accessTokenTTL
		// The new private key is sealed under the server's secret, so it
		// must be the very secret serve uses (with SQLite, the one kept
		// beside the database).
		return resolveSecret(cfg)
	}
	return a
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
