package bearer_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/latchhq/latch/oauth/bearer"
)

// FuzzStatusList feeds arbitrary lst values and indexes to the list
// decoder and the bit lookup, which read what a server sends. Whatever
// inflates re-inflates to the same bytes after compression; a lookup never
// panics, answers a status that fits in bits, and fails exactly for an
// index outside the list.
func FuzzStatusList(f *testing.F) {
	compress := func(b []byte) string {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		_, _ = w.Write(b)
		_ = w.Close()
		return base64.RawURLEncoding.EncodeToString(z.Bytes())
	}
	f.Add(compress([]byte{0xB9, 0xA3}), int64(0), uint8(0)) // the draft's example list
	f.Add(compress([]byte{0xB9, 0xA3}), int64(15), uint8(1))
	f.Add(compress(nil), int64(0), uint8(3))                       // empty: every index is outside
	f.Add("AAAA", int64(1), uint8(0))                              // not zlib
	f.Add("eJzt=", int64(-1), uint8(2))                            // padded, truncated
	f.Add(compress(make([]byte, 1<<12)), int64(1<<15-1), uint8(2)) // the last index
	f.Fuzz(func(t *testing.T, lst string, idx int64, sel uint8) {
		bits := []int{1, 2, 4, 8}[sel%4]
		b, err := bearer.Inflate(lst)
		if err != nil {
			return
		}
		again, err := bearer.Inflate(compress(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %v", err)
		}
		if idx < 0 {
			return // the caller refuses negative indexes before the lookup
		}
		s, err := bearer.StatusAt(bits, b, idx)
		inside := idx/int64(8/bits) < int64(len(b))
		if (err == nil) != inside {
			t.Fatalf("idx %d of %d bytes at %d bits: err %v", idx, len(b), bits, err)
		}
		if int(s) >= 1<<bits {
			t.Fatalf("status %d does not fit in %d bits", s, bits)
		}
	})
}

// FuzzCacheControl: any Cache-Control header gives a max-age that is not
// negative, and no panic.
func FuzzCacheControl(f *testing.F) {
	for _, seed := range []string{"max-age=10", "public, max-age=0", "no-store", `max-age="5"`, "max-age=99999999999999999999", "max-age=-1", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Cache-Control": {v}}
		if d, _ := bearer.CacheMaxAge(h); d < 0 {
			t.Fatalf("max-age %v from %q", d, v)
		}
	})
}
