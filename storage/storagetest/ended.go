package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
)

// testEndedContext: a call whose context has ended (its client hung up, or
// its deadline passed) returns the context's error, not ErrUnavailable. A
// caller answers an outage with 503 and a warning; the end of a request is
// no outage.
func testEndedContext(ctx context.Context, t *testing.T, s storage.Store) {
	mustOK(t, "CreateClient", s.CreateClient(ctx, newClient("c1")))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"past its deadline", expired, context.DeadlineExceeded},
	} {
		calls := []struct {
			op string
			do func(ctx context.Context) error
		}{
			{"GetClient", func(ctx context.Context) error { _, err := s.GetClient(ctx, "c1"); return err }},
			{"CreateClient", func(ctx context.Context) error { return s.CreateClient(ctx, newClient("c2")) }},
			{"ReserveAttempt", func(ctx context.Context) error {
				_, err := s.ReserveAttempt(ctx, "k", at(0), time.Minute)
				return err
			}},
			{"CountAttempts", func(ctx context.Context) error { _, err := s.CountAttempts(ctx, at(0), "k"); return err }},
			{"InTx", func(ctx context.Context) error {
				return s.InTx(ctx, func(ctx context.Context) error { _, err := s.GetClient(ctx, "c1"); return err })
			}},
		}
		for _, call := range calls {
			err := call.do(c.ctx)
			if !errors.Is(err, c.want) || errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("%s with a context %s = %v, want %v and not %v", call.op, c.name, err, c.want, storage.ErrUnavailable)
			}
		}
	}
}
