package oauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestImportUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	bob, err := bcrypt.GenerateFromPassword([]byte("bob's password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := hashArgon2id("carol's password", argon2Params{memory: 64, time: 1, threads: 1, keyLen: 32})
	if err != nil {
		t.Fatal(err)
	}

	bad := fmt.Sprintf(`{"username":"bob","password_hash":%q}
not json
{"username":"dave","password_hash":"md5$abc"}

{"username":"bob","password_hash":%q}
{"username":"alice","password_hash":%q}
{"username":"erin","password_hash":"$2a$10$short"}
`, bob, carol, carol)
	n, err := f.p.ImportUsers(ctx, strings.NewReader(bad))
	if ErrorCode(err) != EInvalid || n != 0 {
		t.Fatalf("ImportUsers(bad) = %d, %v; want 0 and code EInvalid", n, err)
	}
	for _, want := range []string{"line 2:", "line 3: password_hash", "line 5: username", "line 7: password_hash"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := f.store.GetUserByUsername(ctx, "bob"); err == nil {
		t.Fatal("a bad import left bob behind")
	}

	// alice exists already: reported, and nothing else imported.
	taken := fmt.Sprintf("{\"username\":\"bob\",\"password_hash\":%q}\n{\"username\":\"alice\",\"password_hash\":%q}\n", bob, carol)
	if _, err := f.p.ImportUsers(ctx, strings.NewReader(taken)); err == nil || !strings.Contains(err.Error(), "line 2: username") {
		t.Fatalf("import over an existing user: %v", err)
	}
	if _, err := f.store.GetUserByUsername(ctx, "bob"); err == nil {
		t.Fatal("an import that failed on line 2 left line 1 behind")
	}

	good := fmt.Sprintf("{\"username\":\"bob\",\"password_hash\":%q}\n{\"username\":\"carol\",\"password_hash\":%q}\n", bob, carol)
	if n, err := f.p.ImportUsers(ctx, strings.NewReader(good)); err != nil || n != 2 {
		t.Fatalf("ImportUsers(good) = %d, %v", n, err)
	}
	for user, pw := range map[string]string{"bob": "bob's password", "carol": "carol's password"} {
		if r := f.password(t, ctx, user, pw); r.status != http.StatusOK {
			t.Fatalf("%s cannot log in with the imported hash: %d %q", user, r.status, r.Error)
		}
		u, err := f.store.GetUserByUsername(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if needsRehash(u.PasswordHash, f.p.pw.params) {
			t.Fatalf("%s's imported hash was not upgraded at login", user)
		}
	}
}
