package argon2id

import "math/bits"

// compress sets dst to G(x, y) (RFC 9106, section 3.5), or, after the first
// pass (version 0x13), XORs G(x, y) into it. dst may be x or y.
//
// G is R = x XOR y, then the permutation P on each row of R's 8x8 matrix of
// 16-byte registers (a row is 16 consecutive words), then P on each column
// (words 2c and 2c+1 of every row), XORed with R. rowRound and columnRound
// each write P out in full on 16 local variables and load and store their
// own words. This is the hot loop of every hash: written so, a hash at
// Latch's cost took 195 million instructions, against 260 million with GB
// as a function (too large for the compiler to inline) and one P over a
// [16]uint64 that the columns were copied in and out of (cachegrind).
// x/crypto's SSE4 assembly takes 140 million.
//
// The race detector does not instrument these three functions: it made
// the oauth tests under -race take 65 s instead of 25 s (x/crypto's
// assembly is not instrumented either). Which blocks they touch is
// decided, and synchronised, in fillSegment and geometry.hash, which it
// still sees.
//
//go:norace
func compress(dst, x, y *block, xorOld bool) {
	var r, q block
	for row := 0; row < blockWords; row += 16 {
		rowRound(&q, &r, x, y, row)
	}
	for c := 0; c < 16; c += 2 {
		columnRound(dst, &q, &r, c, xorOld)
	}
}

// rowRound sets a row of r to x XOR y, and that row of q to P of it.
//
//go:norace
func rowRound(q, r, x, y *block, row int) {
	row &= 112 // 0, 16, ..., 112; lets the compiler drop the bounds checks
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
	r[row] = v0
	r[row+1] = v1
	r[row+2] = v2
	r[row+3] = v3
	r[row+4] = v4
	r[row+5] = v5
	r[row+6] = v6
	r[row+7] = v7
	r[row+8] = v8
	r[row+9] = v9
	r[row+10] = v10
	r[row+11] = v11
	r[row+12] = v12
	r[row+13] = v13
	r[row+14] = v14
	r[row+15] = v15

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

	q[row] = v0
	q[row+1] = v1
	q[row+2] = v2
	q[row+3] = v3
	q[row+4] = v4
	q[row+5] = v5
	q[row+6] = v6
	q[row+7] = v7
	q[row+8] = v8
	q[row+9] = v9
	q[row+10] = v10
	q[row+11] = v11
	q[row+12] = v12
	q[row+13] = v13
	q[row+14] = v14
	q[row+15] = v15
}

// columnRound applies P to column c/2 of q, XORs it with that column of r,
// and stores the result in dst's column (or XORs it in).
//
//go:norace
func columnRound(dst, q, r *block, c int, xorOld bool) {
	c &= 14 // 0, 2, ..., 14; lets the compiler drop the bounds checks
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

	if xorOld {
		dst[c] ^= v0 ^ r[c]
		dst[c+1] ^= v1 ^ r[c+1]
		dst[c+16] ^= v2 ^ r[c+16]
		dst[c+17] ^= v3 ^ r[c+17]
		dst[c+32] ^= v4 ^ r[c+32]
		dst[c+33] ^= v5 ^ r[c+33]
		dst[c+48] ^= v6 ^ r[c+48]
		dst[c+49] ^= v7 ^ r[c+49]
		dst[c+64] ^= v8 ^ r[c+64]
		dst[c+65] ^= v9 ^ r[c+65]
		dst[c+80] ^= v10 ^ r[c+80]
		dst[c+81] ^= v11 ^ r[c+81]
		dst[c+96] ^= v12 ^ r[c+96]
		dst[c+97] ^= v13 ^ r[c+97]
		dst[c+112] ^= v14 ^ r[c+112]
		dst[c+113] ^= v15 ^ r[c+113]
		return
	}
	dst[c] = v0 ^ r[c]
	dst[c+1] = v1 ^ r[c+1]
	dst[c+16] = v2 ^ r[c+16]
	dst[c+17] = v3 ^ r[c+17]
	dst[c+32] = v4 ^ r[c+32]
	dst[c+33] = v5 ^ r[c+33]
	dst[c+48] = v6 ^ r[c+48]
	dst[c+49] = v7 ^ r[c+49]
	dst[c+64] = v8 ^ r[c+64]
	dst[c+65] = v9 ^ r[c+65]
	dst[c+80] = v10 ^ r[c+80]
	dst[c+81] = v11 ^ r[c+81]
	dst[c+96] = v12 ^ r[c+96]
	dst[c+97] = v13 ^ r[c+97]
	dst[c+112] = v14 ^ r[c+112]
	dst[c+113] = v15 ^ r[c+113]
}

// fBlaMka is BlaMka's replacement for BLAKE2b's addition:
// x + y + 2*trunc(x)*trunc(y), trunc taking the low 32 bits (section 3.6).
func fBlaMka(x, y uint64) uint64 {
	return x + y + 2*uint64(uint32(x))*uint64(uint32(y))
}
