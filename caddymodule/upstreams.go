package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func init() {
	caddy.RegisterModule(Upstreams{})
}

// Upstreams is a dynamic upstream source for reverse_proxy: the blob
// endpoint of a storage account, worked out when the config is provisioned
// from the same account, endpoint and connection_string options the
// azure_blob transport takes, placeholders included. It is what lets
// `connection_string {env.AZURE_STORAGE_CONNECTION_STRING}` alone say
// where the blobs are: the address is only known once the placeholder is
// resolved, after the Caddyfile is adapted.
//
// The azure_blob directive uses it whenever the address is not written
// literally. With the transport in a reverse_proxy of your own:
//
//	reverse_proxy {
//		dynamic azure_blob {
//			connection_string {env.AZURE_STORAGE_CONNECTION_STRING}
//		}
//		transport azure_blob {
//			connection_string {env.AZURE_STORAGE_CONNECTION_STRING}
//		}
//	}
//
// Give it the same options as the transport: they resolve to the same
// address, so tokens for one account are never sent to another's.
type Upstreams struct {
	// Account is the storage account name.
	Account string `json:"account,omitempty"`

	// Endpoint is the blob service URL.
	Endpoint string `json:"endpoint,omitempty"`

	// ConnectionString is an Azure Storage connection string; only its
	// account and endpoint are read.
	ConnectionString string `json:"connection_string,omitempty"`

	dial string
}

// CaddyModule returns the Caddy module information.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.azure_blob",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

// Provision resolves the address.
func (u *Upstreams) Provision(caddy.Context) error {
	connStr, err := resolveSecret("connection_string", u.ConnectionString)
	if err != nil {
		return err
	}
	loc, _, err := resolveLocation(u.Account, u.Endpoint, connStr)
	if err != nil {
		return err
	}
	u.dial = loc.Endpoint.HostPort()
	return nil
}

// GetUpstreams returns the endpoint's address. reverse_proxy provisions
// what it gets on every call, so each call gets a new Upstream.
func (u *Upstreams) GetUpstreams(*http.Request) ([]*reverseproxy.Upstream, error) {
	return []*reverseproxy.Upstream{{Dial: u.dial}}, nil
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
	_ caddy.Provisioner           = (*Upstreams)(nil)
	_ reverseproxy.UpstreamSource = (*Upstreams)(nil)
	_ caddyfile.Unmarshaler       = (*Upstreams)(nil)
)
