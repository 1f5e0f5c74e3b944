package caddymodule

import (
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
