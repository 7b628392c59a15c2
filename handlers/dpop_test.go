package handlers_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestDPoPAdminAndMetadata: dpop_bound_access_tokens round-trips through
// the admin API, and the metadata lists the proof algorithms, none of them
// symmetric.
func TestDPoPAdminAndMetadata(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	res := s.adminDo(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id": "spa", "grant_types": []string{"password"}, "token_endpoint_auth_method": "none",
		"dpop_bound_access_tokens": true,
	})
	if res.status != http.StatusCreated || res.object(t)["dpop_bound_access_tokens"] != true {
		t.Fatalf("create: %s", res)
	}
	if got := s.adminDo(t, http.MethodGet, "/admin/clients/spa", nil).object(t)["dpop_bound_access_tokens"]; got != true {
		t.Fatalf("stored dpop_bound_access_tokens = %v", got)
	}
	var algs []string
	for _, a := range asSlice(s.get(t, "/.well-known/oauth-authorization-server").object(t)["dpop_signing_alg_values_supported"]) {
		algs = append(algs, str(a))
	}
	for _, want := range []string{"ES256", "EdDSA", "Ed25519", "RS256", "PS256"} {
		if !slices.Contains(algs, want) {
			t.Errorf("dpop_signing_alg_values_supported = %v, lacks %s", algs, want)
		}
	}
	if slices.Contains(algs, "none") || slices.Contains(algs, "HS256") {
		t.Errorf("dpop_signing_alg_values_supported = %v", algs)
	}
}
