package caddymodule

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/rewrite"
)

// blobOrigin is one origin of an azure_blob directive: where its blobs are
// (handler: container and prefix) and how they are read (transport).
type blobOrigin struct {
	handler   Handler
	transport Transport
	dial      string     // the endpoint's address, when the config gives it
	source    *Upstreams // else this finds it when the config is provisioned
}

// originIdentity are the options that say which account is read and how:
// a fallback that gives one of them gives its own, and inherits none.
var originIdentity = []string{"account", "endpoint", "account_key", "connection_string", "sas_token", "anonymous", "identity"}

// unmarshalOption reads an option of an origin block under the cursor.
func (o *blobOrigin) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool) error {
	switch option := d.Val(); option {
	case "container", "prefix":
		if seen[option] {
			return d.Errf("%s given twice", option)
		}
		seen[option] = true
		field := &o.handler.Prefix
		if option == "container" {
			field = &o.handler.Container
		}
		if !d.AllArgs(field) {
			return d.ArgErr()
		}
		return nil
	case "strip_prefix", "index", "fallback":
		return d.Errf("%s belongs to the azure_blob block, not to a fallback", option)
	}
	return o.transport.unmarshalOption(d, seen)
}

// fallback makes the origin a fallback block describes: a copy of o with
// the block's options on top. A block that names an account, endpoint or
// credential inherits none of those, nor the header overrides; one that
// names another container (or account) does not inherit policy.
func (o blobOrigin) fallback(segment caddyfile.Segment) (blobOrigin, error) {
	var f blobOrigin
	raw, err := json.Marshal(o.transport)
	if err == nil {
		err = json.Unmarshal(raw, &f.transport) // a deep copy: the http transport's settings are pointers
	}
	if err != nil {
		return f, err
	}
	f.handler = Handler{Container: o.handler.Container, Prefix: o.handler.Prefix, StripPrefix: o.handler.StripPrefix, Index: o.handler.Index}
	d := caddyfile.NewDispenser(segment)
	d.Next() // "fallback"
	if d.NextArg() {
		return f, d.ArgErr()
	}
	var options []string
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		options = append(options, d.Val())
		d.NextSegment()
	}
	newIdentity := slices.ContainsFunc(options, func(o string) bool { return slices.Contains(originIdentity, o) })
	if newIdentity {
		f.transport.Account, f.transport.Endpoint, f.transport.AccountKey = "", "", ""
		f.transport.ConnectionString, f.transport.SASToken, f.transport.Anonymous, f.transport.Identity = "", "", false, nil
		// Signed into tokens of the old credential; another may not sign.
		f.transport.CacheControl, f.transport.ContentType, f.transport.ContentDisposition = "", "", ""
		f.transport.ContentEncoding, f.transport.ContentLanguage = "", ""
	}
	if newIdentity || slices.Contains(options, "container") {
		f.transport.Policy = "" // a stored access policy belongs to one container
	}
	d = caddyfile.NewDispenser(segment)
	d.Next()
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := f.unmarshalOption(d, seen); err != nil {
			return f, err
		}
	}
	return f, nil
}

// pin checks the origin as far as can be done without secrets and fixes
// the address Caddy dials. A literal address is pinned into the config,
// so that a connection string resolved later cannot point the tokens
// elsewhere; one that comes from placeholders (a connection string in the
// environment, say) is left to the azure_blob upstream source, which
// resolves it from the same options as the transport when the config is
// provisioned.
func (o *blobOrigin) pin() error {
	o.transport.Container = o.handler.Container
	if err := o.handler.Validate(); err != nil {
		return err
	}
	if err := o.transport.checkAtAdapt(); err != nil {
		return err
	}
	t := &o.transport
	if t.Endpoint == "" || hasPlaceholder(t.Endpoint) {
		if hasPlaceholder(t.Account, t.Endpoint, t.ConnectionString) {
			o.source = &Upstreams{Account: t.Account, Endpoint: t.Endpoint, ConnectionString: t.ConnectionString}
			return nil
		}
		addr, err := resolveAddress(t.Account, t.Endpoint, t.ConnectionString)
		if err != nil {
			return err
		}
		t.Endpoint = addr.endpoint.String()
	}
	u, err := parseEndpoint(t.Endpoint)
	if err != nil {
		return err
	}
	o.dial = hostPort(u)
	return nil
}

// originChain is the handlers that read origins[i]: its azure_blob handler
// and a reverse_proxy whose 404 goes on to the next origin, then (with an
// index) to the probes that tell a directory without its '/', then to a
// 404 error. A probe asks with HEAD for path + "/" + index and, when the
// index exists, redirects to the path with its '/'.
func originChain(origins []blobOrigin, i int, probe bool) []json.RawMessage {
	o := origins[i]
	handler := o.handler
	handler.Fallback = i > 0 || probe
	handler.IndexProbe = probe
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
		HandleResponse: azureResponseHandlers(missing, probe),
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

// azureResponseHandlers turn Azure's statuses into what a CDN origin
// answers: 412 and 416 pass with Azure's status and headers (the
// transport has emptied their body); 404 runs missing (the next origin, or a 404 error); 503
// (ServerBusy) becomes a Caddy 503 error that keeps Azure's Retry-After;
// any other 4xx or 5xx (our token or request was wrong, or Azure failed)
// is a 502 error. Errors carry none of Azure's body, so handle_errors pages
// work and no XML leaks. For an index probe, a found index (2xx, 304) is a
// 308 redirect to the path with its '/'.
func azureResponseHandlers(missing []json.RawMessage, probe bool) []caddyhttp.ResponseHandler {
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
		redirect := caddyconfig.JSONModuleObject(caddyhttp.StaticResponse{
			StatusCode: "308",
			Headers:    map[string][]string{"Location": {"{http.azure_blob.index_redirect}"}},
		}, "handler", "static_response", nil)
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
