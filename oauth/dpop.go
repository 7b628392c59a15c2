package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ory/fosite"

	"github.com/latchhq/latch/oauth/bearer"
	"github.com/latchhq/latch/storage"
)

// DPoP (RFC 9449): a client proves, with every token request, that it
// holds a private key, and the tokens issued are bound to that key's RFC 7638
// thumbprint (jkt). fosite v0.49 knows nothing of it, so the proof is
// checked here, before fosite sees the request, and the grants read the
// checked proof from the context.
//
// A login (family) is bound to the key of the proof that started it: its
// access tokens carry cnf.jkt, and a public client's refresh tokens need a
// proof by the same key (§5; a confidential client's refresh tokens are
// sender-constrained by its authentication already, so they stay unbound).

// DPoPHeader is the request header that carries a proof (RFC 9449 §4.1).
const DPoPHeader = bearer.ProofHeader

// TokenTypeDPoP is the token_type of a bound access token (RFC 9449 §5) and
// the authorization scheme it is presented with (§7.1).
const TokenTypeDPoP = "DPoP"

// DefaultDPoPMaxAge is how old, or how far ahead, a proof's iat may be when
// [Config.DPoPMaxAge] is zero (LATCH_DPOP_MAX_AGE).
const DefaultDPoPMaxAge = 60 * time.Second

// DPoPAlgorithms are the proof algorithms Latch accepts, the metadata's
// dpop_signing_alg_values_supported: asymmetric ones only. The proof checks
// themselves live in oauth/bearer, which resource servers use too, so that
// both ends of a token agree on what a valid proof is.
var DPoPAlgorithms = bearer.ProofAlgorithms

// ErrInvalidDPoPProof is RFC 9449 §5's invalid_dpop_proof, which fosite has
// no constant for: a token request whose proof is missing where one is
// needed, malformed, or fails a check of §4.3.
var ErrInvalidDPoPProof = &fosite.RFC6749Error{
	ErrorField:       "invalid_dpop_proof",
	DescriptionField: "The DPoP proof is missing or invalid.",
	CodeField:        http.StatusBadRequest,
}

func invalidProof(hint string) *fosite.RFC6749Error { return ErrInvalidDPoPProof.WithHint(hint) }

// dpopProof is a proof that passed every check of RFC 9449 §4.3 but the
// replay and nonce checks, which are the token endpoint's.
type dpopProof = bearer.Proof

// dpopVerifier checks proofs for one endpoint set. It holds no state: the
// replay check is the caller's (a database at the token endpoint).
type dpopVerifier struct {
	maxAge time.Duration
	now    func() time.Time
}

// verify checks the DPoP header of r per RFC 9449 §4.3 ([bearer.CheckProof]),
// for a request to the endpoint whose public URL, normalised by
// [bearer.NormalizeHTU], is htu. A request without a DPoP header gives a nil
// proof and no error. accessToken is the token presented with the proof
// (checked against ath), or empty at the token endpoint.
func (v *dpopVerifier) verify(r *http.Request, htu, accessToken string) (*dpopProof, error) {
	proof, err := bearer.CheckProof(r, bearer.ProofCheck{HTU: htu, AccessToken: accessToken, MaxAge: v.maxAge, Now: v.now()})
	var pe *bearer.ProofError
	if errors.As(err, &pe) {
		return nil, invalidProof(pe.Description)
	}
	return proof, err
}

// dpopReplayKey is the key of a proof in the replay store: its jti is
// unique per key only (RFC 9449 §11.1), and neither is stored as such.
func dpopReplayKey(p *dpopProof) string {
	sum := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	return hex.EncodeToString(sum[:])
}

type dpopProofKey struct{}

// withDPoP carries the checked proof of a token request to the grants.
func withDPoP(ctx context.Context, p *dpopProof) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, dpopProofKey{}, p)
}

// dpopFrom is the checked proof of the token request, or nil.
func dpopFrom(ctx context.Context) *dpopProof {
	p, _ := ctx.Value(dpopProofKey{}).(*dpopProof)
	return p
}

// proofJKT is the thumbprint of the request's proof, or empty: the key a
// new login is bound to.
func proofJKT(ctx context.Context) string {
	if p := dpopFrom(ctx); p != nil {
		return p.JKT
	}
	return ""
}

// tokenProof checks the DPoP proof of a token request, if any. The proof
// of a refresh is recorded as used in the rotation's transaction (see
// [Provider.useProof]), so that a refresh stays one transaction; any other
// grant's is recorded here.
func (p *Provider) tokenProof(ctx context.Context, r *http.Request, grantType string) (*dpopProof, error) {
	proof, err := p.dpop.verify(r, p.tokenHTU, "")
	if err != nil || proof == nil {
		return nil, err
	}
	if err := p.checkNonce(proof); err != nil {
		return nil, err
	}
	if grantType == GrantRefreshToken {
		return proof, nil
	}
	refused, err := p.useProof(ctx, proof)
	if err == nil {
		err = refused
	}
	return proof, err
}

// useProof records proof as used, on every node, until it is too old to be
// accepted anyway. refused is invalid_dpop_proof for a proof used before;
// err is a storage error. In a transaction, the record is the
// transaction's: a refresh that rolls back leaves its proof unused.
func (p *Provider) useProof(ctx context.Context, proof *dpopProof) (refused, err error) {
	err = p.store.UseDPoPJTI(ctx, dpopReplayKey(proof), p.now(), proof.IssuedAt.Add(p.dpop.maxAge+time.Second))
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		return invalidProof("The DPoP proof was used before; make a new one for each request."), nil
	case err != nil:
		return nil, storageError("use dpop proof", err)
	}
	return nil, nil
}

// checkRefreshBinding decides whether a refresh may go on (RFC 9449 §5).
// A login's tokens are bound to the key of the proof it started with
// (families.dpop_jkt), so a proof by any other key is refused, and so is a
// proof on a login that started without one: the new access token would
// be bound to a key the caller does not hold, or silently not bound at
// all, where API.md promises tokens bound to the proof's key. (Binding
// each access token to its own request's key would need the key per
// token.) A public client's refresh token is itself bound: refreshing it
// needs a proof by the login's key. A confidential client's is not, and
// may go without a proof. It runs in the refresh's transaction, on the
// locked family, before anything is written: a refused refresh spends
// nothing.
func checkRefreshBinding(ctx context.Context, ar fosite.AccessRequester, fam *storage.Family) error {
	proof := dpopFrom(ctx)
	switch {
	case fam.DPoPJKT == "" && proof != nil:
		return invalidProof("This login was started without DPoP, so its tokens cannot be bound to a key; start a new login with a DPoP proof.")
	case fam.DPoPJKT == "":
		return nil
	case proof == nil && ar.GetClient().IsPublic():
		return invalidProof("The refresh token is bound to a DPoP key; send a DPoP proof by that key.")
	case proof != nil && proof.JKT != fam.DPoPJKT:
		return invalidProof("The DPoP proof is signed by another key than the one this login is bound to.")
	}
	return nil
}

// dpopGate refuses, before any grant runs (and so before a password is
// checked), a token request without a proof from a client registered with
// dpop_bound_access_tokens (RFC 9449 §5.2). It handles no grant itself.
type dpopGate struct{}

var _ fosite.TokenEndpointHandler = dpopGate{}

func (dpopGate) CanHandleTokenEndpointRequest(context.Context, fosite.AccessRequester) bool {
	return true
}

func (dpopGate) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (dpopGate) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if fc, ok := ar.GetClient().(fositeClient); ok && fc.c.DPoPBoundAccessTokens && dpopFrom(ctx) == nil {
		return invalidProof("This client must send a DPoP proof with every token request.")
	}
	// Not handled: fosite goes on to the grant's own handler.
	return fosite.ErrUnknownRequest
}

func (dpopGate) PopulateTokenEndpointResponse(context.Context, fosite.AccessRequester, fosite.AccessResponder) error {
	return fosite.ErrUnknownRequest
}

// Confirmation is the cnf claim of a bound token (RFC 7800, RFC 9449 §6).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// confirmation is the cnf of a login's access tokens, nil when unbound.
func confirmation(fam *storage.Family) *Confirmation {
	if fam.DPoPJKT == "" {
		return nil
	}
	return &Confirmation{JKT: fam.DPoPJKT}
}

// newDPoPVerifier returns the token endpoint's verifier and its htu.
func newDPoPVerifier(issuer string, maxAge time.Duration, now func() time.Time) (*dpopVerifier, string, error) {
	if maxAge < 0 {
		return nil, "", errors.New("oauth: dpop max age must not be negative")
	}
	if maxAge == 0 {
		maxAge = DefaultDPoPMaxAge
	}
	htu, ok := bearer.NormalizeHTU(issuer + "/oauth2/token")
	if !ok {
		return nil, "", fmt.Errorf("oauth: issuer %q is not an http or https URL", issuer)
	}
	return &dpopVerifier{maxAge: maxAge, now: now}, htu, nil
}
