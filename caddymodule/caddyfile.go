package caddymodule

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("azure_blob", parseAzureBlob)
	httpcaddyfile.RegisterDirectiveOrder("azure_blob", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterHandlerDirective("azure_sas", parseAzureSAS)
	httpcaddyfile.RegisterDirectiveOrder("azure_sas", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterHandlerDirective("azure_upload", parseAzureUpload)
	httpcaddyfile.RegisterDirectiveOrder("azure_upload", httpcaddyfile.Before, "reverse_proxy")
}

// parseAzureUpload sets up the azure_upload directive: see
// Uploader.UnmarshalCaddyfile. What needs no secret is checked here, so a
// mistake points at its line.
func parseAzureUpload(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	u := new(Uploader)
	if err := u.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if err := u.Validate(); err != nil {
		return nil, h.Errf("azure_upload: %v", err)
	}
	if _, err := u.authorizeAtAdapt(); err != nil {
		return nil, h.Errf("azure_upload: %v", err)
	}
	return u, nil
}

// parseAzureBlob sets up the azure_blob directive, one block per route:
//
//	azure_blob [<matcher>] {
//		container         <name>
//		prefix            <blob name prefix, with placeholders>
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
//		user_content
//		redirect          [302|303|307 [<lifetime>]]
//		redirect_endpoint <url>
//		cors              <origin>... | *
//		<http transport option> ...
//		fallback {
//			<any option above but strip_prefix, index, cors and redirect*>
//		}
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// read_timeout …), as in the azure_blob transport's block.
//
// A prefix may be built per request from placeholders, each a whole
// segment followed by '/' (users/{http.auth.user.id}/), so that each user
// reads their own blobs only: placeholders of who the client is as Caddy
// checked it ({http.auth.user.*}, {http.vars.*},
// {http.request.tls.client.*}); those of the request itself ({query.*},
// {header.*}, {host} …) and of the client's address are refused.
// user_content serves a container of what users uploaded so that nothing
// in it runs as the site (Transport).
//
// Each fallback block is another origin, tried in order when the ones
// before it have no such blob; it inherits every option it does not give,
// except that one giving an account, endpoint or credential inherits none
// of those. With index, a path ending in '/' serves that blob, and a path
// without the '/' whose index exists is redirected (308) to it.
//
// With redirect, a request for a blob is answered with a redirect (302 by
// default) to the blob's URL with a read-only SAS, valid for lifetime (the
// ttl, 1h by default), on redirect_endpoint when a CDN or custom domain
// stands in front of the account. Where a fallback or index follows, each
// origin is asked first with a signed HEAD whether it has the blob; the
// last origin of a directive without index is not asked.
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
	var main origin
	main.transport.Caddyfile = position(h.Dispenser)
	var fallbacks []caddyfile.Segment
	var redirect *Redirect
	var redirectTTL caddy.Duration
	seen := make(map[string]bool)
	for h.NextBlock(0) {
		switch option := h.Val(); option {
		case "redirect":
			if seen[option] {
				return nil, h.Errf("%s given twice", option)
			}
			seen[option] = true
			if redirect == nil {
				redirect = new(Redirect)
			}
			args := h.RemainingArgs()
			if len(args) > 2 {
				return nil, h.ArgErr()
			}
			if len(args) > 0 {
				if redirect.StatusCode, err = strconv.Atoi(args[0]); err != nil {
					return nil, h.Err("redirect: the status is a number: 302, 303 or 307")
				}
			}
			if len(args) > 1 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil {
					return nil, h.Errf("redirect: the lifetime: %v", err)
				}
				redirectTTL = caddy.Duration(dur)
			}
		case "cors":
			cors, err := unmarshalCORS(h.Dispenser, seen)
			if err != nil {
				return nil, err
			}
			main.handler.CORS = cors
		case "redirect_endpoint":
			if redirect == nil {
				redirect = new(Redirect)
			}
			if err := unmarshalString(h.Dispenser, seen, &redirect.Endpoint); err != nil {
				return nil, err
			}
		case "strip_prefix", "index":
			field := &main.handler.StripPrefix
			if option == "index" {
				field = &main.handler.Index
			}
			if err := unmarshalString(h.Dispenser, seen, field); err != nil {
				return nil, err
			}
		case "fallback":
			fallbacks = append(fallbacks, h.NextSegment())
		default:
			if err := main.unmarshalOption(h.Dispenser, seen, azureBlobOptions); err != nil {
				return nil, err
			}
		}
	}
	if redirect != nil && !seen["redirect"] {
		return nil, h.Err("redirect_endpoint needs redirect")
	}
	if redirect != nil {
		if _, err := redirect.validate(); err != nil {
			return nil, h.Errf("azure_blob: %v", err)
		}
	}
	if redirectTTL != 0 {
		if main.transport.TTL != 0 {
			return nil, h.Err("give the lifetime of redirects once: with redirect or with ttl")
		}
		main.transport.TTL = redirectTTL
	}
	origins := []origin{main}
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
	if redirect != nil {
		for i, o := range origins {
			if err := checkRedirectOptions(&o.transport.ReadOrigin); err != nil {
				return nil, h.Errf("azure_blob: %v", err)
			}
			main := origins[0].transport
			if i > 0 && redirect.Endpoint != "" && (o.transport.Account != main.Account || o.transport.Endpoint != main.Endpoint ||
				o.transport.ConnectionString != main.ConnectionString) {
				return nil, h.Err("azure_blob: redirect_endpoint stands for the main origin's account: a fallback on another account would get its tokens sent there")
			}
		}
	}
	route := caddyhttp.Route{HandlersRaw: originChain(origins, 0, false)}
	if redirect != nil {
		route.HandlersRaw = redirectChain(origins, *redirect)
	}
	if userMatcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{userMatcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// parseAzureSAS sets up the azure_sas handler:
//
//	azure_sas [<matcher>] {
//		container         <name>
//		prefix            <blob name prefix, with placeholders>
//		permissions       <letters>…
//		ttl               <duration>
//		max_ttl           <duration>
//		account           <name>
//		endpoint          <url>
//		account_key       <base64 key>
//		connection_string <connection string>
//		identity          <kind> [<args>…]
//		version           <service version>
//		cache_control | content_type | content_disposition | content_encoding | content_language <value>
//		<http transport option> ...
//	}
//
// It belongs behind authentication: see Issuer. A sas_token or anonymous
// has nothing to sign with and is refused.
func parseAzureSAS(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	var is Issuer
	is.Caddyfile = position(h.Dispenser)
	// The options it shares with azure_blob, read from the same table: its
	// origin, the header overrides it signs into the URLs, and the http
	// transport options an identity's keys are fetched with.
	fields := optionFields{origin: &is.Origin, headers: &is.HeaderOverrides, http: &is.Connection}
	seen := make(map[string]bool)
	for h.NextBlock(0) {
		switch option := h.Val(); option {
		case "prefix":
			if err := unmarshalPrefix(h.Dispenser, seen, &is.Prefix); err != nil {
				return nil, err
			}
		case "cors":
			cors, err := unmarshalCORS(h.Dispenser, seen)
			if err != nil {
				return nil, err
			}
			is.CORS = cors
		case "permissions":
			if seen[option] {
				return nil, h.Errf("%s given twice", option)
			}
			seen[option] = true
			letters := h.RemainingArgs()
			if len(letters) == 0 {
				return nil, h.ArgErr()
			}
			is.Permissions = strings.Join(letters, "")
		case "ttl", "max_ttl":
			var value string
			if seen[option] || !h.AllArgs(&value) {
				return nil, h.Errf("%s takes one duration, once", option)
			}
			seen[option] = true
			dur, err := caddy.ParseDuration(value)
			if err != nil {
				return nil, h.Errf("%s: %v", option, err)
			}
			if option == "ttl" {
				is.TTL = caddy.Duration(dur)
			} else {
				is.MaxTTL = caddy.Duration(dur)
			}
		default:
			if opt, ok := lookupOriginOption(option); ok {
				if err := refuseIn(takenByAzureSAS, opt); err != nil {
					return nil, h.Errf("azure_sas: %v", err)
				}
			}
			if err := unmarshalOptionInto(h.Dispenser, seen, azureSASOptions, fields); err != nil {
				return nil, err
			}
		}
	}
	if err := is.Validate(); err != nil {
		return nil, h.Errf("azure_sas: %v", err)
	}
	if err := is.checkAtAdapt(); err != nil {
		return nil, h.Errf("azure_sas: %v", err)
	}
	return &is, nil
}

// position is where the token under the cursor is, as file:line.
func position(d *caddyfile.Dispenser) string {
	return d.File() + ":" + strconv.Itoa(d.Line())
}
