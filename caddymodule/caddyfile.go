package caddymodule

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	httpcaddyfile.RegisterDirective("azure_blob", parseAzureBlob)
	httpcaddyfile.RegisterDirectiveOrder("azure_blob", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterHandlerDirective("azure_sas", parseAzureSAS)
	httpcaddyfile.RegisterDirectiveOrder("azure_sas", httpcaddyfile.Before, "reverse_proxy")
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
//		<http transport option> ...
//		fallback {
//			<any option above but strip_prefix, index and redirect*>
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
			opt, ok := lookupOriginOption(option)
			switch {
			case ok && opt.takenBy&takenByAzureSAS != 0:
			case ok && opt.kind&credentialOption != 0:
				return nil, h.Err("azure_sas: " + errNothingToSignWith.Error())
			case option == "policy":
				return nil, h.Err("azure_sas: policy is not offered: issued URLs carry their own permissions and expiry")
			case ok:
				return nil, h.Errf("%s belongs to azure_blob, not to azure_sas", option)
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

// unmarshalOption reads an option of an origin's block (the directive's,
// or a fallback's) under the cursor; block names the options the block
// takes, to suggest one for a misspelt name.
func (o *origin) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool, block []string) error {
	switch option := d.Val(); option {
	case "prefix":
		return unmarshalPrefix(d, seen, &o.handler.Prefix)
	case "strip_prefix", "index", "fallback", "redirect", "redirect_endpoint":
		return d.Errf("%s belongs to the azure_blob block, not to a fallback", option)
	}
	return o.transport.unmarshalOption(d, seen, block)
}

// The options of each block beside the http transport's, which a
// misspelt name is compared with.
var (
	transportOptions = originOptionNames(func(originOption) bool { return true })
	fallbackOptions  = append(originOptionNames(func(originOption) bool { return true }), "prefix")
	azureBlobOptions = append(originOptionNames(func(originOption) bool { return true }),
		"prefix", "strip_prefix", "index", "fallback", "redirect", "redirect_endpoint")
	azureSASOptions = append(originOptionNames(func(o originOption) bool {
		return o.takenBy&takenByAzureSAS != 0
	}), "prefix", "permissions", "ttl", "max_ttl")
	identityOptions = []string{"key_lifetime", "authority_host"}
)

// originOptionNames lists the names of originOptions that keep accepts.
func originOptionNames(keep func(originOption) bool) []string {
	var names []string
	for _, o := range originOptions {
		if keep(o) {
			names = append(names, o.name)
		}
	}
	return names
}

// position is where the token under the cursor is, as file:line.
func position(d *caddyfile.Dispenser) string {
	return d.File() + ":" + strconv.Itoa(d.Line())
}

// fallback makes the origin a fallback block describes: a copy of o with
// the block's options on top. What it does not inherit, originOptions
// says: a block that names an account, endpoint or credential inherits
// none of those, nor what was signed with them; one that names another
// container (or account) does not inherit policy.
func (o origin) fallback(segment caddyfile.Segment) (origin, error) {
	var f origin
	raw, err := json.Marshal(o.transport)
	if err == nil {
		err = json.Unmarshal(raw, &f.transport) // a deep copy: the http transport's settings are pointers
	}
	if err != nil {
		return f, err
	}
	f.handler = Handler{Prefix: o.handler.Prefix, StripPrefix: o.handler.StripPrefix, Index: o.handler.Index}
	d := caddyfile.NewDispenser(segment)
	d.Next() // "fallback"
	f.transport.Caddyfile = position(d)
	if d.NextArg() {
		return f, d.ArgErr()
	}
	var given []string
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		given = append(given, d.Val())
		d.NextSegment()
	}
	newAccount := slices.ContainsFunc(given, func(name string) bool {
		opt, ok := lookupOriginOption(name)
		return ok && opt.kind&(credentialOption|locatingOption) != 0
	})
	newContainer := newAccount || slices.Contains(given, "container")
	for _, opt := range originOptions {
		if opt.inherit == inheritSameAccount && newAccount || opt.inherit == inheritSameContainer && newContainer {
			opt.clear(&f.transport)
		}
	}
	d = caddyfile.NewDispenser(segment)
	d.Next()
	seen := make(map[string]bool)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := f.unmarshalOption(d, seen, fallbackOptions); err != nil {
			return f, err
		}
	}
	return f, nil
}

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens:
//
//	transport azure_blob {
//		account           <name>
//		endpoint          <url>
//		container         <name>
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
//		cache_control       <value>
//		content_type        <value>
//		content_disposition <value>
//		content_encoding    <value>
//		content_language    <value>
//		guess_content_type
//		user_content
//		insecure_http
//		<http transport option> ...
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// response_header_timeout, read_timeout, keepalive, tls_trust_pool,
// resolvers …), read by its own parser; Validate refuses those that would
// expose tokens or that Azure cannot speak. Give exactly one of
// account_key, connection_string, sas_token, identity and anonymous; write
// secrets as {env.VAR} or {file.path} placeholders. No option may be given
// twice.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the transport name
	t.Caddyfile = position(d)
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		if err := t.unmarshalOption(d, seen, transportOptions); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalOption reads the option under the cursor into t: see
// unmarshalOptionInto.
func (t *Transport) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool, block []string) error {
	return unmarshalOptionInto(d, seen, block, t.fields())
}

// unmarshalOptionInto reads the option under the cursor into f: one of
// originOptions, or else one of the http transport's. seen catches
// repeats; a name that neither knows is compared with block's names and
// the http transport's, to suggest the nearest.
func unmarshalOptionInto(d *caddyfile.Dispenser, seen map[string]bool, block []string, f optionFields) error {
	option := d.Val()
	if seen[option] {
		return d.Errf("%s given twice", option)
	}
	seen[option] = true
	opt, ok := lookupOriginOption(option)
	if !ok {
		unknown := unrecognizedOption(d, "subdirective", option, block, httpTransportOptionNames) // while the cursor is on the name
		err := httpTransportOption(d, f.http)
		if err != nil && strings.HasPrefix(err.Error(), "unrecognized subdirective "+option+", at ") {
			return unknown
		}
		return err
	}
	file, line := d.File(), d.Line()
	field := opt.in(f)
	if field == nil {
		return d.Errf("%s is not an option of this block", option)
	}
	switch field := field.(type) {
	case *string:
		if !d.AllArgs(field) {
			return d.ArgErr()
		}
	case *bool:
		if d.NextArg() {
			return d.ArgErr()
		}
		*field = true
	case *caddy.Duration:
		var value string
		if !d.AllArgs(&value) {
			return d.ArgErr()
		}
		dur, err := caddy.ParseDuration(value)
		if err != nil {
			return d.Errf("%s: %v", opt.name, err)
		}
		*field = caddy.Duration(dur)
	case **Identity:
		id, err := unmarshalIdentity(d)
		if err != nil {
			return err
		}
		*field = id
	}
	if name, value := secretValue(opt.name, opt.in(f)); opt.kind&secretOption != 0 && isLiteralSecret(value) {
		warnLiteralSecretAtAdapt(name, file, line)
	}
	return nil
}

// unmarshalString reads a one-argument option under the cursor into field;
// seen catches repeats.
func unmarshalString(d *caddyfile.Dispenser, seen map[string]bool, field *string) error {
	option := d.Val()
	if seen[option] {
		return d.Errf("%s given twice", option)
	}
	seen[option] = true
	if !d.AllArgs(field) {
		return d.ArgErr()
	}
	return nil
}

// unmarshalPrefix reads a blob name prefix under the cursor into field and
// checks it there, so that an error points at its line.
func unmarshalPrefix(d *caddyfile.Dispenser, seen map[string]bool, field *string) error {
	if err := unmarshalString(d, seen, field); err != nil {
		return err
	}
	if err := checkPrefixTemplate(*field); err != nil {
		return d.Err(err.Error())
	}
	return nil
}

// httpTransportOption hands the option under the cursor, with its
// arguments and block, to the embedded http transport's parser.
func httpTransportOption(d *caddyfile.Dispenser, h **reverseproxy.HTTPTransport) error {
	segment := d.NextSegment()
	first, last := segment[0], segment[len(segment)-1]
	tokens := make([]caddyfile.Token, 0, len(segment)+3)
	tokens = append(tokens,
		caddyfile.Token{File: first.File, Line: first.Line - 1, Text: "http"},
		caddyfile.Token{File: first.File, Line: first.Line - 1, Text: "{"})
	tokens = append(tokens, segment...)
	tokens = append(tokens, caddyfile.Token{File: last.File, Line: last.Line + last.NumLineBreaks() + 1, Text: "}"})
	if *h == nil {
		*h = new(reverseproxy.HTTPTransport)
	}
	return (*h).UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
}

// unmarshalIdentity reads `identity <kind> [<args>…]`:
//
//	identity default
//	identity managed [<client_id>]
//	identity workload [<client_id> [<tenant_id> [<token_file>]]]
//	identity client_secret <tenant_id> <client_id> <secret>
//	identity client_certificate <tenant_id> <client_id> <certificate_file>
//	identity azure_cli [<tenant_id>]
//
// and, in a block after it, key_lifetime <duration> and authority_host <url>.
func unmarshalIdentity(d *caddyfile.Dispenser) (*Identity, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.ArgErr()
	}
	id := &Identity{Kind: args[0]}
	fields := map[string][]*string{
		identityDefault:           nil,
		identityManaged:           {&id.ClientID},
		identityWorkload:          {&id.ClientID, &id.TenantID, &id.TokenFile},
		identityClientSecret:      {&id.TenantID, &id.ClientID, &id.ClientSecret},
		identityClientCertificate: {&id.TenantID, &id.ClientID, &id.CertificateFile},
		identityAzureCLI:          {&id.TenantID},
	}
	into, ok := fields[id.Kind]
	if !ok {
		return nil, d.Err(errIdentityKind.Error())
	}
	required := map[string]int{identityClientSecret: 3, identityClientCertificate: 3}[id.Kind]
	if len(args)-1 > len(into) || len(args)-1 < required {
		return nil, d.ArgErr()
	}
	for i, value := range args[1:] {
		*into[i] = value
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		option := d.Val()
		var value string
		if !d.AllArgs(&value) {
			return nil, d.ArgErr()
		}
		switch option {
		case "key_lifetime":
			dur, err := caddy.ParseDuration(value)
			if err != nil {
				return nil, d.Errf("key_lifetime: %v", err)
			}
			id.KeyLifetime = caddy.Duration(dur)
		case "authority_host":
			id.AuthorityHost = value
		default:
			return nil, unrecognizedOption(d, "identity option", option, identityOptions)
		}
	}
	return id, nil
}

// UnmarshalCaddyfile sets up the source from Caddyfile tokens:
//
//	dynamic azure_blob {
//		account           <name>
//		endpoint          <url>
//		connection_string <connection string>
//	}
func (u *Upstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the source name
	if d.NextArg() {
		return d.ArgErr()
	}
	// The options that say where the account is, read as the transport
	// reads them.
	var t Transport
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		option := d.Val()
		if opt, ok := lookupOriginOption(option); !ok || opt.kind&locatingOption == 0 {
			choice := optionsOfKind(locatingOption)
			if isPlainName(option) {
				return d.Errf("unrecognized option %q: give %s", option, choice)
			}
			return d.Err("unrecognized option: give " + choice)
		}
		if err := t.unmarshalOption(d, seen, nil); err != nil {
			return err
		}
	}
	u.Account, u.Endpoint, u.ConnectionString = t.Account, t.Endpoint, t.ConnectionString
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Transport)(nil)
	_ caddyfile.Unmarshaler = (*Upstreams)(nil)
)
