package bearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/go-jose/go-jose/v3"
	"github.com/latchhq/latch/handlers"
	"github.com/latchhq/latch/oauth"
	"github.com/latchhq/latch/oauth/bearer"
	"github.com/latchhq/latch/storage/sqlstore"
)

// This example protects a reports API with JWT access tokens from Latch.
// The API checks each token locally against Latch's published keys (found
// through its metadata), requires the scope "reports:read", and reads the
// caller from the claims. A client gets a token with client_credentials.
func Example() {
	ctx := context.Background()
	issuer, client, stop := startLatch(ctx) // a Latch with LATCH_ACCESS_TOKEN_FORMAT=jwt
	defer stop()

	// The resource server.
	verifier, err := bearer.New(bearer.Options{
		Issuer:   issuer,                    // LATCH_ISSUER
		Audience: "https://reports.example", // this API, as the client's "audience" names it
	})
	if err != nil {
		log.Fatal(err)
	}
	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := bearer.FromContext(r.Context())
		fmt.Fprintf(w, "reports for %s", claims.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /reports", verifier.Middleware(bearer.RequireScope("reports:read")(reports)))
	api := httptest.NewServer(mux)
	defer api.Close()

	// A client with a token.
	httpClient := client.Client(ctx)
	res, err := httpClient.Get(api.URL + "/reports")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.Status, string(body))

	// A caller without one.
	res, err = http.Get(api.URL + "/reports")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("WWW-Authenticate"))

	// Output:
	// 200 OK reports for reports-app
	// 401 Unauthorized Bearer
}

// This example protects the same API from DPoP-bound tokens (RFC 9449):
// the client holds a key, sends a proof with its token request, and gets a
// token only that key can use. The API needs nothing more than for bearer
// tokens: the middleware takes "Authorization: DPoP" with a proof for the
// request, and refuses the token when it is sent as a bearer token.
func Example_dPoP() {
	ctx := context.Background()
	issuer, client, stop := startLatch(ctx)
	defer stop()

	verifier, err := bearer.New(bearer.Options{Issuer: issuer, Audience: "https://reports.example"})
	if err != nil {
		log.Fatal(err)
	}
	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := bearer.FromContext(r.Context())
		fmt.Fprintf(w, "reports for %s", claims.Subject)
	})
	api := httptest.NewServer(verifier.Middleware(reports))
	defer api.Close()

	// The client's key; a browser or phone would keep it unexportable.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, client.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client.ClientID, client.ClientSecret)
	req.Header.Set(bearer.ProofHeader, exampleProof(key, http.MethodPost, client.TokenURL, ""))
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	fmt.Println("token_type", tok.TokenType)

	call := func(scheme string, proof bool) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/reports", nil)
		req.Header.Set("Authorization", scheme+" "+tok.AccessToken)
		if proof {
			req.Header.Set(bearer.ProofHeader, exampleProof(key, http.MethodGet, api.URL+"/reports", tok.AccessToken))
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(scheme, res.Status, string(body))
	}
	call("DPoP", true)
	call("Bearer", false)

	// Output:
	// token_type DPoP
	// DPoP 200 OK reports for reports-app
	// Bearer 401 Unauthorized {"error":"invalid_token","error_description":"The access token is bound to a DPoP key; present it as \"Authorization: DPoP\" with a DPoP proof."}
}

// exampleProof signs a DPoP proof (RFC 9449 §4.2) for a request; with an
// access token, its ath binds the proof to it.
func exampleProof(key *ecdsa.PrivateKey, method, target, accessToken string) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		log.Fatal(err)
	}
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": target, "iat": time.Now().Unix()}
	if accessToken != "" {
		claims["ath"] = bearer.AccessTokenHash(accessToken)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		log.Fatal(err)
	}
	proof, _ := jws.CompactSerialize()
	return proof
}

// startLatch runs Latch with JWT access tokens on a throwaway SQLite
// database and registers the client "reports-app", whose tokens are meant
// for https://reports.example.
func startLatch(ctx context.Context) (string, *clientcredentials.Config, func()) {
	dir, err := os.MkdirTemp("", "latch-example")
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	store, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "latch.db"), sqlstore.Options{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	srv := httptest.NewUnstartedServer(nil)
	p, err := oauth.NewProvider(oauth.Config{
		Issuer: "http://" + srv.Listener.Addr().String(), Secret: secret, AccessTokenFormat: oauth.FormatJWT,
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: time.Hour, SessionMaxAge: time.Hour,
		Argon2: oauth.Argon2Params{MemoryKiB: 256, Time: 1, Threads: 1},
	}, store)
	if err != nil {
		log.Fatal(err)
	}
	c, clientSecret, err := p.CreateClient(ctx, oauth.ClientSpec{
		ID: "reports-app", GrantTypes: []string{oauth.GrantClientCredentials},
		Scope: "reports:read", Audience: []string{"https://reports.example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Handler = handlers.New(logger, p, handlers.Options{})
	srv.Start()
	stop := func() {
		srv.Close()
		_ = store.Close()
		_ = os.RemoveAll(dir)
	}
	return srv.URL, &clientcredentials.Config{ClientID: c.ID, ClientSecret: clientSecret, TokenURL: srv.URL + "/oauth2/token"}, stop
}
