package bearer_test

import (
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/latchhq/latch/oauth/bearer"
)

// This example configures a resource server for Latch's JWT access tokens
// with status lists (LATCH_ACCESS_TOKEN_FORMAT=jwt): every token is checked
// offline, and a revoked one is refused within LATCH_STATUS_LIST_TTL plus
// one fetch of its list. If Latch cannot be reached for 30s, tokens whose
// list is that old are answered 503 rather than trusted; tokens without a
// status claim are refused. Opaque tokens, if any, are introspected, and
// the answers are kept for at most 5s, which is then as late as such a
// token's revocation can be seen.
func ExampleOptions() {
	verifier, err := bearer.New(bearer.Options{
		Issuer:                 "https://login.example",
		Audience:               "https://api.example",
		StatusListMaxStaleness: 30 * time.Second,
		RequireStatusList:      true,
		ClientID:               "api", // a client with "can_introspect": true
		ClientSecret:           "api-secret",
		IntrospectionCacheTTL:  5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("GET /orders", verifier.Middleware(bearer.RequireScope("orders:read")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			claims, _ := bearer.FromContext(r.Context())
			log.Printf("orders for user %s, login %s", claims.Subject, claims.SessionID)
		}))))
}

// Verify tells a revoked or forged token (ErrInvalidToken: answer 401)
// from one that cannot be checked now (ErrUnavailable: answer 503, as the
// middleware does), for servers that are not net/http.
func ExampleVerifier_Verify() {
	verifier, err := bearer.New(bearer.Options{Issuer: "https://login.example", Audience: "https://api.example"})
	if err != nil {
		log.Fatal(err)
	}
	handle := func(r *http.Request) int {
		token, ok := bearer.Token(r)
		if !ok {
			return http.StatusUnauthorized
		}
		_, err := verifier.Verify(r.Context(), token)
		switch {
		case errors.Is(err, bearer.ErrUnavailable):
			return http.StatusServiceUnavailable
		case err != nil:
			return http.StatusUnauthorized
		}
		return http.StatusOK
	}
	_ = handle
}
