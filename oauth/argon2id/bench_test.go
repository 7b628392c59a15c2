package argon2id

import (
	"testing"

	"golang.org/x/crypto/argon2"
)

// idKeyFunc is the signature IDKey shares with x/crypto's.
type idKeyFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

var implementations = []struct {
	name string
	f    idKeyFunc
}{
	{"xcrypto", argon2.IDKey},
	{"pooled", IDKey},
}

// BenchmarkIDKey measures one hash at Latch's cost (19 MiB, t=2, p=1), one
// at a time, for x/crypto (memory allocated per call, amd64 assembly for
// the compression) and for this package (pooled memory, pure Go). Its
// B/op shows the 19 MiB each x/crypto call allocates.
func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("correct horse battery staple"), []byte("0123456789abcdef")
	for _, impl := range implementations {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				impl.f(password, salt, 2, 19*1024, 1, 32)
			}
		})
	}
}

// BenchmarkIDKeyParallel hashes on as many goroutines as GOMAXPROCS, which
// is how the server's hashing pool runs under a password flood (one slot
// per CPU): there the allocation, page faults and collection of x/crypto's
// memory compete with the other hash. Run it with -cpu 2 on this machine.
func BenchmarkIDKeyParallel(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for _, impl := range implementations {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				password := []byte("correct horse battery staple")
				for pb.Next() {
					impl.f(password, salt, 2, 19*1024, 1, 32)
				}
			})
		})
	}
}

// BenchmarkCompress is one G over 1 KiB blocks, the inner loop of every
// hash (19,456 x 2 of them at Latch's cost).
func BenchmarkCompress(b *testing.B) {
	var x, y, dst block
	for i := range x {
		x[i], y[i] = uint64(i)*0x9e3779b97f4a7c15, ^uint64(i)
	}
	b.SetBytes(blockBytes)
	for b.Loop() {
		compress(&dst, &x, &y, true)
	}
}
