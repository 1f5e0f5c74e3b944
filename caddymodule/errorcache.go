package caddymodule

import (
	"errors"
	"net/http"
	"strings"

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
// hide an upload for a year), made private when the answer depends on who
// asked (a 404 under one user's prefix says nothing about another's).
// handle_errors runs later, so a site can still choose its own.
func setErrorCacheControl(h http.Header, err error, private bool) {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		h.Set("Cache-Control", errorCacheControl(he.StatusCode))
	}
	if private {
		h.Set("Cache-Control", privately(h.Get("Cache-Control")))
	}
}

// privately makes cacheControl private: only the client's own cache may
// keep the answer. It is for answers that depend on who asked, a redirect
// whose token a request with credentials got or a blob under a prefix per
// user: RFC 9111 (3.5) lets a shared cache reuse an answer to a request
// with Authorization when it says public, s-maxage or must-revalidate, and
// nothing stops one from keeping an answer to a request with a Cookie.
// public and s-maxage go, and private leads (no shared cache may then
// store it, whatever else it says); no-store stays as it is.
func privately(cacheControl string) string {
	kept := []string{"private"}
	for directive := range strings.SplitSeq(cacheControl, ",") {
		directive = strings.TrimSpace(directive)
		name, _, _ := strings.Cut(strings.ToLower(directive), "=")
		switch name {
		case "no-store":
			return cacheControl
		case "", "private", "public", "s-maxage":
			continue
		}
		kept = append(kept, directive)
	}
	return strings.Join(kept, ", ")
}
