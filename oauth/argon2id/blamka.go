package argon2id

import "math/bits"

// compress sets dst to G(x, y) (RFC 9106, section 3.5), or, after the first
// pass (version 0x13), XORs G(x, y) into it. dst may be x.
func compress(dst, x, y *block, xorOld bool) {
	var r, q block
	for k := range r {
		r[k] = x[k] ^ y[k]
	}
	q = r
	permute(&q)
	if xorOld {
		for k := range dst {
			dst[k] ^= q[k] ^ r[k]
		}
		return
	}
	for k := range dst {
		dst[k] = q[k] ^ r[k]
	}
}

// permute applies P to each row of b, then to each column (section 3.5). b
// is an 8x8 matrix of 16-byte registers, row-major, so a row is 16
// consecutive words and column c is words 2c and 2c+1 of every row.
func permute(b *block) {
	for row := 0; row < blockWords; row += 16 {
		p(b, row, row+1, row+2, row+3, row+4, row+5, row+6, row+7,
			row+8, row+9, row+10, row+11, row+12, row+13, row+14, row+15)
	}
	for c := 0; c < 16; c += 2 {
		p(b, c, c+1, c+16, c+17, c+32, c+33, c+48, c+49,
			c+64, c+65, c+80, c+81, c+96, c+97, c+112, c+113)
	}
}

// p is the permutation P (section 3.6) on the words of b at the given
// indices: GB on the columns of the 4x4 matrix v0..v15, then on its
// diagonals.
func p(b *block, i0, i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, i12, i13, i14, i15 int) {
	v0, v1, v2, v3 := b[i0], b[i1], b[i2], b[i3]
	v4, v5, v6, v7 := b[i4], b[i5], b[i6], b[i7]
	v8, v9, v10, v11 := b[i8], b[i9], b[i10], b[i11]
	v12, v13, v14, v15 := b[i12], b[i13], b[i14], b[i15]

	v0, v4, v8, v12 = gb(v0, v4, v8, v12)
	v1, v5, v9, v13 = gb(v1, v5, v9, v13)
	v2, v6, v10, v14 = gb(v2, v6, v10, v14)
	v3, v7, v11, v15 = gb(v3, v7, v11, v15)

	v0, v5, v10, v15 = gb(v0, v5, v10, v15)
	v1, v6, v11, v12 = gb(v1, v6, v11, v12)
	v2, v7, v8, v13 = gb(v2, v7, v8, v13)
	v3, v4, v9, v14 = gb(v3, v4, v9, v14)

	b[i0], b[i1], b[i2], b[i3] = v0, v1, v2, v3
	b[i4], b[i5], b[i6], b[i7] = v4, v5, v6, v7
	b[i8], b[i9], b[i10], b[i11] = v8, v9, v10, v11
	b[i12], b[i13], b[i14], b[i15] = v12, v13, v14, v15
}

// gb is BLAKE2b's G with each addition a+b replaced by BlaMka's
// a + b + 2*trunc(a)*trunc(b), trunc taking the low 32 bits (section 3.6).
func gb(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a = fBlaMka(a, b)
	d = bits.RotateLeft64(d^a, -32)
	c = fBlaMka(c, d)
	b = bits.RotateLeft64(b^c, -24)
	a = fBlaMka(a, b)
	d = bits.RotateLeft64(d^a, -16)
	c = fBlaMka(c, d)
	b = bits.RotateLeft64(b^c, -63)
	return a, b, c, d
}

func fBlaMka(x, y uint64) uint64 {
	return x + y + 2*uint64(uint32(x))*uint64(uint32(y))
}
