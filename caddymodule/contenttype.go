package caddymodule

import (
	"mime"
	"net/http"
	"path"
	"strings"
)

// mediaTypes are the types guess_content_type knows first, so that media a
// CDN serves get the same type on every machine (mime.TypeByExtension also
// reads the system's tables, which differ).
var mediaTypes = map[string]string{
	".avif": "image/avif", ".bmp": "image/bmp", ".gif": "image/gif", ".heic": "image/heic", ".ico": "image/x-icon",
	".jpeg": "image/jpeg", ".jpg": "image/jpeg", ".jxl": "image/jxl", ".png": "image/png", ".svg": "image/svg+xml",
	".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
	".aac": "audio/aac", ".flac": "audio/flac", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".oga": "audio/ogg",
	".ogg": "audio/ogg", ".opus": "audio/ogg", ".wav": "audio/wav", ".weba": "audio/webm",
	".m4v": "video/mp4", ".mkv": "video/x-matroska", ".mov": "video/quicktime", ".mp4": "video/mp4",
	".ogv": "video/ogg", ".ts": "video/mp2t", ".webm": "video/webm",
	".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml", ".vtt": "text/vtt",
	".css": "text/css; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".htm": "text/html; charset=utf-8",
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".json": "application/json",
	".md": "text/markdown; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".pdf": "application/pdf",
	".txt": "text/plain; charset=utf-8", ".wasm": "application/wasm", ".xml": "application/xml",
	".otf": "font/otf", ".ttf": "font/ttf", ".woff": "font/woff", ".woff2": "font/woff2",
	".gz": "application/gzip", ".zip": "application/zip",
}

// guessContentType sets h's Content-Type from blob's extension when Azure
// sent the type it stores for uploads that set none.
func guessContentType(h http.Header, blob string) {
	if ct := h.Get("Content-Type"); ct != "" && ct != "application/octet-stream" {
		return
	}
	ext := strings.ToLower(path.Ext(blob))
	if ext == "" {
		return
	}
	guess := mediaTypes[ext]
	if guess == "" {
		guess = mime.TypeByExtension(ext)
	}
	if guess != "" {
		h.Set("Content-Type", guess)
	}
}
