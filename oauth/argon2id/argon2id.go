// Package argon2id computes argon2id (RFC 9106, version 0x13) on the calling
// goroutine, in memory the caller can keep for the next call.
//
// golang.org/x/crypto/argon2 gives the same results (the tests compare the
// two on every input they try), but it runs every segment of the memory fill
// on a goroutine of its own and allocates the whole memory on each call. A
// server cannot give those goroutines a lower scheduling priority, so a flood
// of logins hashed at the priority of request handling; and each login's
// fresh 19 MiB cost about a thousand page faults and a collection. Here the
// work stays on the caller's thread (package oauth lowers that thread's
// priority) and a [Memory] is reused.
//
// Only what password verification needs is here: no secret key, no
// associated data, and lanes are filled one after another rather than in
// parallel. Salts, passwords and parameters are the caller's to bound.
package argon2id

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// Version is the argon2 version computed here, 0x13 (the "v=19" of a PHC
// string).
const Version = 0x13

const (
	blockWords = 128 // a block is 1 KiB: 128 little-endian 64-bit words
	syncPoints = 4   // slices per pass (RFC 9106 §3.4)
	typeID     = 2   // argon2id
)

type block [blockWords]uint64

// Memory is the working memory of one hash at a time. Its zero value is
// ready; it grows to the largest memory cost asked of it and keeps that,
// so a caller that holds one per concurrent hash allocates only once.
// A Memory must not be used by two hashes at the same time.
type Memory struct {
	blocks []block
}

// Bytes reports how much memory m holds.
func (m *Memory) Bytes() int { return len(m.blocks) * blockWords * 8 }

// Key derives a keyLen-byte argon2id key from password and salt with time
// passes over memoryKiB KiB in threads lanes, exactly as
// golang.org/x/crypto/argon2.IDKey does. It uses mem for its working memory
// when mem is not nil. It panics if time, threads or keyLen is zero.
func Key(mem *Memory, password, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("argon2id: number of passes too small")
	}
	if threads < 1 {
		panic("argon2id: parallelism degree too low")
	}
	if keyLen < 1 {
		panic("argon2id: key length too small")
	}
	if mem == nil {
		mem = new(Memory)
	}
	lanes := uint32(threads)
	h0 := initialHash(password, salt, time, memoryKiB, lanes, keyLen)

	// RFC 9106 §3.2: memory is rounded down to a multiple of 4 blocks
	// per lane, and is never less than 8 blocks per lane.
	blocks := memoryKiB / (syncPoints * lanes) * (syncPoints * lanes)
	if blocks < 2*syncPoints*lanes {
		blocks = 2 * syncPoints * lanes
	}
	if uint32(cap(mem.blocks)) < blocks {
		mem.blocks = make([]block, blocks)
	}
	f := filler{
		b:      mem.blocks[:blocks],
		lanes:  lanes,
		lane:   blocks / lanes,
		seg:    blocks / lanes / syncPoints,
		passes: time,
	}
	f.init(&h0)
	for pass := uint32(0); pass < time; pass++ {
		for slice := uint32(0); slice < syncPoints; slice++ {
			for lane := uint32(0); lane < lanes; lane++ {
				f.segment(pass, slice, lane)
			}
		}
	}
	return f.tag(keyLen)
}

// initialHash is H0 of RFC 9106 §3.2, with an empty secret and empty
// associated data.
func initialHash(password, salt []byte, time, memoryKiB, lanes, keyLen uint32) [blake2b.Size + 8]byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	var le [4]byte
	word := func(v uint32) {
		binary.LittleEndian.PutUint32(le[:], v)
		h.Write(le[:])
	}
	word(lanes)
	word(keyLen)
	word(memoryKiB)
	word(time)
	word(Version)
	word(typeID)
	word(uint32(len(password)))
	h.Write(password)
	word(uint32(len(salt)))
	h.Write(salt)
	word(0) // secret key K
	word(0) // associated data X
	var h0 [blake2b.Size + 8]byte
	h.Sum(h0[:0])
	return h0
}

// filler fills the memory of one hash: lanes rows of lane blocks each, in
// segments of seg blocks.
type filler struct {
	b                        []block
	lanes, lane, seg, passes uint32
	scratch                  [2]block // R and Q of compress, kept rather than zeroed on every call
}

// init computes the first two blocks of every lane from H0 (RFC 9106 §3.2
// steps 3 and 4). The last 8 bytes of h0 are scratch for the indices.
func (f *filler) init(h0 *[blake2b.Size + 8]byte) {
	var buf [1024]byte
	for lane := uint32(0); lane < f.lanes; lane++ {
		for j := uint32(0); j < 2; j++ {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], j)
			binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)
			variableHash(buf[:], h0[:])
			b := &f.b[lane*f.lane+j]
			for k := range b {
				b[k] = binary.LittleEndian.Uint64(buf[8*k:])
			}
		}
	}
}

// segment fills one segment: blocks [slice*seg, (slice+1)*seg) of a lane in
// a pass (RFC 9106 §3.4). Argon2id chooses reference blocks independently of
// the password in the first half of the first pass, and from the previous
// block's contents everywhere else.
func (f *filler) segment(pass, slice, lane uint32) {
	independent := pass == 0 && slice < syncPoints/2

	var input, address, zero block
	if independent {
		input[0] = uint64(pass)
		input[1] = uint64(lane)
		input[2] = uint64(slice)
		input[3] = uint64(len(f.b))
		input[4] = uint64(f.passes)
		input[5] = typeID
	}
	nextAddresses := func() {
		input[6]++
		f.compress(&address, &zero, &input, false)
		f.compress(&address, &zero, &address, false)
	}

	start := uint32(0)
	if pass == 0 && slice == 0 {
		start = 2 // the two blocks init computed
	}
	if independent {
		nextAddresses()
	}
	row := lane * f.lane
	for i := start; i < f.seg; i++ {
		col := slice*f.seg + i
		prev := col - 1
		if col == 0 {
			prev = f.lane - 1
		}
		var rand uint64
		if independent {
			if i%blockWords == 0 && i != 0 {
				nextAddresses()
			}
			rand = address[i%blockWords]
		} else {
			rand = f.b[row+prev][0]
		}
		ref := f.reference(pass, slice, lane, i, rand)
		f.compress(&f.b[row+col], &f.b[row+prev], &f.b[ref], pass > 0)
	}
}

// reference maps the pseudo-random word of block i of a segment to the
// index of the block it is compressed with (RFC 9106 §3.4.1.2).
func (f *filler) reference(pass, slice, lane, i uint32, rand uint64) uint32 {
	j1, j2 := rand&0xffffffff, rand>>32
	refLane := uint32(j2 % uint64(f.lanes))
	if pass == 0 && slice == 0 {
		refLane = lane
	}
	// The reference set: every block of the lane already finished and not
	// being overwritten in this slice, and, in the current lane, the blocks
	// of this segment before the previous one.
	var area uint32
	switch {
	case pass == 0 && refLane == lane:
		area = slice*f.seg + i - 1
	case pass == 0:
		area = slice * f.seg
	case refLane == lane:
		area = f.lane - f.seg + i - 1
	default:
		area = f.lane - f.seg
	}
	if refLane != lane && i == 0 {
		area-- // the other lane's last block may still be written
	}
	x := j1 * j1 >> 32
	y := uint64(area) * x >> 32
	rel := uint64(area) - 1 - y
	var startPos uint64
	if pass != 0 && slice != syncPoints-1 {
		startPos = uint64(slice+1) * uint64(f.seg)
	}
	return refLane*f.lane + uint32((startPos+rel)%uint64(f.lane))
}

// tag XORs the last block of every lane and hashes it to keyLen bytes
// (RFC 9106 §3.2 steps 7 and 8).
func (f *filler) tag(keyLen uint32) []byte {
	last := f.b[f.lane-1]
	for lane := uint32(1); lane < f.lanes; lane++ {
		b := &f.b[lane*f.lane+f.lane-1]
		for k := range last {
			last[k] ^= b[k]
		}
	}
	var buf [1024]byte
	for k, w := range last {
		binary.LittleEndian.PutUint64(buf[8*k:], w)
	}
	out := make([]byte, keyLen)
	variableHash(out, buf[:])
	return out
}

// variableHash is H' of RFC 9106 §3.3: BLAKE2b stretched to len(out) bytes.
func variableHash(out, in []byte) {
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil) // sizes 1..64 without a key cannot fail
		h.Write(le[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(le[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	n := copy(out, v[:32])
	for len(out)-n > blake2b.Size {
		v = blake2b.Sum512(v[:])
		n += copy(out[n:], v[:32])
	}
	last, _ := blake2b.New(len(out)-n, nil)
	last.Write(v[:])
	last.Sum(out[n:n])
}

// compress sets out to G(x, y) (RFC 9106 §3.5), or XORs G(x, y) into out
// when xor is set (every pass after the first, version 0x13). out may be x
// or y.
//
// G is R = x XOR y, then the permutation P on each row of R's eight 16-byte
// registers (16 consecutive words), then P on each column (registers c,
// c+8, ..., c+56: words 2c, 2c+1, 2c+16, 2c+17, ..., 2c+113), XORed with R.
// rowRound and columnRound each write P out in full, on 16 local
// variables that the compiler keeps in registers, and load and store their
// words directly. The repetition is deliberate: GB as a function was not
// inlined and cost half of a hash, and one shared P over a [16]uint64 made
// a hash 40% slower (30.1 against 21.5 ms, median of 8 runs).
func (f *filler) compress(out, x, y *block, xor bool) {
	r, q := &f.scratch[0], &f.scratch[1]
	for row := 0; row < blockWords; row += 16 {
		rowRound(r, q, x, y, row)
	}
	for c := 0; c < 16; c += 2 {
		columnRound(out, q, r, c, xor)
	}
}

// rowRound sets r's row to x XOR y, and q's row to P of it.
func rowRound(r, q, x, y *block, row int) {
	row &= 112 // 0, 16, ..., 112: lets the compiler drop bounds checks
	v0 := x[row] ^ y[row]
	v1 := x[row+1] ^ y[row+1]
	v2 := x[row+2] ^ y[row+2]
	v3 := x[row+3] ^ y[row+3]
	v4 := x[row+4] ^ y[row+4]
	v5 := x[row+5] ^ y[row+5]
	v6 := x[row+6] ^ y[row+6]
	v7 := x[row+7] ^ y[row+7]
	v8 := x[row+8] ^ y[row+8]
	v9 := x[row+9] ^ y[row+9]
	v10 := x[row+10] ^ y[row+10]
	v11 := x[row+11] ^ y[row+11]
	v12 := x[row+12] ^ y[row+12]
	v13 := x[row+13] ^ y[row+13]
	v14 := x[row+14] ^ y[row+14]
	v15 := x[row+15] ^ y[row+15]
	r[row], r[row+1], r[row+2], r[row+3], r[row+4], r[row+5], r[row+6], r[row+7] = v0, v1, v2, v3, v4, v5, v6, v7
	r[row+8], r[row+9], r[row+10], r[row+11], r[row+12], r[row+13], r[row+14], r[row+15] = v8, v9, v10, v11, v12, v13, v14, v15

	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -63)

	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -63)

	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -63)

	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -63)

	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -63)

	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -63)

	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -63)

	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -63)

	q[row], q[row+1], q[row+2], q[row+3], q[row+4], q[row+5], q[row+6], q[row+7] = v0, v1, v2, v3, v4, v5, v6, v7
	q[row+8], q[row+9], q[row+10], q[row+11], q[row+12], q[row+13], q[row+14], q[row+15] = v8, v9, v10, v11, v12, v13, v14, v15
}

// columnRound applies P to column c/2 of q and writes that column of the
// result, P(q) XOR r, to out (or XORs it into out).
func columnRound(out, q, r *block, c int, xor bool) {
	c &= 14 // 0, 2, ..., 14: lets the compiler drop bounds checks
	v0 := q[c]
	v1 := q[c+1]
	v2 := q[c+16]
	v3 := q[c+17]
	v4 := q[c+32]
	v5 := q[c+33]
	v6 := q[c+48]
	v7 := q[c+49]
	v8 := q[c+64]
	v9 := q[c+65]
	v10 := q[c+80]
	v11 := q[c+81]
	v12 := q[c+96]
	v13 := q[c+97]
	v14 := q[c+112]
	v15 := q[c+113]

	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -32)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -24)
	v0 = fBlaMka(v0, v4)
	v12 = bits.RotateLeft64(v12^v0, -16)
	v8 = fBlaMka(v8, v12)
	v4 = bits.RotateLeft64(v4^v8, -63)

	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -32)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -24)
	v1 = fBlaMka(v1, v5)
	v13 = bits.RotateLeft64(v13^v1, -16)
	v9 = fBlaMka(v9, v13)
	v5 = bits.RotateLeft64(v5^v9, -63)

	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -32)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -24)
	v2 = fBlaMka(v2, v6)
	v14 = bits.RotateLeft64(v14^v2, -16)
	v10 = fBlaMka(v10, v14)
	v6 = bits.RotateLeft64(v6^v10, -63)

	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -32)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -24)
	v3 = fBlaMka(v3, v7)
	v15 = bits.RotateLeft64(v15^v3, -16)
	v11 = fBlaMka(v11, v15)
	v7 = bits.RotateLeft64(v7^v11, -63)

	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -32)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -24)
	v0 = fBlaMka(v0, v5)
	v15 = bits.RotateLeft64(v15^v0, -16)
	v10 = fBlaMka(v10, v15)
	v5 = bits.RotateLeft64(v5^v10, -63)

	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -32)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -24)
	v1 = fBlaMka(v1, v6)
	v12 = bits.RotateLeft64(v12^v1, -16)
	v11 = fBlaMka(v11, v12)
	v6 = bits.RotateLeft64(v6^v11, -63)

	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -32)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -24)
	v2 = fBlaMka(v2, v7)
	v13 = bits.RotateLeft64(v13^v2, -16)
	v8 = fBlaMka(v8, v13)
	v7 = bits.RotateLeft64(v7^v8, -63)

	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -32)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -24)
	v3 = fBlaMka(v3, v4)
	v14 = bits.RotateLeft64(v14^v3, -16)
	v9 = fBlaMka(v9, v14)
	v4 = bits.RotateLeft64(v4^v9, -63)

	if xor {
		out[c] ^= v0 ^ r[c]
		out[c+1] ^= v1 ^ r[c+1]
		out[c+16] ^= v2 ^ r[c+16]
		out[c+17] ^= v3 ^ r[c+17]
		out[c+32] ^= v4 ^ r[c+32]
		out[c+33] ^= v5 ^ r[c+33]
		out[c+48] ^= v6 ^ r[c+48]
		out[c+49] ^= v7 ^ r[c+49]
		out[c+64] ^= v8 ^ r[c+64]
		out[c+65] ^= v9 ^ r[c+65]
		out[c+80] ^= v10 ^ r[c+80]
		out[c+81] ^= v11 ^ r[c+81]
		out[c+96] ^= v12 ^ r[c+96]
		out[c+97] ^= v13 ^ r[c+97]
		out[c+112] ^= v14 ^ r[c+112]
		out[c+113] ^= v15 ^ r[c+113]
		return
	}
	out[c] = v0 ^ r[c]
	out[c+1] = v1 ^ r[c+1]
	out[c+16] = v2 ^ r[c+16]
	out[c+17] = v3 ^ r[c+17]
	out[c+32] = v4 ^ r[c+32]
	out[c+33] = v5 ^ r[c+33]
	out[c+48] = v6 ^ r[c+48]
	out[c+49] = v7 ^ r[c+49]
	out[c+64] = v8 ^ r[c+64]
	out[c+65] = v9 ^ r[c+65]
	out[c+80] = v10 ^ r[c+80]
	out[c+81] = v11 ^ r[c+81]
	out[c+96] = v12 ^ r[c+96]
	out[c+97] = v13 ^ r[c+97]
	out[c+112] = v14 ^ r[c+112]
	out[c+113] = v15 ^ r[c+113]
}

// fBlaMka is the addition of GB (RFC 9106 §3.6): x + y + 2 * lo32(x) * lo32(y).
func fBlaMka(x, y uint64) uint64 {
	return x + y + 2*uint64(uint32(x))*uint64(uint32(y))
}
