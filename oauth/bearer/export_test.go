package bearer

import (
	"net/http"
	"time"
)

// Internals for the external tests' fuzz targets.

func StatusAt(bits int, lst []byte, idx int64) (byte, error) {
	return (&statusList{bits: bits, lst: lst}).status(idx)
}

func Inflate(lst string) ([]byte, error) { return inflate(lst) }

func CacheMaxAge(h http.Header) (time.Duration, bool) { return cacheMaxAge(h) }
