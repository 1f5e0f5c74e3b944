package caddymodule

import (
	"mime"
	"net/http"
	"strings"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// Whoever holds an upload URL chooses the Content-Type, Cache-Control,
// Content-Disposition and Content-Encoding stored with the blob, and a SAS
// cannot stop that. So a container of what users uploaded is served with
// headers Caddy decides, as GitHub and Google serve user content: types
// that can run script (SVG, HTML, XML, PDF …) are never rendered, and
// nothing the upload holds runs with the site's origin.

// The Content-Security-Policy of user_content answers: a sandbox (no
// script, form, plugin, popup or top navigation) that loads nothing but
// the media itself. What is served inline is a document the browser makes
// for an image, audio or video; allow-same-origin is there because
// Chromium's video document cannot load its own URL from the opaque
// origin of a full sandbox (seen in Chromium 156), and script stays off
// twice over, by the sandbox and by default-src 'none'. What is served as
// a download is never rendered; should a browser render it anyway, it
// gets an opaque origin and may load nothing.
const (
	inlineCSP     = "sandbox allow-same-origin; default-src 'none'; img-src 'self'; media-src 'self'"
	attachmentCSP = "sandbox; default-src 'none'"
)

// userContentCacheControl replaces the Cache-Control an uploader stored
// (a year-long immutable would keep a file reported and removed in every
// cache for a year) unless cache_control is set: five minutes, as GitHub
// serves raw user content.
const userContentCacheControl = "max-age=300"

// octetStream is the type of what is served as a download.
const octetStream = "application/octet-stream"

// inlineTypes are the types served inline: images, audio and video that
// browsers decode as media and never run script in. SVG is an image that
// can hold script, and is not among them.
var inlineTypes = map[string]bool{
	"image/apng": true, "image/avif": true, "image/bmp": true, "image/gif": true, "image/jpeg": true,
	"image/png": true, "image/webp": true, "image/x-icon": true, "image/vnd.microsoft.icon": true,
	"audio/aac": true, "audio/flac": true, "audio/mp4": true, "audio/mpeg": true, "audio/ogg": true,
	"audio/wav": true, "audio/webm": true,
	"video/mp4": true, "video/ogg": true, "video/quicktime": true, "video/webm": true,
}

// userContentHeaders are the headers a user_content answer carries instead
// of those stored with the blob, worked out from the type Azure answered
// with (the stored one, or the signed content_type): an inline type as
// itself, without parameters, and inline unless content_disposition says
// otherwise; anything else as application/octet-stream, an attachment.
// The Cache-Control is cache_control, or userContentCacheControl.
func userContentHeaders(overrides HeaderOverrides, contentType string) sas.ResponseHeaders {
	h := sas.ResponseHeaders{CacheControl: overrides.CacheControl, ContentType: octetStream, ContentDisposition: "attachment"}
	if h.CacheControl == "" {
		h.CacheControl = userContentCacheControl
	}
	if mediaType, _, err := mime.ParseMediaType(contentType); err == nil && inlineTypes[mediaType] {
		h.ContentType, h.ContentDisposition = mediaType, "inline"
		if overrides.ContentDisposition != "" {
			h.ContentDisposition = overrides.ContentDisposition
		}
	} else if isAttachment(overrides.ContentDisposition) {
		h.ContentDisposition = overrides.ContentDisposition // with the filename it may give
	}
	return h
}

// isAttachment reports whether a Content-Disposition value is an attachment.
func isAttachment(disposition string) bool {
	kind, _, _ := strings.Cut(disposition, ";")
	return strings.EqualFold(strings.TrimSpace(kind), "attachment")
}

// serveAsUserContent puts the headers of a user_content answer on h, an
// answer of Azure's with status code, for a route with overrides. A cache takes the headers of a 304
// into what it stored (RFC 9111, 4.3.4), and the type a 304 carries is
// not the blob's (Azurite 3.37 sends application/xml): so a 304 carries
// no type and no disposition, which the stored answer keeps, and the
// media policy, which runs no script whatever was stored.
func serveAsUserContent(overrides HeaderOverrides, code int, h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	if code >= 300 && code != http.StatusNotModified {
		// A 412 or 416, or a refusal: no blob's headers to replace, and
		// nothing a cache should keep.
		h.Set("Content-Security-Policy", attachmentCSP)
		h.Set("Cache-Control", errorNoStore)
		return
	}
	uc := userContentHeaders(overrides, h.Get("Content-Type"))
	h.Set("Cache-Control", uc.CacheControl)
	if code == http.StatusNotModified {
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		h.Set("Content-Security-Policy", inlineCSP)
		return
	}
	h.Set("Content-Type", uc.ContentType)
	h.Set("Content-Disposition", uc.ContentDisposition)
	if uc.ContentType == octetStream {
		h.Set("Content-Security-Policy", attachmentCSP)
	} else {
		h.Set("Content-Security-Policy", inlineCSP)
	}
}
