package caddymodule

import (
	"encoding/json"
	"slices"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// origin is one origin of an azure_blob directive: where its blobs are
// (handler: container and prefix) and how they are read (transport).
type origin struct {
	handler   Handler
	transport Transport
	dial      string     // the endpoint's address, when the config gives it
	source    *Upstreams // else this finds it when the config is provisioned
}

// pin checks the origin as far as can be done without secrets and fixes
// the address Caddy dials. A literal address is pinned into the config,
// so that a connection string resolved later cannot point the tokens
// elsewhere; one that comes from placeholders (a connection string in the
// environment, say) is left to the azure_blob upstream source, which
// resolves it from the same options as the transport when the config is
// provisioned.
func (o *origin) pin() error {
	o.handler.Container = o.transport.Container
	if err := o.handler.Validate(); err != nil {
		return err
	}
	if err := o.transport.checkAtAdapt(); err != nil {
		return err
	}
	t := &o.transport
	if t.Endpoint == "" || hasPlaceholder(t.Endpoint) {
		if t.placeholderIn(locatingOption) {
			o.source = &Upstreams{Account: t.Account, Endpoint: t.Endpoint, ConnectionString: t.ConnectionString}
			return nil
		}
		loc, _, err := resolveLocation(t.Account, t.Endpoint, t.ConnectionString)
		if err != nil {
			return err
		}
		t.Endpoint = loc.Endpoint.String()
	}
	loc, err := locate(sas.Where{Endpoint: t.Endpoint}, originSettings)
	if err != nil {
		return err
	}
	o.dial = loc.Endpoint.HostPort()
	return nil
}

// unmarshalOption reads an option of an origin's block (the directive's,
// or a fallback's) under the cursor; block names the options the block
// takes, to suggest one for a misspelt name.
func (o *origin) unmarshalOption(d *caddyfile.Dispenser, seen map[string]bool, block []string) error {
	switch option := d.Val(); option {
	case "prefix":
		return unmarshalPrefix(d, seen, &o.handler.Prefix)
	case "strip_prefix", "index", "fallback", "redirect", "redirect_endpoint", "cors":
		return d.Errf("%s belongs to the azure_blob block, not to a fallback", option)
	}
	return o.transport.unmarshalOption(d, seen, block)
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
