package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The grace replay (DESIGN.md "One refresh, exactly once"): when a refresh
// token is spent, the response of its rotation is kept, sealed with AES-GCM
// under a key derived from the spent token itself. A client that retries
// within LATCH_REFRESH_GRACE (a lost response, two tabs refreshing at once)
// gets the very same tokens instead of being taken for a thief. Only a
// holder of the spent token can open the sealed response, so the database
// still holds nothing usable; the janitor wipes it when the window closes.

type sealedResponse struct {
	Access    string   `json:"a"`
	AccessExp int64    `json:"e"`
	Refresh   string   `json:"r"`
	Scopes    []string `json:"s"`
}

func replayAEAD(presented string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(presented), nil, "latch refresh replay v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealReplay seals the response to a rotation of the presented token. The
// token's storage key is bound as additional data, so a sealed response
// cannot be moved to another row.
func sealReplay(presented, key string, m minted, scopes []string) ([]byte, error) {
	aead, err := replayAEAD(presented)
	if err != nil {
		return nil, fmt.Errorf("oauth: seal replay: %w", err)
	}
	plain, err := json.Marshal(sealedResponse{Access: m.access, AccessExp: m.accessExp.UnixMicro(), Refresh: m.refresh, Scopes: scopes})
	if err != nil {
		return nil, fmt.Errorf("oauth: seal replay: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, []byte(key)), nil
}

// openReplay opens what sealReplay sealed; it fails for any other token.
func openReplay(presented, key string, sealed []byte) (minted, []string, error) {
	aead, err := replayAEAD(presented)
	if err != nil {
		return minted{}, nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return minted{}, nil, errors.New("oauth: sealed replay too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(key))
	if err != nil {
		return minted{}, nil, fmt.Errorf("oauth: open replay: %w", err)
	}
	var s sealedResponse
	if err := json.Unmarshal(plain, &s); err != nil {
		return minted{}, nil, fmt.Errorf("oauth: open replay: %w", err)
	}
	return minted{access: s.Access, accessExp: time.UnixMicro(s.AccessExp).UTC(), refresh: s.Refresh}, s.Scopes, nil
}
