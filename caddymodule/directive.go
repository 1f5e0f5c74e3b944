package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

func init() {
	httpcaddyfile.RegisterDirective("azure_blob", parseAzureBlob)
	httpcaddyfile.RegisterDirectiveOrder("azure_blob", httpcaddyfile.Before, "reverse_proxy")
}

// parseAzureBlob sets up the azure_blob directive, one block per origin:
//
//	azure_blob [<matcher>] {
//		container         <name>
//		prefix            <blob name prefix>
//		strip_prefix      <request path prefix>
//		account           <name>
//		endpoint          <url>
//		account_key       <base64 key>
//		connection_string <connection string>
//		sas_token         <token>
//		anonymous
//		scope             blob|container
//		ttl               <duration>
//		renew_before      <duration>
//		version           <service version>
//		<http transport option> ...
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// read_timeout …), as in the azure_blob transport's block.
//
// Like php_fastcgi, it expands into Caddy's own handlers, so the adapted
// JSON shows what runs: the azure_blob handler (path to blob, 405, 400)
// and reverse_proxy with the azure_blob transport, to the account's
// endpoint. Azure's 404 becomes a Caddy 404 error (handle_errors can serve
// a page); 412, 416 and 503 pass; any other error status becomes a 502
// error. Azure's error bodies never reach the client.
func parseAzureBlob(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next() // the directive name
	// This strips the matcher token and rewinds to the directive's start.
	userMatcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	h.Next() // the directive name, again
	if h.NextArg() {
		return nil, h.Errf("azure_blob takes a matcher and a block, not %q", h.Val())
	}
	var handler Handler
	var transport Transport
	seen := make(map[string]bool)
	for h.NextBlock(0) {
		switch option := h.Val(); option {
		case "container", "prefix", "strip_prefix":
			if seen[option] {
				return nil, h.Errf("%s given twice", option)
			}
			seen[option] = true
			field := map[string]*string{"container": &handler.Container, "prefix": &handler.Prefix, "strip_prefix": &handler.StripPrefix}[option]
			if !h.AllArgs(field) {
				return nil, h.ArgErr()
			}
		default:
			if err := transport.unmarshalOption(h.Dispenser, seen); err != nil {
				return nil, err
			}
		}
	}
	transport.Container = handler.Container
	if err := handler.Validate(); err != nil {
		return nil, h.Errf("azure_blob: %v", err)
	}
	// The endpoint Caddy dials is pinned in the transport, so a connection
	// string resolved later cannot point the tokens elsewhere.
	endpoint, err := transport.adaptEndpoint()
	if err != nil {
		return nil, h.Errf("azure_blob: %v", err)
	}
	transport.Endpoint = endpoint
	if err := transport.checkAtAdapt(); err != nil {
		return nil, h.Errf("azure_blob: %v", err)
	}
	dial, err := dialAddress(endpoint)
	if err != nil {
		return nil, h.Errf("azure_blob: %v", err)
	}

	proxy := reverseproxy.Handler{
		Upstreams:      reverseproxy.UpstreamPool{{Dial: dial}},
		TransportRaw:   caddyconfig.JSONModuleObject(transport, "protocol", "azure_blob", nil),
		HandleResponse: azureResponseHandlers(),
	}
	route := caddyhttp.Route{HandlersRaw: []json.RawMessage{
		caddyconfig.JSONModuleObject(handler, "handler", "azure_blob", nil),
		caddyconfig.JSONModuleObject(proxy, "handler", "reverse_proxy", nil),
	}}
	if userMatcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{userMatcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// azureResponseHandlers turn Azure's statuses into what a CDN origin
// answers: 412 and 416 pass as they are (PRODUCT.md: their body and status
// come from Azure); 404 becomes a Caddy 404 error and 503 (ServerBusy) a
// Caddy 503 error that keeps Azure's Retry-After; any other 4xx or 5xx (our
// token or request was wrong, or Azure failed) is a 502 error. Errors carry
// none of Azure's body, so handle_errors pages work and no XML leaks.
func azureResponseHandlers() []caddyhttp.ResponseHandler {
	status := func(code int) *caddyhttp.ResponseMatcher {
		return &caddyhttp.ResponseMatcher{StatusCode: []int{code}}
	}
	fail := func(code int, message string) json.RawMessage {
		return caddyconfig.JSONModuleObject(
			caddyhttp.StaticError{StatusCode: caddyhttp.WeakString(fmt.Sprint(code)), Error: message}, "handler", "error", nil)
	}
	pass := func(code int) caddyhttp.ResponseHandler {
		return caddyhttp.ResponseHandler{Match: status(code), StatusCode: caddyhttp.WeakString(fmt.Sprint(code))}
	}
	keepRetryAfter := caddyconfig.JSONModuleObject(
		reverseproxy.CopyResponseHeadersHandler{Include: []string{"Retry-After"}}, "handler", "copy_response_headers", nil)
	return []caddyhttp.ResponseHandler{
		pass(412), pass(416),
		{Match: status(404), Routes: caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{fail(404, "blob not found")}}}},
		{Match: status(503), Routes: caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{keepRetryAfter, fail(503, "the storage origin is busy")}}}},
		{Match: &caddyhttp.ResponseMatcher{StatusCode: []int{4, 5}}, Routes: caddyhttp.RouteList{{HandlersRaw: []json.RawMessage{fail(502, "the storage origin refused the request")}}}},
	}
}

// checkAtAdapt runs the checks that need no secrets: all of them when every
// credential field is literal, else the ones on the configuration's shape.
func (t *Transport) checkAtAdapt() error {
	// A copy, with the defaults Provision would apply: the adapted JSON keeps
	// only what the user wrote.
	c := *t
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	if hasPlaceholder(c.AccountKey, c.ConnectionString, c.SASToken, c.Account, c.Endpoint) {
		return exactlyOneCredential(c.AccountKey != "", c.ConnectionString != "", c.SASToken != "", c.Anonymous)
	}
	_, err := c.provisionOrigin()
	return err
}

// adaptEndpoint is the blob endpoint, which Caddy needs when it loads the
// config: given, from a literal connection string, or from the account.
func (t *Transport) adaptEndpoint() (string, error) {
	switch {
	case t.Endpoint != "" && hasPlaceholder(t.Endpoint):
		return "", errors.New("endpoint: Caddy needs the storage address when it loads the config; " +
			"write it literally ({$VAR} works, it is not a secret)")
	case t.Endpoint != "":
		return t.Endpoint, nil
	case t.ConnectionString != "" && !hasPlaceholder(t.ConnectionString):
		cs, err := sas.ParseConnectionString(t.ConnectionString)
		if err != nil {
			return "", fmt.Errorf("connection_string: %w", err)
		}
		return cs.BlobEndpoint, nil
	case t.Account != "" && !hasPlaceholder(t.Account):
		return "https://" + t.Account + ".blob.core.windows.net", nil
	}
	return "", errors.New("set endpoint or account: Caddy needs the storage address when it loads the config, " +
		"and the connection string comes from a placeholder")
}

// dialAddress is the host:port of an endpoint.
func dialAddress(endpoint string) (string, error) {
	u, err := parseEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	return hostPort(u), nil
}

func hasPlaceholder(values ...string) bool {
	for _, v := range values {
		if strings.Contains(v, "{") {
			return true
		}
	}
	return false
}
