package caddymodule

import (
	"net/http"
	"strings"
)

// forwardedRequestHeaders are the only client headers Azure gets: a range,
// and the conditions that make 304 and 412 work. Everything else the client
// chose (Authorization, Cookie, x-ms-* that change the operation …) stays
// behind.
var forwardedRequestHeaders = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// forwardedHeaders returns the allowed headers of h. A Range that Azure
// cannot serve as asked is dropped, so the client gets the whole blob
// (RFC 9110 lets a server ignore Range): several ranges, a malformed one,
// or one under If-Range, which Azure does not support.
func forwardedHeaders(h http.Header) http.Header {
	out := make(http.Header, len(forwardedRequestHeaders)+1)
	for _, name := range forwardedRequestHeaders {
		for _, v := range h.Values(name) {
			if strings.TrimSpace(v) != "" { // an empty value means nothing, and Azure may refuse it
				out[name] = append(out[name], v)
			}
		}
	}
	if r := out.Get("Range"); r != "" && (len(out["Range"]) > 1 || h.Get("If-Range") != "" || !singleByteRange(r)) {
		out.Del("Range")
	}
	return out
}

// singleByteRange reports whether r is one range: bytes=a-b, bytes=a- or
// bytes=-n.
func singleByteRange(r string) bool {
	spec, ok := strings.CutPrefix(r, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return false
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	return ok && (first != "" || last != "") && digits(first) && digits(last)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 18 // fits an int64
}

// stripAzureHeaders removes what tells clients about the origin: x-ms-*
// (request ids, version, server encryption …) and Server.
func stripAzureHeaders(h http.Header) {
	for name := range h {
		if len(name) >= 5 && strings.EqualFold(name[:5], "x-ms-") {
			delete(h, name)
		}
	}
	h.Del("Server")
}
