package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Cache-Control of the errors azure_blob answers, for a shield or CDN in
// front of it. Without one, caches pick a TTL themselves (Varnish keeps a
// 404 for two minutes, some CDNs longer). A missing blob may be uploaded
// at any moment, so a 404 is kept briefly: long enough to spare Azure a
// flood of requests for one missing name, short enough that an upload
// shows soon. Any other error says nothing lasting about the blob (Azure
// busy or failing, a request refused), so it is never kept.
const (
	notFoundCacheControl = "max-age=10"
	errorNoStore         = "no-store"
)

// errorCacheControl is the Cache-Control of an error answer with code.
func errorCacheControl(code int) string {
	if code == http.StatusNotFound {
		return notFoundCacheControl
	}
	return errorNoStore
}

// setErrorCacheControl sets the Cache-Control of err's status on h, over
// any a site-wide header directive set for blobs (a year for a 404 would
// hide an upload for a year). handle_errors runs later, so a site can
// still choose its own.
func setErrorCacheControl(h http.Header, err error) {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		h.Set("Cache-Control", errorCacheControl(he.StatusCode))
	}
}
