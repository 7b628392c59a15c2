package argon2id

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestIDKeyMatchesXCrypto compares IDKey with x/crypto's over a table of
// costs: hashes stored by Latch before this package must keep verifying.
func TestIDKeyMatchesXCrypto(t *testing.T) {
	t.Parallel()
	inputs := []struct {
		name           string
		password, salt string
	}{
		{"empty password", "", "0123456789abcdef"},
		{"ascii", "correct horse battery staple", "saltsaltsaltsalt"},
		{"utf-8 and long salt", "pässwörd-ü-€", strings.Repeat("s", 48)},
		{"long password, short salt", strings.Repeat("pw", 300), "12345678"},
	}
	for _, m := range []uint32{8, 64, 1024, 19456} {
		for _, tc := range []uint32{1, 2, 3} {
			for _, p := range []uint8{1, 2, 4} {
				for _, keyLen := range []uint32{16, 32, 64} {
					if m == 19456 && (tc == 3 || keyLen == 64) {
						continue // the largest cost only where it adds a case; it is slow under -race
					}
					in := inputs[(int(m)+int(tc)+int(p)+int(keyLen))%len(inputs)]
					name := fmt.Sprintf("m=%d,t=%d,p=%d,len=%d,%s", m, tc, p, keyLen, in.name)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						want := argon2.IDKey([]byte(in.password), []byte(in.salt), tc, m, p, keyLen)
						got := IDKey([]byte(in.password), []byte(in.salt), tc, m, p, keyLen)
						if !bytes.Equal(got, want) {
							t.Fatalf("IDKey = %x, x/crypto = %x", got, want)
						}
					})
				}
			}
		}
	}
}

// TestIDKeyOddSizes covers what the table does not: memory that is not a
// multiple of 4p or below 8p (x/crypto rounds it), many lanes, and keys
// that H' builds from several BLAKE2b outputs or from a short one.
func TestIDKeyOddSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		m, t    uint32
		p       uint8
		keyLen  uint32
		pw, slt string
	}{
		{"memory below 8 KiB", 1, 1, 1, 32, "pw", "saltsalt"},
		{"memory below 8 KiB per lane", 20, 2, 4, 32, "pw", "saltsalt"},
		{"memory not a multiple of 4p", 1023, 2, 3, 32, "pw", "saltsalt"},
		{"255 lanes", 4096, 1, 255, 32, "pw", "saltsalt"},
		{"one-byte key", 64, 1, 1, 1, "pw", "saltsalt"},
		{"65-byte key", 64, 1, 1, 65, "pw", "saltsalt"},
		{"1000-byte key", 64, 2, 2, 1000, "pw", "saltsalt"},
		{"empty salt", 64, 1, 1, 32, "pw", ""},
		{"more than 128 blocks per segment", 2048, 2, 1, 32, "pw", "saltsalt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := argon2.IDKey([]byte(tc.pw), []byte(tc.slt), tc.t, tc.m, tc.p, tc.keyLen)
			got := IDKey([]byte(tc.pw), []byte(tc.slt), tc.t, tc.m, tc.p, tc.keyLen)
			if !bytes.Equal(got, want) {
				t.Fatalf("IDKey = %x, x/crypto = %x", got, want)
			}
		})
	}
}

// TestRFC9106Vector is the argon2id test vector of RFC 9106, section 5.3,
// which uses a secret and associated data (x/crypto has no API for them).
func TestRFC9106Vector(t *testing.T) {
	t.Parallel()
	password := bytes.Repeat([]byte{0x01}, 32)
	salt := bytes.Repeat([]byte{0x02}, 16)
	secret := bytes.Repeat([]byte{0x03}, 8)
	data := bytes.Repeat([]byte{0x04}, 12)

	h0 := initialHash(password, salt, secret, data, 3, 32, 4, 32)
	const wantH0 = "2889de487eb42ae500c0007ed9252f1069eadec40d5765b485de6dc2437a67b8" +
		"546a2f0acc1a0882db8fcf74714b472e94df421a5da1112ffa11434370a1e997"
	if got := hex.EncodeToString(h0[:]); got != wantH0 {
		t.Errorf("H0 = %s, want %s", got, wantH0)
	}
	const wantTag = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
	if got := hex.EncodeToString(deriveKey(password, salt, secret, data, 3, 32, 4, 32)); got != wantTag {
		t.Errorf("tag = %s, want %s", got, wantTag)
	}
}

// TestReuse hashes two passwords alternately in one memory that starts,
// and is refilled between hashes, with garbage: each result must still be
// x/crypto's. It fails if any block is read before the hash writes it.
func TestReuse(t *testing.T) {
	t.Parallel()
	const m, passes, lanes, keyLen = 256, 2, 2, 32
	salt := []byte("0123456789abcdef")
	passwords := [][]byte{[]byte("first password"), []byte("second, different")}
	want := [][]byte{
		argon2.IDKey(passwords[0], salt, passes, m, lanes, keyLen),
		argon2.IDKey(passwords[1], salt, passes, m, lanes, keyLen),
	}
	g := newGeometry(passes, m, lanes)
	mem := make([]block, g.size())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 6 {
		k := i % 2
		if i >= 2 { // the first two run on what the previous hash left
			for b := range mem {
				for w := range mem[b] {
					mem[b][w] = rng.Uint64()
				}
			}
		}
		h0 := initialHash(passwords[k], salt, nil, nil, passes, m, lanes, keyLen)
		if got := g.hash(mem, &h0, keyLen); !bytes.Equal(got, want[k]) {
			t.Fatalf("hash %d (password %d) = %x, want %x", i, k, got, want[k])
		}
	}
}

// TestIDKeyReusesMemory checks that IDKey takes its memory from the pool:
// with the collector off (it would empty the pool), a hash at Latch's cost
// allocates a few KiB instead of 19 MiB.
func TestIDKeyReusesMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const m = 19 * 1024
	IDKey([]byte("warm"), []byte("saltsaltsaltsalt"), 1, m, 1, 32)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 3
	for range n {
		IDKey([]byte("password"), []byte("saltsaltsaltsalt"), 1, m, 1, 32)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 64<<10 {
		t.Fatalf("IDKey allocated %d bytes per call, want under 64 KiB", per)
	}
}

// FuzzIDKey compares IDKey with x/crypto for small costs and any password,
// salt and key length.
func FuzzIDKey(f *testing.F) {
	f.Add([]byte(""), []byte("saltsaltsaltsalt"), uint8(1), uint16(8), uint8(1), uint16(32))
	f.Add([]byte("password"), []byte(""), uint8(3), uint16(100), uint8(3), uint16(100))
	f.Add([]byte("p"), []byte("s"), uint8(2), uint16(1), uint8(7), uint16(1))
	f.Fuzz(func(t *testing.T, password, salt []byte, passes uint8, m uint16, lanes uint8, keyLen uint16) {
		// Bounded so that one input stays in milliseconds.
		passes = passes%3 + 1
		lanes = lanes%8 + 1
		mem := uint32(m) % 512
		kl := uint32(keyLen)%200 + 1
		want := argon2.IDKey(password, salt, uint32(passes), mem, lanes, kl)
		got := IDKey(password, salt, uint32(passes), mem, lanes, kl)
		if !bytes.Equal(got, want) {
			t.Fatalf("IDKey(t=%d, m=%d, p=%d, len=%d) = %x, x/crypto = %x", passes, mem, lanes, kl, got, want)
		}
	})
}
