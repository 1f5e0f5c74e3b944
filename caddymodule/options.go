package caddymodule

import (
	"errors"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// originOption is an option of an origin: of the azure_blob transport, of
// the azure_blob directive's block and its fallbacks, and of the other
// modules that take it. originOptions drives the Caddyfile, what a
// fallback inherits, which modules take what, and the checks on
// credentials, so a new option is one field and one row.
type originOption struct {
	name      string
	onOrigin  func(*Origin) any          // the option's field, for one of Origin
	onHeaders func(*HeaderOverrides) any // for a header override
	onReads   func(*ReadOrigin) any      // else how an origin's blobs are read
	kind      optionKind
	inherit   inheritance
	takenBy   modules // the modules beside azure_blob and its transport that take it
}

// field is the option's field in t: *string, *bool, *caddy.Duration or
// **Identity.
func (o originOption) field(t *Transport) any { return o.in(t.fields()) }

// in is the option's field among f, or nil when f has no part for it.
func (o originOption) in(f optionFields) any {
	switch {
	case o.onOrigin != nil:
		return o.onOrigin(f.origin)
	case o.onHeaders != nil && f.headers != nil:
		return o.onHeaders(f.headers)
	case o.onReads != nil && f.reads != nil:
		return o.onReads(f.reads)
	}
	return nil
}

// optionFields are where a module's options go: its Origin, its header
// overrides and (the transport's alone) its read options, with the http
// transport options beside them.
type optionFields struct {
	origin  *Origin
	headers *HeaderOverrides
	reads   *ReadOrigin
	http    **reverseproxy.HTTPTransport
}

// optionKind says what an option is, for the checks that read the table.
type optionKind uint8

const (
	credentialOption optionKind = 1 << iota // a way to authorize: exactly one is given
	locatingOption                          // says where the account is
	secretOption                            // a literal value is warned about: use a placeholder
	signedOnlyOption                        // only a token Caddy signs carries it
)

// inheritance says when a fallback inherits an option it does not give.
type inheritance uint8

const (
	inheritAlways        inheritance = iota
	inheritSameAccount               // not by a fallback that names an account, endpoint or credential
	inheritSameContainer             // nor by one that names a container
)

// modules are the modules, beside azure_blob and its transport, that take
// an option.
type modules uint8

const (
	takenByAzureSAS modules = 1 << iota
	takenByFilesystem
	takenByUploads
)

var originOptions = []originOption{
	{"account", func(o *Origin) any { return &o.Account }, nil, nil, locatingOption, inheritSameAccount, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"endpoint", func(o *Origin) any { return &o.Endpoint }, nil, nil, locatingOption, inheritSameAccount, takenByAzureSAS | takenByFilesystem | takenByUploads},
	// Not azure_sas: it hands its URLs to clients, and their network is not the one trusted.
	{"insecure_http", func(o *Origin) any { return &o.InsecureHTTP }, nil, nil, 0, inheritSameAccount, takenByFilesystem},
	{"container", func(o *Origin) any { return &o.Container }, nil, nil, 0, inheritAlways, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"account_key", func(o *Origin) any { return &o.AccountKey }, nil, nil, credentialOption | secretOption, inheritSameAccount, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"connection_string", func(o *Origin) any { return &o.ConnectionString }, nil, nil, credentialOption | locatingOption | secretOption, inheritSameAccount, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"sas_token", func(o *Origin) any { return &o.SASToken }, nil, nil, credentialOption | secretOption, inheritSameAccount, takenByFilesystem | takenByUploads},
	{"identity", func(o *Origin) any { return &o.Identity }, nil, nil, credentialOption | secretOption, inheritSameAccount, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"anonymous", func(o *Origin) any { return &o.Anonymous }, nil, nil, credentialOption, inheritSameAccount, takenByFilesystem},
	{"scope", nil, nil, func(ro *ReadOrigin) any { return &ro.Scope }, 0, inheritAlways, 0},
	{"ttl", nil, nil, func(ro *ReadOrigin) any { return &ro.TTL }, 0, inheritAlways, takenByFilesystem},
	{"renew_before", nil, nil, func(ro *ReadOrigin) any { return &ro.RenewBefore }, 0, inheritAlways, takenByFilesystem},
	{"version", func(o *Origin) any { return &o.Version }, nil, nil, 0, inheritAlways, takenByAzureSAS | takenByFilesystem | takenByUploads},
	{"policy", nil, nil, func(ro *ReadOrigin) any { return &ro.Policy }, signedOnlyOption, inheritSameContainer, 0},
	{"cache_control", nil, func(h *HeaderOverrides) any { return &h.CacheControl }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_type", nil, func(h *HeaderOverrides) any { return &h.ContentType }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_disposition", nil, func(h *HeaderOverrides) any { return &h.ContentDisposition }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_encoding", nil, func(h *HeaderOverrides) any { return &h.ContentEncoding }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"content_language", nil, func(h *HeaderOverrides) any { return &h.ContentLanguage }, nil, signedOnlyOption, inheritSameAccount, takenByAzureSAS},
	{"guess_content_type", nil, nil, func(ro *ReadOrigin) any { return &ro.GuessContentType }, 0, inheritAlways, 0},
	{"user_content", nil, nil, func(ro *ReadOrigin) any { return &ro.UserContent }, 0, inheritAlways, 0},
}

// lookupOriginOption returns the row of an option name.
func lookupOriginOption(name string) (originOption, bool) {
	for _, o := range originOptions {
		if o.name == name {
			return o, true
		}
	}
	return originOption{}, false
}

// optionsOfKind lists the names of the options of a kind, in table order,
// as "a, b or c".
func optionsOfKind(kind optionKind) string {
	var names []string
	for _, o := range originOptions {
		if o.kind&kind != 0 {
			names = append(names, o.name)
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// isSet reports whether t gives option o.
func (o originOption) isSet(t *Transport) bool { return isSetField(o.field(t)) }

// isSetField reports whether the option field p points at is given.
func isSetField(p any) bool {
	switch v := p.(type) {
	case *string:
		return *v != ""
	case *bool:
		return *v
	case *caddy.Duration:
		return *v != 0
	case **Identity:
		return *v != nil
	}
	panic(fmt.Sprintf("originOptions: a field of type %T", p))
}

// clear unsets option o in t.
func (o originOption) clear(t *Transport) {
	switch v := o.field(t).(type) {
	case *string:
		*v = ""
	case *bool:
		*v = false
	case *caddy.Duration:
		*v = 0
	case **Identity:
		*v = nil
	default:
		panic("originOptions: field of an unknown type: " + o.name)
	}
}

// secretValue returns the secret the option called name holds in the
// field p points at, and how to name it.
func secretValue(name string, p any) (string, string) {
	switch v := p.(type) {
	case *string:
		return name, *v
	case **Identity:
		if *v != nil {
			return name + " client_secret", (*v).ClientSecret
		}
	}
	return name, ""
}

// The options of each block beside the http transport's, which a
// misspelt name is compared with.
var (
	transportOptions = originOptionNames(func(originOption) bool { return true })
	fallbackOptions  = append(originOptionNames(func(originOption) bool { return true }), "prefix")
	azureBlobOptions = append(originOptionNames(func(originOption) bool { return true }),
		"prefix", "strip_prefix", "index", "fallback", "redirect", "redirect_endpoint", "cors")
	azureSASOptions = append(originOptionNames(func(o originOption) bool {
		return o.takenBy&takenByAzureSAS != 0
	}), "prefix", "permissions", "ttl", "max_ttl", "cors")
	filesystemOptions = append(originOptionNames(func(o originOption) bool {
		return o.takenBy&takenByFilesystem != 0
	}), "prefix")
	uploadOptions = append(originOptionNames(func(o originOption) bool {
		return o.takenBy&takenByUploads != 0
	}), "prefix", "strip_prefix", "max_size", "types", "overwrite", "location", "ttl")
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

// unmarshalCORS reads `cors <origin>...` under the cursor; seen catches
// repeats.
func unmarshalCORS(d *caddyfile.Dispenser, seen map[string]bool) (*CORS, error) {
	if seen[d.Val()] {
		return nil, d.Errf("%s given twice", d.Val())
	}
	seen[d.Val()] = true
	origins := d.RemainingArgs()
	if len(origins) == 0 {
		return nil, d.ArgErr()
	}
	return &CORS{Origins: origins}, nil
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

// refuseUntaken refuses the first option set in f that module m does not
// take: the same refusals, from the table, whether the Caddyfile or JSON
// set it.
func refuseUntaken(m modules, f optionFields) error {
	for _, opt := range originOptions {
		if field := opt.in(f); field != nil && isSetField(field) {
			if err := refuseIn(m, opt); err != nil {
				return err
			}
		}
	}
	return nil
}

// refuseIn says why module m does not take an origin option, or returns
// nil when it does (the table's takenBy).
func refuseIn(m modules, opt originOption) error {
	if opt.takenBy&m != 0 {
		return nil
	}
	switch m {
	case takenByAzureSAS:
		switch {
		case opt.kind&credentialOption != 0:
			return errNothingToSignWith
		case opt.name == "policy":
			return errors.New("policy is not offered: issued URLs carry their own permissions and expiry")
		case opt.name == "insecure_http":
			return errors.New("insecure_http: azure_sas hands its URLs to clients, whose network is not the one trusted")
		}
		return fmt.Errorf("%s belongs to azure_blob, not to azure_sas", opt.name)
	case takenByUploads:
		switch {
		case opt.name == "anonymous":
			return errors.New("anonymous: uploads need a credential that writes")
		case opt.name == "insecure_http":
			return errors.New("insecure_http: an upload's body crosses the network with its token; use https")
		}
		if opt.onHeaders != nil {
			return fmt.Errorf("%s: azure_upload stores the type the bytes tell, and signs no response headers", opt.name)
		}
		return fmt.Errorf("%s belongs to azure_blob: azure_upload signs its own write token per blob", opt.name)
	case takenByFilesystem:
		switch {
		case opt.onHeaders != nil:
			return fmt.Errorf("%s: file_server sets the response headers; use Caddy's header directive", opt.name)
		case opt.name == "scope" || opt.name == "policy":
			return fmt.Errorf("%s: the filesystem signs its own tokens, each read for its blob (sp=r) and each listing for the container (sp=l)", opt.name)
		case opt.name == "guess_content_type":
			return errors.New("guess_content_type: file_server already sets Content-Type from the name's extension")
		case opt.name == "user_content":
			return errors.New("user_content: file_server would serve uploaded HTML and SVG as pages of the site; serve users' uploads with azure_blob and user_content")
		}
	}
	return fmt.Errorf("%s is not an option of this module", opt.name)
}
