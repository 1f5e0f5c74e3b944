package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

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
//		<http transport option> ...
//	}
//
// Any other option is one of Caddy's http transport (dial_timeout,
// response_header_timeout, read_timeout, keepalive, tls_trust_pool,
// resolvers …), read by its own parser; Validate refuses those that would
// expose tokens or that Azure cannot speak. Give exactly one of
// account_key, connection_string, sas_token and anonymous; write secrets
// as {env.VAR} or {file.path} placeholders.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the transport name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]bool)
	for d.NextBlock(0) {
		if err := t.unmarshalOption(d, seen); err != nil {
			return err
		}
	}
	return nil
}

// unmarshalOption reads the option under the cursor; seen catches repeats.
func (t *Transport) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool) error {
	option := d.Val()
	if seen[option] {
		return d.Errf("%s given twice", option)
	}
	seen[option] = true
	switch option {
	case "anonymous", "guess_content_type":
		if d.NextArg() {
			return d.ArgErr()
		}
		if option == "anonymous" {
			t.Anonymous = true
		} else {
			t.GuessContentType = true
		}
	case "identity":
		id, err := unmarshalIdentity(d)
		if err != nil {
			return err
		}
		t.Identity = id
	case "ttl", "renew_before":
		var value string
		if !d.AllArgs(&value) {
			return d.ArgErr()
		}
		dur, err := caddy.ParseDuration(value)
		if err != nil {
			return d.Errf("%s: %v", option, err)
		}
		if option == "ttl" {
			t.TTL = caddy.Duration(dur)
		} else {
			t.RenewBefore = caddy.Duration(dur)
		}
	default:
		field := t.stringOption(option)
		if field == nil {
			return t.httpTransportOption(d)
		}
		if !d.AllArgs(field) {
			return d.ArgErr()
		}
	}
	return nil
}

// httpTransportOption hands the option under the cursor, with its
// arguments and block, to the embedded http transport's parser.
func (t *Transport) httpTransportOption(d *caddyfile.Dispenser) error {
	segment := d.NextSegment()
	first, last := segment[0], segment[len(segment)-1]
	tokens := make([]caddyfile.Token, 0, len(segment)+3)
	tokens = append(tokens,
		caddyfile.Token{File: first.File, Line: first.Line - 1, Text: "http"},
		caddyfile.Token{File: first.File, Line: first.Line - 1, Text: "{"})
	tokens = append(tokens, segment...)
	tokens = append(tokens, caddyfile.Token{File: last.File, Line: last.Line + last.NumLineBreaks() + 1, Text: "}"})
	if t.HTTPTransport == nil {
		t.HTTPTransport = new(reverseproxy.HTTPTransport)
	}
	return t.HTTPTransport.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
}

// stringOption returns the field set by a one-argument option, or nil.
func (t *Transport) stringOption(name string) *string {
	switch name {
	case "account":
		return &t.Account
	case "endpoint":
		return &t.Endpoint
	case "container":
		return &t.Container
	case "account_key":
		return &t.AccountKey
	case "connection_string":
		return &t.ConnectionString
	case "sas_token":
		return &t.SASToken
	case "scope":
		return &t.Scope
	case "version":
		return &t.Version
	case "policy":
		return &t.Policy
	case "cache_control":
		return &t.CacheControl
	case "content_type":
		return &t.ContentType
	case "content_disposition":
		return &t.ContentDisposition
	case "content_encoding":
		return &t.ContentEncoding
	case "content_language":
		return &t.ContentLanguage
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Transport)(nil)
