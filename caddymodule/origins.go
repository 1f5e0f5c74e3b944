package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
)

// originChain is the handlers that read origins[i]: its azure_blob handler
// and a reverse_proxy whose 404 goes on to the next origin, then (with an
// index) to the probes that tell a directory without its '/', then to a
// 404 error. A probe asks with HEAD for path + "/" + index and, when the
// index exists, redirects to the path with its '/'.
func originChain(origins []origin, i int, probe bool) []json.RawMessage {
	o := origins[i]
	handler := o.handler
	handler.Fallback = i > 0 || probe
	handler.IndexProbe = probe
	if handler.Fallback {
		handler.CORS = nil // the first handler has set the headers, or answered the preflight
	}
	var missing []json.RawMessage
	switch {
	case i+1 < len(origins):
		missing = originChain(origins, i+1, probe)
	case !probe && handler.Index != "":
		missing = originChain(origins, 0, true)
	default:
		missing = []json.RawMessage{staticError(404, "blob not found")}
	}
	proxy := reverseproxy.Handler{
		TransportRaw:   caddyconfig.JSONModuleObject(o.transport, "protocol", "azure_blob", nil),
		HandleResponse: azureResponseHandlers(missing, probe, prefixPerRequest(handler.Prefix)),
	}
	if o.source != nil {
		proxy.DynamicUpstreamsRaw = caddyconfig.JSONModuleObject(o.source, "source", "azure_blob", nil)
	} else {
		proxy.Upstreams = reverseproxy.UpstreamPool{{Dial: o.dial}}
	}
	if probe {
		// A HEAD that asks whether the index exists, whatever the client's
		// range or conditions (an If-Match for the page must not make it 412).
		proxy.Rewrite = &rewrite.Rewrite{Method: "HEAD"}
		proxy.Headers = &headers.Handler{Request: &headers.HeaderOps{Delete: []string{
			"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}}}
	}
	return []json.RawMessage{
		caddyconfig.JSONModuleObject(handler, "handler", "azure_blob", nil),
		caddyconfig.JSONModuleObject(proxy, "handler", "reverse_proxy", nil),
	}
}

// redirectChain is the handlers of a directive with redirect: an
// azure_blob handler per origin that redirects to the blob's URL, asking
// Azure first whether the blob exists (a signed HEAD) wherever another
// origin or an index probe follows, and passing the request on when it
// does not; then, with an index, a probe per origin for a directory
// without its '/' (308 when its index exists); then a 404 error. The last
// origin of a directive without index redirects without asking, unless it
// serves user_content: the type it signs into the URL is the stored one,
// which the HEAD tells.
func redirectChain(origins []origin, rd Redirect) []json.RawMessage {
	var handlers []json.RawMessage
	add := func(i int, probe, indexProbe bool) {
		o := origins[i]
		h := o.handler
		h.Fallback, h.IndexProbe = i > 0 || indexProbe, indexProbe
		if h.Fallback {
			h.CORS = nil // the first handler has set the headers, or answered the preflight
		}
		r := rd
		r.Probe = probe
		ro := o.transport.ReadOrigin
		r.Origin, r.Connection = &ro, o.transport.HTTPTransport
		h.Redirect = &r
		handlers = append(handlers, caddyconfig.JSONModuleObject(h, "handler", "azure_blob", nil))
	}
	index := origins[0].handler.Index != ""
	lastProbes := false
	for i, o := range origins {
		lastProbes = index || i+1 < len(origins) || o.transport.UserContent
		add(i, lastProbes, false)
	}
	if index {
		for i := range origins {
			add(i, true, true)
		}
	}
	if lastProbes {
		handlers = append(handlers, staticError(404, "blob not found"))
	}
	return handlers
}

// azureResponseHandlers turn Azure's statuses into what a CDN origin
// answers: 412 and 416 pass with Azure's status and headers (the
// transport has emptied their body); 404 runs missing (the next origin, or a 404 error); 503
// (ServerBusy) becomes a Caddy 503 error that keeps Azure's Retry-After;
// any other 4xx or 5xx (our token or request was wrong, or Azure failed)
// is a 502 error. A missing container is among those: the transport
// answers it 502, so it never runs missing as a missing blob would.
// Errors carry none of Azure's body, so handle_errors pages work and no
// XML leaks. For an index probe, a found index (2xx, 304) is a
// 308 redirect to the path with its '/', private when the prefix is per
// user (another user's path may name no directory).
func azureResponseHandlers(missing []json.RawMessage, probe, private bool) []caddyhttp.ResponseHandler {
	status := func(codes ...int) *caddyhttp.ResponseMatcher {
		return &caddyhttp.ResponseMatcher{StatusCode: codes}
	}
	routes := func(handlers ...json.RawMessage) caddyhttp.RouteList {
		return caddyhttp.RouteList{{HandlersRaw: handlers}}
	}
	pass := func(code int) caddyhttp.ResponseHandler {
		return caddyhttp.ResponseHandler{Match: status(code), StatusCode: caddyhttp.WeakString(fmt.Sprint(code))}
	}
	keepRetryAfter := caddyconfig.JSONModuleObject(
		reverseproxy.CopyResponseHeadersHandler{Include: []string{"Retry-After"}}, "handler", "copy_response_headers", nil)
	var handlers []caddyhttp.ResponseHandler
	if probe {
		headers := http.Header{"Location": {"{http.azure_blob.index_redirect}"}}
		if private {
			headers.Set("Cache-Control", "private")
		}
		redirect := caddyconfig.JSONModuleObject(caddyhttp.StaticResponse{StatusCode: "308", Headers: headers}, "handler", "static_response", nil)
		handlers = append(handlers, caddyhttp.ResponseHandler{Match: status(2, 304), Routes: routes(redirect)})
	} else {
		handlers = append(handlers, pass(412), pass(416))
	}
	return append(handlers,
		caddyhttp.ResponseHandler{Match: status(404), Routes: routes(missing...)},
		caddyhttp.ResponseHandler{Match: status(503), Routes: routes(keepRetryAfter, staticError(503, "the storage origin is busy"))},
		caddyhttp.ResponseHandler{Match: status(4, 5), Routes: routes(staticError(502, "the storage origin refused the request"))},
	)
}

// staticError is Caddy's error handler with code and message.
func staticError(code int, message string) json.RawMessage {
	return caddyconfig.JSONModuleObject(
		caddyhttp.StaticError{StatusCode: caddyhttp.WeakString(fmt.Sprint(code)), Error: message}, "handler", "error", nil)
}
