package argon2id_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latchhq/latch/oauth/argon2id"
)

// golang.org/x/crypto/argon2 is the reference: every case must give its
// key byte for byte.
func TestKeyMatchesXCrypto(t *testing.T) {
	t.Parallel()
	cases := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{1, 8, 1, 32},         // the smallest memory: 8 blocks
		{1, 7, 1, 32},         // below the minimum, raised to 8 blocks
		{3, 32, 4, 32},        // RFC 9106 §5.3's shape, without secret and data
		{2, 64, 1, 16},        // a short key
		{1, 256, 1, 64},       // a key of exactly one BLAKE2b output
		{2, 256, 2, 65},       // one byte past it: H' chains
		{1, 300, 3, 128},      // memory not a multiple of 4 lanes' segments
		{2, 1024, 1, 32},      // more than 128 blocks per segment: a second address block
		{4, 2048, 8, 32},      // eight lanes, four passes
		{2, 19 * 1024, 1, 32}, // OWASP's parameters, Latch's default
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", tc.time, tc.memory, tc.threads, tc.keyLen), func(t *testing.T) {
			t.Parallel()
			password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
			want := argon2.IDKey(password, salt, tc.time, tc.memory, tc.threads, tc.keyLen)
			got := argon2id.Key(nil, password, salt, tc.time, tc.memory, tc.threads, tc.keyLen)
			if !bytes.Equal(got, want) {
				t.Fatalf("Key = %x, x/crypto = %x", got, want)
			}
		})
	}
}

// A known answer that does not depend on x/crypto: argon2id version 0x13 of
// "password" and "somesalt" at t=2, m=64 MiB, p=1, from the test vectors of
// the reference implementation (P-H-C/phc-winner-argon2, src/test.c).
func TestKeyKnownAnswer(t *testing.T) {
	t.Parallel()
	want, _ := hex.DecodeString("09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7")
	got := argon2id.Key(nil, []byte("password"), []byte("somesalt"), 2, 64*1024, 1, 32)
	if !bytes.Equal(got, want) {
		t.Fatalf("Key = %x, want %x", got, want)
	}
}

// One Memory serves hashes of every size in turn, and what an earlier hash
// left in it never changes a later key.
func TestMemoryReuse(t *testing.T) {
	t.Parallel()
	var mem argon2id.Memory
	salt := []byte("saltsaltsaltsalt")
	for i, m := range []uint32{1024, 64, 2048, 64, 1024} {
		password := []byte(fmt.Sprintf("password %d", i))
		want := argon2.IDKey(password, salt, 2, m, 1, 32)
		if got := argon2id.Key(&mem, password, salt, 2, m, 1, 32); !bytes.Equal(got, want) {
			t.Fatalf("hash %d (m=%d) with a used Memory = %x, want %x", i, m, got, want)
		}
	}
	if got, want := mem.Bytes(), 2048*1024; got != want {
		t.Errorf("Memory holds %d bytes, want %d (the largest cost asked)", got, want)
	}
}

func TestKeyPanicsOnZeroCost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		time, keyLen uint32
		threads      uint8
	}{
		{"time", 0, 32, 1},
		{"threads", 1, 32, 0},
		{"keyLen", 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Key with zero %s did not panic", tc.name)
				}
			}()
			argon2id.Key(nil, []byte("pw"), []byte("salt"), tc.time, 8, tc.threads, tc.keyLen)
		})
	}
}

// FuzzKey compares Key with x/crypto on arbitrary passwords, salts and small
// costs.
func FuzzKey(f *testing.F) {
	f.Add([]byte("password"), []byte("somesalt"), uint8(2), uint16(64), uint8(1), uint8(32))
	f.Add([]byte(""), []byte(""), uint8(1), uint16(0), uint8(3), uint8(65))
	f.Add(bytes.Repeat([]byte{0xff}, 200), []byte("s"), uint8(2), uint16(150), uint8(5), uint8(1))
	f.Fuzz(func(t *testing.T, password, salt []byte, time uint8, memory uint16, threads, keyLen uint8) {
		// Small costs keep each input fast (CI runs 20,000 of them); the
		// structure (lanes, passes, segment lengths, H' chaining) is what
		// varies. TestKeyMatchesXCrypto covers the large costs.
		tm := uint32(time%3) + 1
		m := uint32(memory % 160)
		p := threads%8 + 1
		k := uint32(keyLen%130) + 1
		want := argon2.IDKey(password, salt, tm, m, p, k)
		if got := argon2id.Key(nil, password, salt, tm, m, p, k); !bytes.Equal(got, want) {
			t.Fatalf("Key(t=%d, m=%d, p=%d, len=%d) = %x, x/crypto = %x", tm, m, p, k, got, want)
		}
	})
}

// BenchmarkKey measures one hash at Latch's default cost, against x/crypto
// (which uses SSE4.1 assembly on amd64 and allocates 19 MiB per call): the
// password grant's ceiling is this number.
func BenchmarkKey(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	b.Run("argon2id/reused", func(b *testing.B) {
		b.ReportAllocs()
		var mem argon2id.Memory
		for b.Loop() {
			argon2id.Key(&mem, password, salt, 2, 19*1024, 1, 32)
		}
	})
	b.Run("x-crypto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			argon2.IDKey(password, salt, 2, 19*1024, 1, 32)
		}
	})
}
