package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
)

// The operator commands work on the database directly, through the same
// package oauth operations as the admin API, so a login ends the same way
// whichever door the operator uses.

func defineClientsCreate(fs *flag.FlagSet, inv *invocation) action {
	var spec oauth.ClientSpec
	var grants, audience string
	fs.StringVar(&spec.ID, "id", "", "client id (default: generated)")
	fs.StringVar(&spec.Name, "name", "", "client name")
	fs.StringVar(&grants, "grant-types", "", "comma-separated: "+strings.Join(oauth.GrantTypes(), ", "))
	fs.StringVar(&spec.Scope, "scope", "", "space-separated scopes the client may ask for")
	fs.StringVar(&spec.AuthMethod, "auth-method", storage.AuthMethodBasic, "client_secret_basic, client_secret_post or none (public)")
	fs.BoolVar(&spec.CanIntrospect, "can-introspect", false, "allow the client to call the introspection endpoint")
	fs.BoolVar(&spec.DPoPBoundAccessTokens, "dpop-bound-access-tokens", false, "require a DPoP proof (RFC 9449) with every token request")
	fs.StringVar(&audience, "audience", "", "comma-separated resource identifiers (JWT aud)")
	return operatorAction(inv, 0, "no positional arguments (flags only)", func(ctx context.Context, p *oauth.Provider, _ []string) error {
		spec.GrantTypes = splitList(grants)
		spec.Audience = splitList(audience)
		c, secret, err := p.CreateClient(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "client_id:     %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(inv.stdout, "client_secret: %s\n(shown this once; store it now)\n", secret)
		}
		return nil
	})
}

func defineClientsList(_ *flag.FlagSet, inv *invocation) action {
	return operatorAction(inv, 0, "no arguments", func(ctx context.Context, p *oauth.Provider, _ []string) error {
		cs, err := p.Clients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tAUTH\tGRANTS\tSCOPE\tINTROSPECT\tDPOP\tCREATED")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\t%s\n", c.ID, c.AuthMethod, strings.Join(c.GrantTypes, ","),
				strings.Join(c.Scopes, " "), c.CanIntrospect, c.DPoPBoundAccessTokens, c.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func defineClientsDelete(_ *flag.FlagSet, inv *invocation) action {
	return operatorAction(inv, 1, "CLIENT_ID", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		if err := p.DeleteClient(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "deleted client %s; its tokens no longer work\n", pos[0])
		return nil
	})
}

func defineUsersCreate(_ *flag.FlagSet, inv *invocation) action {
	return operatorAction(inv, 1, "USERNAME (the password is read from standard input)", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		password, err := readPassword(ctx, inv.stdin, inv.stderr)
		if err != nil {
			return err
		}
		u, err := p.CreateUser(ctx, pos[0], password)
		if err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "created user %s (id %s)\n", u.Username, u.ID)
		return nil
	})
}

func defineUsersPasswd(_ *flag.FlagSet, inv *invocation) action {
	return withServerSecret(userAction(inv, func(ctx context.Context, p *oauth.Provider, u *storage.User) error {
		password, err := readPassword(ctx, inv.stdin, inv.stderr)
		if err != nil {
			return err
		}
		if err := p.SetPassword(ctx, u.ID, password); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "password of %s changed; every login of the user has ended, and any lockout too\n", u.Username)
		return nil
	}))
}

func defineUsersUnlock(_ *flag.FlagSet, inv *invocation) action {
	return withServerSecret(userAction(inv, func(ctx context.Context, p *oauth.Provider, u *storage.User) error {
		if err := p.UnlockUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "cleared the failed logins of %s; the user can log in again\n", u.Username)
		return nil
	}))
}

// withServerSecret makes a command use the server's very secret (with
// SQLite, the one kept beside the database) instead of a throwaway one:
// users passwd and users unlock clear a lockout, whose counter is keyed
// under it.
func withServerSecret(a action) action {
	check := a.check
	a.check = func(cfg *config, pos []string) error {
		if err := check(cfg, pos); err != nil {
			return err
		}
		return resolveSecret(cfg)
	}
	return a
}

func defineUsersDisable(_ *flag.FlagSet, inv *invocation) action {
	return userAction(inv, func(ctx context.Context, p *oauth.Provider, u *storage.User) error {
		if _, err := p.SetUserDisabled(ctx, u.ID, true); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "disabled %s; every login of the user has ended\n", u.Username)
		return nil
	})
}

func defineUsersDelete(_ *flag.FlagSet, inv *invocation) action {
	return userAction(inv, func(ctx context.Context, p *oauth.Provider, u *storage.User) error {
		if err := p.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "deleted %s; every login of the user has ended\n", u.Username)
		return nil
	})
}

func defineUsersImport(_ *flag.FlagSet, inv *invocation) action {
	a := operatorAction(inv, 0, "", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		path := "-"
		if len(pos) == 1 {
			path = pos[0]
		}
		in, done, err := openInput(inv.stdin, path)
		if err != nil {
			return err
		}
		defer done()
		n, err := p.ImportUsers(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "imported %d users; their hashes are upgraded to argon2id at their next login\n", n)
		return nil
	})
	a.check = func(_ *config, pos []string) error {
		if len(pos) > 1 {
			return wantArgs(inv.name, pos, 1, "at most one FILE (default: standard input)")
		}
		return nil
	}
	return a
}

func defineSessionsImport(_ *flag.FlagSet, inv *invocation) action {
	a := operatorAction(inv, 1, "FILE (JSON lines; - for standard input)", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		in, done, err := openInput(inv.stdin, pos[0])
		if err != nil {
			return err
		}
		defer done()
		res, err := p.ImportSessions(ctx, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "imported %d sessions; each old refresh token works once with its client, then the login goes on with Latch tokens\n", res.Imported)
		if len(res.Expired) > 0 {
			lines := make([]string, len(res.Expired))
			for i, n := range res.Expired {
				lines[i] = strconv.Itoa(n)
			}
			fmt.Fprintf(inv.stdout, "skipped %d already expired (lines %s)\n", len(res.Expired), strings.Join(lines, ", "))
		}
		return nil
	})
	return a
}

// openInput opens the file an import reads: path, or stdin for "-". done
// closes it.
func openInput(stdin io.Reader, path string) (in io.Reader, done func(), err error) {
	if path == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func defineSessionsList(_ *flag.FlagSet, inv *invocation) action {
	return userAction(inv, func(ctx context.Context, p *oauth.Provider, u *storage.User) error {
		fams, err := p.Sessions(ctx, u.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(inv.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SESSION_ID\tCLIENT_ID\tSCOPE\tCREATED\tLAST_USED\tEXPIRES")
		for _, f := range fams {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.ClientID, strings.Join(f.Scopes, " "),
				f.CreatedAt.Format(time.RFC3339), f.LastUsedAt.Format(time.RFC3339), f.ExpiresAt.Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func defineSessionsRevoke(fs *flag.FlagSet, inv *invocation) action {
	var user string
	fs.StringVar(&user, "user", "", "end every login of this user (id or username)")
	a := operatorAction(inv, 0, "", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		if user == "" {
			if err := p.RevokeSession(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "ended login %s\n", pos[0])
			return nil
		}
		u, err := findUser(ctx, p, user)
		if err != nil {
			return err
		}
		if err := p.RevokeUserSessions(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(inv.stdout, "ended every login of %s\n", u.Username)
		return nil
	})
	a.check = func(_ *config, pos []string) error {
		if user != "" {
			return wantArgs(inv.name, pos, 0, "no SESSION_ID together with --user")
		}
		return wantArgs(inv.name, pos, 1, "SESSION_ID, or --user USER")
	}
	return a
}

// operatorAction is an operator command that takes n positional
// arguments, described by what, and does do with the provider. Its errors
// become one clear line (see [cliError]).
func operatorAction(inv *invocation, n int, what string, do func(ctx context.Context, p *oauth.Provider, pos []string) error) action {
	return action{
		check: positional(inv.name, n, what),
		run: func(ctx context.Context, s *setup) error {
			ctx, p, err := s.operator(ctx)
			if err != nil {
				return err
			}
			if err := do(ctx, p, s.fs.Args()); err != nil {
				return cliError(inv.name, err)
			}
			return nil
		},
	}
}

// userAction is an operator command on one USER, a user id or a username.
func userAction(inv *invocation, do func(ctx context.Context, p *oauth.Provider, u *storage.User) error) action {
	return operatorAction(inv, 1, "USER (an id or a username)", func(ctx context.Context, p *oauth.Provider, pos []string) error {
		u, err := findUser(ctx, p, pos[0])
		if err != nil {
			return err
		}
		return do(ctx, p, u)
	})
}

// throwawaySecret returns secret, or a random one when none is configured:
// operator commands mint no tokens, so they neither demand nor create the
// server's secret.
func throwawaySecret(secret []byte) []byte {
	if secret != nil {
		return secret
	}
	secret = make([]byte, 32)
	_, _ = rand.Read(secret)
	return secret
}

// findUser takes a user id or, failing that, a username.
func findUser(ctx context.Context, p *oauth.Provider, ref string) (*storage.User, error) {
	u, err := p.User(ctx, ref)
	if oauth.ErrorCode(err) == oauth.ENotFound {
		u, err = p.UserByUsername(ctx, ref)
	}
	if oauth.ErrorCode(err) == oauth.ENotFound {
		return nil, &oauth.Error{Code: oauth.ENotFound, Message: fmt.Sprintf("no user with id or username %q", ref)}
	}
	return u, err
}

// readPassword reads a password from stdin: passwords never come from
// flags, which other users of the machine can read in the process list.
// At a terminal it prompts on stderr and reads without echo; otherwise it
// reads the first line, as from a pipe.
func readPassword(ctx context.Context, stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPassword(ctx, int(f.Fd()), stderr)
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (try: echo 'the password' | latch users ...)")
	}
	return line, nil
}

// promptPassword asks for a password on the terminal fd without echo.
func promptPassword(ctx context.Context, fd int, stderr io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Password: ")
	type result struct {
		password []byte
		err      error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(stderr) // the Enter, which the terminal did not echo
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		if len(r.password) == 0 {
			return "", errors.New("no password given")
		}
		return string(r.password), nil
	case <-ctx.Done():
		// Ctrl-C is caught (signal.NotifyContext in main) and the read
		// ends only with a line, so give up on it here, and turn the
		// echo back on before the process exits.
		_ = term.Restore(fd, state)
		fmt.Fprintln(stderr)
		return "", ctx.Err()
	}
}

// cliError turns an error into one clear line, by its code
// ([oauth.ErrorCode]). The operator is at the machine, so an outage or an
// internal error keeps its cause; a request that ended (Ctrl-C) says so.
func cliError(cmd string, err error) error {
	var e *oauth.Error
	switch code := oauth.ErrorCode(err); {
	case errors.As(err, &e) && e.Code == code:
		return fmt.Errorf("latch %s: %s", cmd, e.Message)
	case code == oauth.EAlreadyExists:
		return fmt.Errorf("latch %s: already exists", cmd)
	case code == oauth.ENotFound:
		return fmt.Errorf("latch %s: not found", cmd)
	case code == oauth.EConflict:
		return fmt.Errorf("latch %s: another change to the same data ran at the same time; try again", cmd)
	case code == oauth.EUnavailable:
		return fmt.Errorf("latch %s: the database is unavailable: %w", cmd, err)
	case code == oauth.ECanceled:
		return fmt.Errorf("latch %s: interrupted before it finished: %w", cmd, err)
	}
	return fmt.Errorf("latch %s: %w", cmd, err)
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}
