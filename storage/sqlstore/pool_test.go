package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
	"github.com/latchhq/latch/storage/sqlstore/sqlstoretest"
)

// TestPoolAfterServerEndsConnections checks what a PostgreSQL restart (or a
// failover) costs: the server ends every connection, and the pool must not
// hand the dead ones out one request after another. pg_terminate_backend
// ends them here as a fast shutdown does (SQLSTATE 57P01), without
// restarting the shared server. At most one call may fail: the one that
// found out.
func TestPoolAfterServerEndsConnections(t *testing.T) {
	s, app := mustOpenNamed(t) // skips without LATCH_TEST_DATABASE_URL
	ctx := t.Context()

	// Open several connections at once: each transaction holds one until
	// all have begun.
	const conns = 6
	var begun, release sync.WaitGroup
	begun.Add(conns)
	release.Add(1)
	errs := make(chan error, conns)
	for range conns {
		go func() {
			errs <- s.InTx(ctx, func(ctx context.Context) error {
				begun.Done()
				release.Wait()
				_, err := s.GetClient(ctx, "nosuch")
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return err
			})
		}()
	}
	begun.Wait()
	release.Done()
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	if ended := terminateBackends(t, app); ended < conns {
		t.Fatalf("ended %d connections, want the pool's %d", ended, conns)
	}
	time.Sleep(100 * time.Millisecond) // the server's messages arrive

	failed := 0
	for range conns {
		if _, err := s.GetClient(ctx, "nosuch"); !errors.Is(err, storage.ErrNotFound) {
			failed++
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("GetClient on an ended connection = %v, want ErrUnavailable", err)
			}
		}
	}
	if failed > 1 {
		t.Errorf("%d of %d calls after the server ended the connections failed, want at most 1: the pool handed out dead connections", failed, conns)
	}
}

// TestOpenSilentServer checks that connecting to a server that accepts the
// connection and then says nothing (a frozen or overloaded PostgreSQL, a
// black-holing firewall) fails within the default connect timeout, whatever
// the caller's context: requests must answer 503 soon, not pile up.
func TestOpenSilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = sqlstore.Open(ctx, "postgres://postgres@"+ln.Addr().String()+"/test?sslmode=disable", sqlstore.Options{})
	took := time.Since(start)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open(silent server) = %v, want ErrUnavailable", err)
	}
	if took > 15*time.Second {
		t.Errorf("Open(silent server) took %.1fs, want the connect timeout (5s), not the caller's deadline", took.Seconds())
	}
}

// mustOpenNamed opens a fresh, migrated PostgreSQL store whose connections
// carry a unique application_name, which it returns, so that a test can end
// them (see terminateBackends). It skips without LATCH_TEST_DATABASE_URL.
func mustOpenNamed(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	u, err := url.Parse(sqlstoretest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("latch_test_%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := sqlstore.Open(t.Context(), u.String(), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, app
}

// terminateBackends ends every server connection named app, as a fast
// shutdown does (57P01), and returns how many it ended.
func terminateBackends(t *testing.T, app string) int {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, os.Getenv(sqlstoretest.EnvDatabaseURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var ended int
	if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	return ended
}
