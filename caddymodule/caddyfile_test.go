package caddymodule

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func TestTransportUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`azure_blob {
		account      mystorage
		endpoint     http://127.0.0.1:10000/devstoreaccount1
		container    photos
		account_key  {env.AZURE_STORAGE_KEY}
		scope        container
		ttl          30m
		renew_before 5m
		version      2025-11-05
	}`)
	var tr Transport
	if err := tr.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Transport{Account: "mystorage", Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Container: "photos",
		AccountKey: "{env.AZURE_STORAGE_KEY}", Scope: "container", TTL: caddy.Duration(30 * time.Minute),
		RenewBefore: caddy.Duration(5 * time.Minute), Version: "2025-11-05"}
	if !reflect.DeepEqual(tr, want) {
		t.Errorf("got %+v\nwant %+v", tr, want)
	}

	var timeouts Transport
	d = caddyfile.NewTestDispenser(`azure_blob {
		account_key {env.K}
		dial_timeout 2s
		read_timeout 10s
		keepalive_idle_conns_per_host 4
		resolvers 127.0.0.1
		scope blob
	}`)
	if err := timeouts.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	h := timeouts.HTTPTransport
	if h == nil || h.DialTimeout != caddy.Duration(2*time.Second) || h.ReadTimeout != caddy.Duration(10*time.Second) ||
		h.KeepAlive == nil || h.KeepAlive.MaxIdleConnsPerHost != 4 || h.Resolver == nil || timeouts.Scope != "blob" {
		t.Errorf("http transport options: %+v", h)
	}

	// Options with blocks and heredocs reach the http transport whole.
	var nested Transport
	d = caddyfile.NewTestDispenser("azure_blob {\n\ttls_trust_pool file {\n\t\tpem_file /etc/ca.pem\n\t}\n\ttls_server_name <<EOF\n\tblob.example\n\tEOF\n\tresolvers 127.0.0.1 127.0.0.2\n\tscope container\n}")
	if err := nested.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h := nested.HTTPTransport; h == nil || h.TLS == nil || h.TLS.CARaw == nil || h.TLS.ServerName != "blob.example" ||
		h.Resolver == nil || len(h.Resolver.Addresses) != 2 || nested.Scope != "container" {
		t.Errorf("nested options: %+v", nested.HTTPTransport)
	}

	for input, want := range map[string]Identity{
		"identity default":                                  {Kind: "default"},
		"identity managed":                                  {Kind: "managed"},
		"identity managed c1":                               {Kind: "managed", ClientID: "c1"},
		"identity workload c1 t1 /var/run/token":            {Kind: "workload", ClientID: "c1", TenantID: "t1", TokenFile: "/var/run/token"},
		"identity client_secret t1 c1 {env.S}":              {Kind: "client_secret", TenantID: "t1", ClientID: "c1", ClientSecret: "{env.S}"},
		"identity client_certificate t1 c1 /etc/app.pem":    {Kind: "client_certificate", TenantID: "t1", ClientID: "c1", CertificateFile: "/etc/app.pem"},
		"identity azure_cli t1":                             {Kind: "azure_cli", TenantID: "t1"},
		"identity managed {\n\t\t\tkey_lifetime 12h\n\t\t}": {Kind: "managed", KeyLifetime: caddy.Duration(12 * time.Hour)},
	} {
		var tr Transport
		if err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\n\t\t" + input + "\n\t}")); err != nil || tr.Identity == nil || *tr.Identity != want {
			t.Errorf("%q: %+v, %v; want %+v", input, tr.Identity, err, want)
		}
	}

	var anon Transport
	if err := anon.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\n anonymous\n connection_string UseDevelopmentStorage=true\n}")); err != nil || !anon.Anonymous || anon.ConnectionString != "UseDevelopmentStorage=true" {
		t.Errorf("anonymous: %+v, %v", anon, err)
	}
}

func TestTransportUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{"azure_blob extra", "wrong argument count"},
		{"azure_blob {\n account_key\n}", "wrong argument count"},
		{"azure_blob {\n account_key a b\n}", "wrong argument count"},
		{"azure_blob {\n anonymous yes\n}", "wrong argument count"},
		{"azure_blob {\n ttl soon\n}", "ttl: "},
		{"azure_blob {\n container a\n container b\n}", "container given twice"},
		{"azure_blob {\n acount_key x\n}", `unrecognized subdirective acount_key, at Testfile:2`},
		{"azure_blob {\n dial_timeout\n}", "wrong argument count"},
		{"azure_blob {\n identity\n}", "wrong argument count"},
		{"azure_blob {\n identity magic\n}", `identity "magic" is not`},
		{"azure_blob {\n identity client_secret t c\n}", "wrong argument count"},
		{"azure_blob {\n identity managed a b\n}", "wrong argument count"},
		{"azure_blob {\n identity managed {\n key_life 1h\n }\n}", `unrecognized identity option "key_life"`},
		{"azure_blob {\n read_timeout soon\n}", "invalid duration"},
	}
	for _, tt := range tests {
		var tr Transport
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.input, err, tt.want)
		}
	}
}

// TestTransportBeforeProvision covers what reverse_proxy calls while it
// parses the Caddyfile, when the embedded HTTP transport is not yet there.
func TestTransportBeforeProvision(t *testing.T) {
	var tr Transport
	if tr.TLSEnabled() {
		t.Error("TLS enabled on an empty transport")
	}
	if err := tr.EnableTLS(new(reverseproxy.TLSConfig)); err != nil || !tr.TLSEnabled() {
		t.Errorf("EnableTLS: %v, enabled %v", err, tr.TLSEnabled())
	}
	if err := tr.EnableH2C(); err == nil {
		t.Error("h2c accepted")
	}
}
