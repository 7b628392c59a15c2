package sqlstore_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/latchhq/latch/storage"
	"github.com/latchhq/latch/storage/sqlstore"
)

// The hot statements of the store, one method call each, without HTTP or
// fosite around them: what a grant, a refresh, an introspection and a
// revocation cost the store in time and allocations. They run on SQLite in
// a temp dir, and on PostgreSQL as well when LATCH_TEST_DATABASE_URL is set
// (sub-benchmarks "sqlite" and "postgres"). Each statement's SQL text is
// built once at Open; these catch a change that builds, reflects or
// allocates per call instead.

// benchStores runs fn on a fresh store of each available database, with
// a client stored.
func benchStores(b *testing.B, fn func(b *testing.B, s *sqlstore.Store, c *storage.Client)) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			s := db.new(b)
			fn(b, s, benchClient(b, s))
		})
	}
}

// benchClient stores a confidential client and returns it.
func benchClient(b *testing.B, s *sqlstore.Store) *storage.Client {
	c := &storage.Client{
		ID: "bench-client", Name: "Bench", SecretHash: "hash", GrantTypes: []string{"refresh_token", "password"},
		Scopes: []string{"read", "write"}, AuthMethod: storage.AuthMethodBasic, CanIntrospect: true,
		Audience: []string{"api"}, CreatedAt: time.Now(),
	}
	if err := s.CreateClient(b.Context(), c); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchLogin is what a password grant writes: a family, an access token and
// a refresh token (keys are random, so that each call stores new rows).
func benchLogin(c *storage.Client, now time.Time) (*storage.Family, *storage.Token, *storage.Token) {
	f := &storage.Family{
		ID: rand.Text(), ClientID: c.ID, ClientGeneration: c.Generation, UserID: "u1", Username: "alice",
		Scopes: []string{"read", "write"}, Audience: []string{"api"}, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(720 * time.Hour),
	}
	at := &storage.Token{Key: rand.Text(), Kind: storage.KindAccess, FamilyID: f.ID, ClientID: c.ID,
		Scopes: f.Scopes, IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	rt := &storage.Token{Key: rand.Text(), Kind: storage.KindRefresh, FamilyID: f.ID, ClientID: c.ID,
		Scopes: f.Scopes, IssuedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
	return f, at, rt
}

// mustLogin stores a login and returns it.
func mustLogin(b *testing.B, s *sqlstore.Store, c *storage.Client) (*storage.Family, *storage.Token, *storage.Token) {
	f, at, rt := benchLogin(c, time.Now())
	if err := s.CreateFamily(b.Context(), f, at, rt); err != nil {
		b.Fatal(err)
	}
	return f, at, rt
}

// BenchmarkGetClient: the read every authenticated request starts with.
func BenchmarkGetClient(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetClient(b.Context(), c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateFamily: a grant that starts a login (family, access and
// refresh token).
func BenchmarkCreateFamily(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			f, at, rt := benchLogin(c, now)
			if err := s.CreateFamily(b.Context(), f, at, rt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetTokenFamily: the token and family join of a refresh and of
// introspection.
func BenchmarkGetTokenFamily(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		_, _, rt := mustLogin(b, s, c)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.GetTokenFamily(b.Context(), rt.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupClientToken: introspection's read of the caller and the
// token (one left join on PostgreSQL).
func BenchmarkLookupClientToken(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		_, at, _ := mustLogin(b, s, c)
		b.ReportAllocs()
		for b.Loop() {
			if _, tok, _, err := s.LookupClientToken(b.Context(), c.ID, at.Key); err != nil || tok == nil {
				b.Fatal(tok, err)
			}
		}
	})
}

// BenchmarkRotate: a refresh's writes, each call spending the refresh token
// the previous one issued.
func BenchmarkRotate(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		f, _, rt := mustLogin(b, s, c)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			_, at, next := benchLogin(c, now)
			at.FamilyID, next.FamilyID, next.ParentKey = f.ID, f.ID, rt.Key
			err := s.Rotate(b.Context(), storage.Rotation{
				SpentKey: rt.Key, SpentAt: now, Replay: []byte("replay"), FamilyID: f.ID,
				Issued: []*storage.Token{at, next},
				Event:  &storage.Event{Type: "refresh", FamilyID: f.ID, ClientID: c.ID, UserID: f.UserID, CreatedAt: now},
			})
			if err != nil {
				b.Fatal(err)
			}
			rt = next
		}
	})
}

// BenchmarkRevokeByToken: an RFC 7009 revocation that ends a login. The
// login it ends is stored with the timer stopped.
func BenchmarkRevokeByToken(b *testing.B) {
	benchStores(b, func(b *testing.B, s *sqlstore.Store, c *storage.Client) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			_, _, rt := mustLogin(b, s, c)
			b.StartTimer()
			now := time.Now()
			_, _, revoked, err := s.RevokeByToken(b.Context(), storage.Revocation{
				Key: rt.Key, ClientID: c.ID, At: now, Reason: "revoked",
				Events: []*storage.Event{{Type: "revoke", ClientID: c.ID, Reason: "revoked", CreatedAt: now}},
			})
			if err != nil || !revoked {
				b.Fatal(revoked, err)
			}
		}
	})
}
