// Package argon2id computes argon2id (RFC 9106, version 0x13) in working
// memory that is kept between calls.
//
// golang.org/x/crypto/argon2 allocates a hash's whole memory (19 MiB at
// Latch's cost) on every call. The runtime returns it to the operating
// system between logins, so every verification faults it in again and
// leaves it to the collector: in the server a hash took 28-30 ms against
// 20 ms alone (docs/performance.md). IDKey here gives the same bytes as
// x/crypto's IDKey for every input (the tests compare them), but takes its
// memory from a pool, so a login reuses the memory the previous one used.
//
// The package owns the algorithm and its memory. Choosing the cost,
// salting, encoding hashes and bounding how many run at once stay with the
// caller (package oauth).
package argon2id

import (
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Version is the argon2 version this package computes (RFC 9106, 0x13).
const Version = 0x13

const (
	blockWords = 128 // a block is 1 KiB: 128 little-endian 64-bit words
	blockBytes = blockWords * 8
	syncPoints = 4 // slices per pass (RFC 9106, section 3.4)
	typeID     = 2 // argon2id's y in H0 and in the address blocks
)

type block [blockWords]uint64

// IDKey derives a key of keyLen bytes from password and salt with argon2id
// at time passes over memory KiB in threads lanes, exactly as
// [golang.org/x/crypto/argon2.IDKey] does, including its handling of a
// memory below 8 KiB per lane (raised to that, where RFC 9106 would refuse).
// Like it, IDKey panics if time or threads is zero.
func IDKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	return deriveKey(password, salt, nil, nil, time, memory, threads, keyLen)
}

// deriveKey is IDKey with RFC 9106's secret K and associated data X, which
// Latch does not use; the RFC's test vector needs them.
func deriveKey(password, salt, secret, data []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2id: time must be at least 1")
	}
	if threads < 1 {
		panic("argon2id: threads must be at least 1")
	}
	g := newGeometry(time, memory, threads)
	mem := getMemory(g)
	defer putMemory(g, mem)
	h0 := initialHash(password, salt, secret, data, time, memory, uint32(threads), keyLen)
	return g.hash(*mem, &h0, keyLen)
}

// geometry is a hash's shape: how its memory divides into lanes and slices.
type geometry struct {
	passes  uint32
	lanes   uint32
	laneLen uint32 // q in RFC 9106: blocks per lane
	segLen  uint32 // blocks per segment (a lane's part of a slice)
}

func newGeometry(time, memory uint32, threads uint8) geometry {
	lanes := uint32(threads)
	// m' = 4p * floor(m / 4p) blocks (RFC 9106, section 3.2, step 2); below
	// 8p, where the RFC refuses, x/crypto uses 8p, and so do we.
	blocks := memory / (syncPoints * lanes) * (syncPoints * lanes)
	if blocks < 2*syncPoints*lanes {
		blocks = 2 * syncPoints * lanes
	}
	return geometry{passes: time, lanes: lanes, laneLen: blocks / lanes, segLen: blocks / lanes / syncPoints}
}

func (g geometry) blocks() uint32 { return g.lanes * g.laneLen }

// size is how many blocks a hash of this geometry uses: its memory, then two
// blocks per lane for the data-independent addresses (the input block and
// the address block of section 3.4.1.2).
func (g geometry) size() int { return int(g.blocks() + 2*g.lanes) }

// initialHash is H0 (RFC 9106, section 3.2, step 1). It takes memory as the
// caller gave it, before rounding to whole segments.
func initialHash(password, salt, secret, data []byte, time, memory, lanes, keyLen uint32) [blake2b.Size]byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	var buf [4]byte
	le32 := func(v uint32) {
		binary.LittleEndian.PutUint32(buf[:], v)
		h.Write(buf[:])
	}
	for _, v := range []uint32{lanes, keyLen, memory, time, Version, typeID} {
		le32(v)
	}
	for _, b := range [][]byte{password, salt, secret, data} {
		le32(uint32(len(b)))
		h.Write(b)
	}
	var h0 [blake2b.Size]byte
	h.Sum(h0[:0])
	return h0
}

// hash fills mem (g.size() blocks, whatever they held before) and returns
// the tag.
//
// No block of mem is read before this call has written it, so memory
// reused from another hash cannot reach the result (TestReuse checks it
// with memory full of garbage):
//   - in the first pass, a block's inputs are the block before it in its
//     lane and a reference block, which comes from its own lane's blocks
//     before that one or from other lanes' segments of earlier slices, all
//     finished before this slice started (section 3.4.2: the reference set
//     R holds only blocks already computed in this pass);
//   - in later passes, a block is also XORed with its old value, which
//     the first pass wrote;
//   - the first two blocks of each lane come from H0 alone, and the
//     address blocks are rebuilt from zero at the start of each segment
//     that uses them.
func (g geometry) hash(mem []block, h0 *[blake2b.Size]byte, keyLen uint32) []byte {
	blocks, scratch := mem[:g.blocks()], mem[g.blocks():]

	// B[i][0] and B[i][1] (section 3.2, steps 3 and 4).
	var seed [blake2b.Size + 8]byte
	copy(seed[:], h0[:])
	var buf [blockBytes]byte
	for lane := range g.lanes {
		for j := range uint32(2) {
			binary.LittleEndian.PutUint32(seed[blake2b.Size:], j)
			binary.LittleEndian.PutUint32(seed[blake2b.Size+4:], lane)
			hPrime(buf[:], seed[:])
			b := &blocks[lane*g.laneLen+j]
			for k := range b {
				b[k] = binary.LittleEndian.Uint64(buf[k*8:])
			}
		}
	}

	// Each segment runs on a goroutine of its own, one per lane, and a
	// slice ends when all lanes have finished theirs, as with x/crypto.
	// That shape is not needed for p=1 but it is the one measured to
	// give other requests the shorter tail beside a password flood
	// (docs/performance.md, "Why nice 10 and SCHED_IDLE changed
	// nothing"), so that besides G in pure Go the memory is the difference.
	var wg sync.WaitGroup
	for pass := range g.passes {
		for slice := range uint32(syncPoints) {
			for lane := range g.lanes {
				wg.Go(func() {
					g.fillSegment(blocks, scratch[2*lane:2*lane+2], pass, slice, lane)
				})
			}
			wg.Wait()
		}
	}

	// C = XOR of every lane's last block; the tag is H'^T(C) (step 7).
	var c block
	for lane := range g.lanes {
		last := &blocks[(lane+1)*g.laneLen-1]
		for k := range c {
			c[k] ^= last[k]
		}
	}
	for k, w := range c {
		binary.LittleEndian.PutUint64(buf[k*8:], w)
	}
	tag := make([]byte, keyLen)
	hPrime(tag, buf[:])
	return tag
}

// fillSegment computes one lane's blocks of one slice of one pass.
// scratch holds that lane's input and address blocks.
func (g geometry) fillSegment(blocks, scratch []block, pass, slice, lane uint32) {
	// argon2id addresses data-independently in the first half of the first
	// pass, from the data after that (section 3.4.1.3).
	independent := pass == 0 && slice < syncPoints/2
	in, addr := &scratch[0], &scratch[1]
	first := uint32(0)
	if pass == 0 && slice == 0 {
		first = 2 // blocks 0 and 1 came from H0
	}
	if independent {
		// Z = (r, l, sl, m', t, y), then the counter (section 3.4.1.2).
		*in = block{uint64(pass), uint64(lane), uint64(slice), uint64(g.blocks()), uint64(g.passes), typeID}
		if first != 0 {
			// The segment starts at index 2, past the usual refill at 0.
			nextAddresses(addr, in)
		}
	}

	base := lane * g.laneLen
	cur := slice*g.segLen + first // index in the lane
	prev := cur - 1
	if cur == 0 {
		prev = g.laneLen - 1
	}
	for i := first; i < g.segLen; i++ {
		var pseudo uint64
		if independent {
			if i%blockWords == 0 {
				nextAddresses(addr, in)
			}
			pseudo = addr[i%blockWords]
		} else {
			pseudo = blocks[base+prev][0]
		}
		refLane := uint32(pseudo>>32) % g.lanes
		if pass == 0 && slice == 0 {
			refLane = lane // no other lane has finished a segment yet
		}
		ref := g.refIndex(pass, slice, i, refLane == lane, uint32(pseudo))
		compress(&blocks[base+cur], &blocks[base+prev], &blocks[refLane*g.laneLen+ref], pass > 0)
		prev = cur
		cur++
	}
}

// refIndex maps J1 to the index, in the reference lane, of the block the
// i-th block of a segment is compressed with (RFC 9106, section 3.4.2).
func (g geometry) refIndex(pass, slice, i uint32, sameLane bool, j1 uint32) uint32 {
	// |W|: the blocks that may be referenced. In its own lane, every block
	// computed so far but the previous one; in another, its finished
	// segments, less their last block when this block starts a segment.
	var area uint32
	switch {
	case pass == 0 && sameLane:
		area = slice*g.segLen + i - 1
	case pass == 0:
		area = slice * g.segLen
	case sameLane:
		area = g.laneLen - g.segLen + i - 1
	default:
		area = g.laneLen - g.segLen
	}
	if !sameLane && i == 0 {
		area--
	}
	x := uint64(j1) * uint64(j1) >> 32
	y := uint64(area) * x >> 32
	zz := uint64(area) - 1 - y
	// After the first pass, W starts at the segment after this one.
	var start uint64
	if pass > 0 && slice != syncPoints-1 {
		start = uint64(slice+1) * uint64(g.segLen)
	}
	return uint32((start + zz) % uint64(g.laneLen))
}

// nextAddresses advances the counter of the input block and computes the
// next 128 addresses: G(ZERO, G(ZERO, input)) (section 3.4.1.2).
func nextAddresses(addr, in *block) {
	var zero block
	in[6]++
	compress(addr, &zero, in, false)
	compress(addr, &zero, addr, false)
}

// hPrime is H' (RFC 9106, section 3.3): len(out) bytes from in, which are
// hashed whole.
func hPrime(out, in []byte) {
	var t [4]byte
	binary.LittleEndian.PutUint32(t[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil) // sizes 1-64 cannot fail
		h.Write(t[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	// V1 = H^64(LE32(T) || A); V(i) = H^64(V(i-1)); the output is the first
	// 32 bytes of V1..Vr, then V(r+1) = H^(T-32r)(Vr), r = ceil(T/32) - 2.
	h, _ := blake2b.New512(nil)
	h.Write(t[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	r := (len(out)+31)/32 - 2
	copy(out, v[:32])
	n := 32
	for range r - 1 {
		v = blake2b.Sum512(v[:])
		copy(out[n:], v[:32])
		n += 32
	}
	h, _ = blake2b.New(len(out)-n, nil)
	h.Write(v[:])
	h.Sum(out[n:n])
}

// Working memory comes from one sync.Pool per geometry: at most as many
// memories exist as hashes of that geometry ran at once (oauth bounds
// that), and the collector frees them after two collections without a
// login. A pooled memory keeps the blocks of the last hash it served until
// the next overwrites them, as freed memory would until reused; it never
// reaches a result (see geometry.hash). Geometries come from Latch's cost
// and from stored hashes, which parseArgon2id in package oauth bounds, so
// the map stays small.
var pools sync.Map // poolKey -> *sync.Pool of *[]block

type poolKey struct{ blocks, lanes uint32 }

func getMemory(g geometry) *[]block {
	key := poolKey{g.blocks(), g.lanes}
	p, ok := pools.Load(key)
	if !ok {
		p, _ = pools.LoadOrStore(key, new(sync.Pool))
	}
	if m, ok := p.(*sync.Pool).Get().(*[]block); ok {
		return m
	}
	m := make([]block, g.size())
	return &m
}

func putMemory(g geometry, m *[]block) {
	p, _ := pools.Load(poolKey{g.blocks(), g.lanes})
	p.(*sync.Pool).Put(m)
}
