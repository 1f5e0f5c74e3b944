package caddymodule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, tr.UnmarshalCaddyfile(d))
	want := Transport{ReadOrigin: ReadOrigin{Origin: Origin{Account: "mystorage", Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Container: "photos", AccountKey: "{env.AZURE_STORAGE_KEY}", Version: "2025-11-05", Caddyfile: "Testfile:1"}, Scope: "container", TTL: caddy.Duration(30 * time.Minute), RenewBefore: caddy.Duration(5 * time.Minute)}}
	assert.Equal(t, want, tr)

	var timeouts Transport
	d = caddyfile.NewTestDispenser(`azure_blob {
		account_key {env.K}
		dial_timeout 2s
		read_timeout 10s
		keepalive_idle_conns_per_host 4
		resolvers 127.0.0.1
		scope blob
	}`)
	require.NoError(t, timeouts.UnmarshalCaddyfile(d))
	h := timeouts.HTTPTransport
	require.NotNil(t, h, "http transport options")
	assert.Equal(t, caddy.Duration(2*time.Second), h.DialTimeout, "dial_timeout")
	assert.Equal(t, caddy.Duration(10*time.Second), h.ReadTimeout, "read_timeout")
	if assert.NotNil(t, h.KeepAlive, "keepalive") {
		assert.Equal(t, 4, h.KeepAlive.MaxIdleConnsPerHost, "keepalive_idle_conns_per_host")
	}
	if assert.NotNil(t, h.Resolver, "resolvers") {
		assert.Equal(t, []string{"127.0.0.1"}, h.Resolver.Addresses, "resolvers")
	}
	assert.Equal(t, "blob", timeouts.Scope, "scope")

	// Options with blocks and heredocs reach the http transport whole.
	var nested Transport
	d = caddyfile.NewTestDispenser("azure_blob {\n\ttls_trust_pool file {\n\t\tpem_file /etc/ca.pem\n\t}\n\ttls_server_name <<EOF\n\tblob.example\n\tEOF\n\tresolvers 127.0.0.1 127.0.0.2\n\tscope container\n}")
	require.NoError(t, nested.UnmarshalCaddyfile(d))
	h = nested.HTTPTransport
	require.NotNil(t, h, "nested options")
	if assert.NotNil(t, h.TLS, "nested options: tls") {
		assert.JSONEq(t, `{"provider":"file","pem_files":["/etc/ca.pem"]}`, string(h.TLS.CARaw), "tls_trust_pool block")
		assert.Equal(t, "blob.example", h.TLS.ServerName, "tls_server_name heredoc")
	}
	if assert.NotNil(t, h.Resolver, "nested options: resolvers") {
		assert.Equal(t, []string{"127.0.0.1", "127.0.0.2"}, h.Resolver.Addresses, "resolvers")
	}
	assert.Equal(t, "container", nested.Scope, "scope")

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
		if !assert.NoError(t, tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\n\t\t"+input+"\n\t}")), "%q", input) ||
			!assert.NotNil(t, tr.Identity, "%q", input) {
			continue
		}
		assert.Equal(t, want, *tr.Identity, "%q", input)
	}

	var anon Transport
	require.NoError(t, anon.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\n anonymous\n connection_string UseDevelopmentStorage=true\n}")), "anonymous")
	assert.True(t, anon.Anonymous, "anonymous")
	assert.Equal(t, "UseDevelopmentStorage=true", anon.ConnectionString, "connection_string")
}

func TestTransportUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{"azure_blob extra", "wrong argument count"},
		{"azure_blob {\n account_key\n}", "wrong argument count"},
		{"azure_blob {\n account_key a b\n}", "wrong argument count"},
		{"azure_blob {\n anonymous yes\n}", "wrong argument count"},
		{"azure_blob {\n ttl soon\n}", "ttl: "},
		{"azure_blob {\n container a\n container b\n}", "container given twice"},
		{"azure_blob {\n acount_key x\n}", `unrecognized subdirective "acount_key"; did you mean "account_key"?, at Testfile:2`},
		{"azure_blob {\n dial_timeout\n}", "wrong argument count"},
		{"azure_blob {\n identity\n}", "wrong argument count"},
		// The kind is not quoted (the lead's rewording: no input in errors).
		{"azure_blob {\n identity magic\n}", "identity kind must be default, managed, workload, client_secret, client_certificate or azure_cli"},
		{"azure_blob {\n identity client_secret t c\n}", "wrong argument count"},
		{"azure_blob {\n identity managed a b\n}", "wrong argument count"},
		{"azure_blob {\n identity managed {\n key_life 1h\n }\n}", `unrecognized identity option "key_life"`},
		{"azure_blob {\n read_timeout soon\n}", "invalid duration"},
	}
	for _, tt := range tests {
		var tr Transport
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		assert.ErrorContains(t, err, tt.want, "%q", tt.input)
	}
}

// TestTransportBeforeProvision covers what reverse_proxy calls while it
// parses the Caddyfile, when the embedded HTTP transport is not yet there.
func TestTransportBeforeProvision(t *testing.T) {
	var tr Transport
	assert.False(t, tr.TLSEnabled(), "TLS enabled on an empty transport")
	assert.NoError(t, tr.EnableTLS(new(reverseproxy.TLSConfig)), "EnableTLS")
	assert.True(t, tr.TLSEnabled(), "TLS not enabled after EnableTLS")
	assert.ErrorContains(t, tr.EnableH2C(), "azure_blob does not support h2c upstreams", "h2c accepted")
}
