package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/latchhq/latch/oauth"
)

// runKeys runs "latch keys list|rotate": the JWT signing keys. A rotation
// takes effect on every node within seconds (each node rereads the keys);
// the retired keys stay published until every token they signed has
// expired, and the janitor deletes them after that.
func runKeys(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var alg string
	var define func(*flag.FlagSet)
	var needSecret bool
	switch cmd {
	case "keys list":
		define = func(*flag.FlagSet) {}
	case "keys rotate":
		define = func(fs *flag.FlagSet) {
			fs.StringVar(&alg, "algorithm", oauth.AlgES256, "signing algorithm of the new key: ES256 or RS256")
		}
		// The new private key is sealed under the server's secret, so it
		// must be the very secret serve uses (with SQLite, the one kept
		// beside the database).
		needSecret = true
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("latch: unknown command %q", cmd)
	}
	check := func(cfg *config, pos []string) error {
		if err := wantArgs(cmd, pos, 0, "no positional arguments (flags only)"); err != nil {
			return err
		}
		if needSecret {
			return resolveSecret(cfg)
		}
		return nil
	}
	s, err := open(ctx, "latch "+cmd, args, getenv, stderr, stderr, define, check)
	if err != nil {
		return err
	}
	defer s.store.Close()
	s.cfg.secret = throwawaySecret(s.cfg.secret)
	p, err := s.provider(nil)
	if err != nil {
		return err
	}
	switch cmd {
	case "keys rotate":
		k, err := p.RotateSigningKey(ctx, alg)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "new signing key %s (%s); the previous keys stay published for %s\n",
			k.ID, k.Algorithm, s.cfg.accessTokenTTL+time.Minute)
	case "keys list":
		keys, err := p.SigningKeys(ctx)
		if err != nil {
			return cliError(cmd, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		defer tw.Flush()
		fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED\tPUBLISH_UNTIL")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339),
				timeOrDash(k.RetiredAt), timeOrDash(k.PublishUntil))
		}
	}
	return nil
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
