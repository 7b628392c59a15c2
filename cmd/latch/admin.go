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
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/storage"
)

// runAdmin runs the operator commands. They work on the database directly,
// through the same package oauth operations as the admin API, so a login
// ends the same way whichever door the operator uses.
func runAdmin(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var spec oauth.ClientSpec
	var grants, audience, user string
	var define func(*flag.FlagSet)
	switch cmd {
	case "clients create":
		define = func(fs *flag.FlagSet) {
			fs.StringVar(&spec.ID, "id", "", "client id (default: generated)")
			fs.StringVar(&spec.Name, "name", "", "client name")
			fs.StringVar(&grants, "grant-types", "", "comma-separated: password, refresh_token, client_credentials")
			fs.StringVar(&spec.Scope, "scope", "", "space-separated scopes the client may ask for")
			fs.StringVar(&spec.AuthMethod, "auth-method", storage.AuthMethodBasic, "client_secret_basic, client_secret_post or none (public)")
			fs.BoolVar(&spec.CanIntrospect, "can-introspect", false, "allow the client to call the introspection endpoint")
			fs.StringVar(&audience, "audience", "", "comma-separated resource identifiers (JWT aud)")
		}
	case "sessions revoke":
		define = func(fs *flag.FlagSet) {
			fs.StringVar(&user, "user", "", "end every login of this user (id or username)")
		}
	case "clients list", "clients delete", "users create", "users passwd", "users unlock", "users disable", "users delete", "users import", "sessions list":
		define = func(*flag.FlagSet) {}
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("latch: unknown command %q", cmd)
	}
	check := func(cfg *config, pos []string) error {
		switch cmd {
		case "clients create":
			return wantArgs(cmd, pos, 0, "no positional arguments (flags only)")
		case "clients list":
			return wantArgs(cmd, pos, 0, "no arguments")
		case "clients delete":
			return wantArgs(cmd, pos, 1, "CLIENT_ID")
		case "users create":
			return wantArgs(cmd, pos, 1, "USERNAME (the password is read from standard input)")
		case "users import":
			if len(pos) > 1 {
				return wantArgs(cmd, pos, 1, "at most one FILE (default: standard input)")
			}
			return nil
		case "sessions revoke":
			if user != "" {
				return wantArgs(cmd, pos, 0, "no SESSION_ID together with --user")
			}
			return wantArgs(cmd, pos, 1, "SESSION_ID, or --user USER")
		case "users passwd", "users unlock":
			if err := wantArgs(cmd, pos, 1, "USER (an id or a username)"); err != nil {
				return err
			}
			// Both clear the user's lockout, whose counter is keyed
			// under the server's secret: it must be the very secret
			// serve uses (with SQLite, the one kept beside the database).
			return resolveSecret(cfg)
		}
		return wantArgs(cmd, pos, 1, "USER (an id or a username)")
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
	ctx = oauth.WithRequestInfo(ctx, oauth.RequestInfo{Address: "cli", UserAgent: "latch " + cmd})
	pos := s.fs.Args() // counted by check
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()

	switch cmd {
	case "clients create":
		spec.GrantTypes = splitList(grants)
		spec.Audience = splitList(audience)
		c, secret, err := p.CreateClient(ctx, spec)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "client_id:     %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown this once; store it now)\n", secret)
		}
		return nil
	case "clients list":
		cs, err := p.Clients(ctx)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintln(tw, "CLIENT_ID\tAUTH\tGRANTS\tSCOPE\tINTROSPECT\tCREATED")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", c.ID, c.AuthMethod, strings.Join(c.GrantTypes, ","),
				strings.Join(c.Scopes, " "), c.CanIntrospect, c.CreatedAt.Format(time.RFC3339))
		}
		return nil
	case "clients delete":
		if err := p.DeleteClient(ctx, pos[0]); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "deleted client %s; its tokens no longer work\n", pos[0])
		return nil
	case "users create":
		password, err := readPassword(ctx, stdin, stderr)
		if err != nil {
			return err
		}
		u, err := p.CreateUser(ctx, pos[0], password)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "created user %s (id %s)\n", u.Username, u.ID)
		return nil
	case "users import":
		in := stdin
		if len(pos) == 1 && pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return fmt.Errorf("latch %s: %w", cmd, err)
			}
			defer f.Close()
			in = f
		}
		n, err := p.ImportUsers(ctx, in)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "imported %d users; their hashes are upgraded to argon2id at their next login\n", n)
		return nil
	case "sessions revoke":
		if user != "" {
			u, err := findUser(ctx, p, user)
			if err != nil {
				return cliError(cmd, err)
			}
			if err := p.RevokeUserSessions(ctx, u.ID); err != nil {
				return cliError(cmd, err)
			}
			fmt.Fprintf(stdout, "ended every login of %s\n", u.Username)
			return nil
		}
		if err := p.RevokeSession(ctx, pos[0]); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "ended login %s\n", pos[0])
		return nil
	}

	// The rest take one USER.
	u, err := findUser(ctx, p, pos[0])
	if err != nil {
		return cliError(cmd, err)
	}
	switch cmd {
	case "users passwd":
		password, err := readPassword(ctx, stdin, stderr)
		if err != nil {
			return err
		}
		if err := p.SetPassword(ctx, u.ID, password); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "password of %s changed; every login of the user has ended, and any lockout too\n", u.Username)
	case "users unlock":
		if err := p.UnlockUser(ctx, u.ID); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "cleared the failed logins of %s; the user can log in again\n", u.Username)
	case "users disable":
		if _, err := p.SetUserDisabled(ctx, u.ID, true); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "disabled %s; every login of the user has ended\n", u.Username)
	case "users delete":
		if err := p.DeleteUser(ctx, u.ID); err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintf(stdout, "deleted %s; every login of the user has ended\n", u.Username)
	case "sessions list":
		fams, err := p.Sessions(ctx, u.ID)
		if err != nil {
			return cliError(cmd, err)
		}
		fmt.Fprintln(tw, "SESSION_ID\tCLIENT_ID\tSCOPE\tCREATED\tLAST_USED\tEXPIRES")
		for _, f := range fams {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.ClientID, strings.Join(f.Scopes, " "),
				f.CreatedAt.Format(time.RFC3339), f.LastUsedAt.Format(time.RFC3339), f.ExpiresAt.Format(time.RFC3339))
		}
	}
	return nil
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
		return "", fmt.Errorf("latch: read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("latch: no password on standard input (try: echo 'the password' | latch users ...)")
	}
	return line, nil
}

// promptPassword asks for a password on the terminal fd without echo.
func promptPassword(ctx context.Context, fd int, stderr io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("latch: read password: %w", err)
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
			return "", fmt.Errorf("latch: read password: %w", r.err)
		}
		if len(r.password) == 0 {
			return "", errors.New("latch: no password given")
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
	}
	return fmt.Errorf("latch %s: %w", cmd, err)
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}
