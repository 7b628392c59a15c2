package handlers_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser finds a Chromium-family browser. Without one the browser tests
// skip, unless LATCH_TEST_BROWSER=required (as .ci/run sets it, after
// installing Debian's chromium), when they fail.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("LATCH_TEST_BROWSER") == "required" {
		t.Fatal("LATCH_TEST_BROWSER=required, but no chromium or google-chrome is on PATH")
	}
	t.Skip("no chromium or google-chrome on PATH (LATCH_TEST_BROWSER=required makes this a failure)")
	return ""
}

// pageErrors collects the uncaught script errors of a page.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) listen(ev any) {
	if e, ok := ev.(*runtime.EventExceptionThrown); ok {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.errs = append(p.errs, e.ExceptionDetails.Text)
	}
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// newBrowser starts a headless browser for the test and returns a tab's
// context and the script errors seen on it.
func newBrowser(t *testing.T) (context.Context, *pageErrors) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser(t)),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	errs := &pageErrors{}
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithListener(errs.listen))
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	return ctx, errs
}

// TestConsoleInBrowser drives the operator console in a real browser: a
// wrong token is refused, the right one lists the clients, a user's
// sessions are found and one is ended through the admin API, and a stored
// value that looks like markup is shown as text, never run.
func TestConsoleInBrowser(t *testing.T) {
	ctx, pageErrs := newBrowser(t)
	s := newTestServer(t)
	app := s.newPasswordClient(t, "web-app", "client_secret_basic")
	s.createClient(t, map[string]any{
		"client_id": "rs-api", "grant_types": []string{"client_credentials"}, "scope": "read",
	})
	s.createUser(t, "alice", "correct horse battery")
	login := s.login(t, app, "alice", "correct horse battery", "read")

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/admin/ui/"),
		chromedp.WaitVisible(chromedp.CSS("#token-form")),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if err != nil {
		t.Fatalf("wrong token: %v", err)
	}
	if msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-error"))); err != nil || msg == "" {
		t.Fatalf("a wrong token showed no error (%q, %v)", msg, err)
	}

	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#token"), testAdminToken),
		chromedp.Click(chromedp.CSS("#token-form button")),
		chromedp.WaitVisible(chromedp.CSS("#console")),
		chromedp.WaitVisible(chromedp.Search(`//table[@id="clients"]//td[text()="web-app"]`)),
	)
	if err != nil {
		t.Fatalf("right token: %v", err)
	}
	clients, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#clients")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web-app", "rs-api", "password refresh_token", "client_credentials"} {
		if !strings.Contains(clients, want) {
			t.Errorf("clients table lacks %q:\n%s", want, clients)
		}
	}

	// A username that is markup: shown as text, and no element is made.
	markup := `<img src=x onerror="document.title='owned'">`
	s.createUser(t, markup, "another long password")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#username"), markup),
		chromedp.Click(chromedp.CSS("#user-form button")),
		chromedp.WaitVisible(chromedp.CSS("#user")),
	)
	if err != nil {
		t.Fatalf("find the markup user: %v", err)
	}
	line, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#user-line")))
	if err != nil || !strings.Contains(line, markup) {
		t.Fatalf("user line %q (%v), want the username as text", line, err)
	}
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#user img").length`))
	if err != nil || imgs != 0 {
		t.Fatalf("%d img elements under #user (%v): a username became markup", imgs, err)
	}

	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#username"), "alice"),
		chromedp.Click(chromedp.CSS("#user-form button")),
		chromedp.WaitVisible(chromedp.Search(`//table[@id="sessions"]//td[text()="web-app"]`)),
	)
	if err != nil {
		t.Fatalf("find alice: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//table[@id="sessions"]//button[text()="End"]`)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#sessions tbody tr").length === 0`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("end the session: %v", err)
	}
	s.wantInactive(t, "the refresh token of a session ended in the console", login.Refresh)

	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title == "owned" {
		t.Fatalf("page title %q (%v): stored markup ran", title, err)
	}
	if errs := pageErrs.list(); len(errs) > 0 {
		t.Fatalf("uncaught script errors on the console: %q", errs)
	}
}
