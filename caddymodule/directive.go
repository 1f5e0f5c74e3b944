package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("azure_blob", parseAzureBlob)
	httpcaddyfile.RegisterDirectiveOrder("azure_blob", httpcaddyfile.Before, "reverse_proxy")
}

// parseAzureBlob sets up the azure_blob directive, one block per route:
//
//	azure_blob [<matcher>] {
//		container         <name>
//		prefix            <blob name prefix>
//		strip_prefix      <request path prefix>
//		index             <blob name>
//		account           <name>
//		endpoint          <url>
//		account_key       <base64 key>
//		connection_string <connection string>
//		sas_token         <token>
//		anonymous
//		identity          <kind> [<args>…]
//		scope             blob|container
//		ttl               <duration>
//		renew_before      <duration>
//		version           <service version>
//		policy            <stored access policy id>
//		cache_control | content_type | content_disposition | content_encoding | content_language <value>
//		guess_content_type
//		<http transport option> ...
//		fallback {
//			<any option above but strip_prefix and index>
//		}
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// read_timeout …), as in the azure_blob transport's block.
//
// Each fallback block is another origin, tried in order when the ones
// before it have no such blob; it inherits every option it does not give,
// except that one giving an account, endpoint or credential inherits none
// of those. With index, a path ending in '/' serves that blob, and a path
// without the '/' whose index exists is redirected (308) to it.
//
// Like php_fastcgi, it expands into Caddy's own handlers, so the adapted
// JSON shows what runs: per origin, the azure_blob handler (path to blob,
// 405, 400) and reverse_proxy with the azure_blob transport, to the
// account's endpoint, whose handle_response routes Azure's 404 to the next
// origin. A 404 from the last becomes a Caddy 404 error (handle_errors can
// serve a page); 412, 416 and 503 pass; any other error status becomes a
// 502 error. Azure's error bodies never reach the client.
func parseAzureBlob(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	h.Next() // the directive name
	// This strips the matcher token and rewinds to the directive's start.
	userMatcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	h.Next() // the directive name, again
	if h.NextArg() {
		return nil, h.Err("azure_blob takes a matcher and a block, and no other argument")
	}
	var main blobOrigin
	var fallbacks []caddyfile.Segment
	seen := make(map[string]bool)
	for h.NextBlock(0) {
		switch option := h.Val(); option {
		case "strip_prefix", "index":
			if seen[option] {
				return nil, h.Errf("%s given twice", option)
			}
			seen[option] = true
			field := &main.handler.StripPrefix
			if option == "index" {
				field = &main.handler.Index
			}
			if !h.AllArgs(field) {
				return nil, h.ArgErr()
			}
		case "fallback":
			fallbacks = append(fallbacks, h.NextSegment())
		default:
			if err := main.unmarshalOption(h.Dispenser, seen); err != nil {
				return nil, err
			}
		}
	}
	origins := []blobOrigin{main}
	for _, segment := range fallbacks {
		fallback, err := main.fallback(segment)
		if err != nil {
			return nil, err
		}
		origins = append(origins, fallback)
	}
	for i := range origins {
		if err := origins[i].pin(); err != nil {
			if i > 0 {
				return nil, h.Errf("azure_blob: fallback %d: %v", i, err)
			}
			return nil, h.Errf("azure_blob: %v", err)
		}
	}
	route := caddyhttp.Route{HandlersRaw: originChain(origins, 0, false)}
	if userMatcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{userMatcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
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
		return exactlyOneCredential(c.AccountKey != "", c.ConnectionString != "", c.SASToken != "", c.Anonymous, c.Identity != nil)
	}
	_, err := c.provisionOrigin()
	return err
}

func hasPlaceholder(values ...string) bool {
	for _, v := range values {
		if strings.Contains(v, "{") {
			return true
		}
	}
	return false
}
