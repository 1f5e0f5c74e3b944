package caddymodule

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
)

// sniffedTypes are the media types sniffType can tell, so the ones types
// may list: those of the WHATWG MIME Sniffing standard that Go's
// http.DetectContentType knows, HTML, and SVG.
var sniffedTypes = []string{
	"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
	"video/mp4", "video/webm", "video/avi", "audio/mpeg", "audio/wave", "audio/aiff", "audio/midi", "application/ogg",
	"application/pdf", "application/zip", "application/x-gzip", "application/x-rar-compressed", "application/wasm",
	"application/postscript", "font/woff", "font/woff2", "font/ttf", "font/otf", "font/collection",
	"application/vnd.ms-fontobject", "text/plain", "text/xml", "text/html", "image/svg+xml", "application/octet-stream",
}

// sniffType tells a file's media type from its first bytes, as browsers
// do (http.DetectContentType), never from a name or a client's word. A
// document whose root element is <svg> is image/svg+xml, which the
// standard leaves out.
func sniffType(head []byte) string {
	t := mediaType(http.DetectContentType(head))
	if (t == "text/xml" || t == "text/plain" || t == "text/html") && rootIsSVG(head) {
		return "image/svg+xml"
	}
	return t
}

// rootIsSVG reports whether the first element of an XML or HTML document,
// after any byte order mark, declaration, doctype and comments, is <svg.
func rootIsSVG(head []byte) bool {
	rest := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		lower := bytes.ToLower(rest[:min(len(rest), 9)])
		var end []byte
		switch {
		case bytes.HasPrefix(lower, []byte("<?")):
			end = []byte("?>")
		case bytes.HasPrefix(lower, []byte("<!--")):
			end = []byte("-->")
		case bytes.HasPrefix(lower, []byte("<!doctype")):
			end = []byte(">")
		default:
			return bytes.HasPrefix(lower, []byte("<svg")) && len(rest) > 4 && strings.IndexByte(" \t\r\n>/", rest[4]) >= 0
		}
		i := bytes.Index(rest, end)
		if i < 0 {
			return false
		}
		rest = rest[i+len(end):]
	}
}

// mediaType is the type of a Content-Type value, without parameters.
func mediaType(contentType string) string {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType
	}
	return t
}
