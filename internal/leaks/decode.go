package leaks

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
)

const (
	// maxDepth is how many decodings deep a view goes: a token logged as
	// bytes, then escaped twice, is three.
	maxDepth = 4
	// maxViews bounds the views of one line.
	maxViews = 256
	// shortestRun is the shortest run of base64 or hex that is decoded: 12
	// bytes of base64, 12 of hex, and no piece of a secret is shorter.
	shortestRun = 16
)

// view is data as it is, or as it decodes, with how it was reached.
type view struct {
	data    []byte
	how     string // "" for the data itself, else "…, decoded: "
	decoded bool   // from base64 or hex: bytes, not text
	depth   int
}

// views are data and what it decodes to: percent-escapes undone, and
// each run of base64, base64url or hex decoded; then the same for each of
// those, maxDepth deep.
func views(data []byte) []view {
	all := []view{{data: data}}
	for i := 0; i < len(all) && len(all) < maxViews; i++ {
		v := all[i]
		if v.depth == maxDepth {
			continue
		}
		next := func(data []byte, how string, decoded bool) {
			if len(all) < maxViews {
				all = append(all, view{data: data, how: v.how + how + ", decoded: ", decoded: decoded, depth: v.depth + 1})
			}
		}
		if bytes.IndexByte(v.data, '%') >= 0 {
			if u := unescapeLeniently(v.data); !bytes.Equal(u, v.data) {
				next(u, "percent-escapes", false)
			}
		}
		for _, run := range base64Runs(v.data) {
			for _, d := range decodeBase64(run) {
				next(d, "base64", true)
			}
		}
		for _, run := range hexRuns(v.data) {
			for _, d := range decodeHex(run) {
				next(d, "hex", true)
			}
		}
	}
	return all
}

// unescapeLeniently decodes the valid %XX escapes of data and keeps the
// rest as it is (a log holds names like "%zz" that url.PathUnescape
// refuses).
func unescapeLeniently(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] == '%' && i+2 < len(data) && isHex(data[i+1]) && isHex(data[i+2]) {
			out = append(out, unhex(data[i+1])<<4|unhex(data[i+2]))
			i += 2
			continue
		}
		out = append(out, data[i])
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

// base64Runs are the runs of base64 or base64url characters of data, at
// least shortestRun long, without their padding.
func base64Runs(data []byte) [][]byte {
	return runs(data, isBase64)
}

// hexRuns are the runs of hex digits of data, at least shortestRun long.
func hexRuns(data []byte) [][]byte {
	return runs(data, isHex)
}

func runs(data []byte, in func(byte) bool) [][]byte {
	var found [][]byte
	for i := 0; i < len(data); {
		j := i
		for j < len(data) && in(data[j]) {
			j++
		}
		if j-i >= shortestRun {
			found = append(found, data[i:j])
		}
		i = j + 1
	}
	return found
}

// decodeBase64 decodes run from each of its first four characters: the
// encoded value may start inside the run (a prefix glued to it), and only
// one start is aligned with it.
func decodeBase64(run []byte) [][]byte {
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(run, "-_") {
		enc = base64.RawURLEncoding
	}
	var out [][]byte
	for start := 0; start < 4 && len(run)-start >= shortestRun; start++ {
		r := run[start:]
		if len(r)%4 == 1 {
			r = r[:len(r)-1] // no character alone encodes a byte
		}
		d := make([]byte, enc.DecodedLen(len(r)))
		if n, err := enc.Decode(d, r); err == nil {
			out = append(out, d[:n])
		}
	}
	return out
}

// decodeHex decodes run from its first and its second digit.
func decodeHex(run []byte) [][]byte {
	var out [][]byte
	for start := 0; start < 2; start++ {
		r := run[start:]
		r = r[:len(r)/2*2]
		d := make([]byte, len(r)/2)
		if _, err := hex.Decode(d, r); err == nil {
			out = append(out, d)
		}
	}
	return out
}
