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

func TestTimeoutDefaults(t *testing.T) {
	d := func(v time.Duration) caddy.Duration { return caddy.Duration(v) }
	for _, tt := range []struct {
		name                       string
		given                      reverseproxy.HTTPTransport
		header, read, idle, dialed caddy.Duration
	}{
		{"defaults", reverseproxy.HTTPTransport{}, d(30 * time.Second), d(time.Minute), d(30 * time.Second), 0},
		{"configured", reverseproxy.HTTPTransport{ResponseHeaderTimeout: d(5 * time.Second), ReadTimeout: d(2 * time.Minute),
			DialTimeout: d(time.Second), KeepAlive: &reverseproxy.KeepAlive{IdleConnTimeout: d(time.Hour)}},
			d(5 * time.Second), d(2 * time.Minute), d(time.Hour), d(time.Second)},
		// A short read_timeout: the header timeout fits in it, and idle
		// connections close before the read they have pending could time
		// out under a reused request.
		{"read_timeout 10s", reverseproxy.HTTPTransport{ReadTimeout: d(10 * time.Second)}, d(5 * time.Second), d(10 * time.Second), d(5 * time.Second), 0},
		{"read_timeout 40s", reverseproxy.HTTPTransport{ReadTimeout: d(40 * time.Second)}, d(20 * time.Second), d(40 * time.Second), d(20 * time.Second), 0},
		{"response_header_timeout 2m", reverseproxy.HTTPTransport{ResponseHeaderTimeout: d(2 * time.Minute)}, d(2 * time.Minute), d(150 * time.Second), d(30 * time.Second), 0},
		{"both given, no headroom", reverseproxy.HTTPTransport{ResponseHeaderTimeout: d(10 * time.Second), ReadTimeout: d(5 * time.Second)},
			d(10 * time.Second), d(5 * time.Second), d(time.Second), 0},
	} {
		h := tt.given
		setTimeoutDefaults(&h)
		assert.Equal(t, tt.header, h.ResponseHeaderTimeout, "%s: response header timeout", tt.name)
		assert.Equal(t, tt.read, h.ReadTimeout, "%s: read timeout", tt.name)
		if assert.NotNil(t, h.KeepAlive, "%s: keepalive", tt.name) {
			assert.Equal(t, tt.idle, h.KeepAlive.IdleConnTimeout, "%s: idle timeout", tt.name)
		}
		assert.Equal(t, tt.dialed, h.DialTimeout, "%s: dial timeout", tt.name)
	}
}

// TestProvisionAppliesTimeoutDefaults checks the defaults reach the
// http.Transport that sends requests, not just the config.
func TestProvisionAppliesTimeoutDefaults(t *testing.T) {
	tr := devTransport("http://127.0.0.1:1")
	provisionTransport(t, tr)
	rt := tr.HTTPTransport.Transport
	require.NotNil(t, rt, "no http.Transport provisioned")
	assert.Equal(t, defaultResponseHeaderTimeout, rt.ResponseHeaderTimeout, "provisioned transport: response header timeout")
	assert.Equal(t, defaultIdleTimeout, rt.IdleConnTimeout, "provisioned transport: idle timeout")
	assert.Equal(t, defaultReadTimeout, time.Duration(tr.ReadTimeout), "provisioned transport: read timeout")
}

func TestUnsafeHTTPTransportOptionsRefused(t *testing.T) {
	for option, want := range map[string]string{
		"tls_except_ports 443":     "clear text",
		"tls_insecure_skip_verify": "tls_trust_pool",
		"versions 1.1 h2c":         "versions h2c",
		"versions 3":               "versions 3",
		"proxy_protocol v2":        "PROXY protocol",
	} {
		tr := new(Transport)
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\n" + option + "\n}"))
		if err == nil {
			err = tr.Validate()
		}
		assert.ErrorContains(t, err, want, "%s", option)
	}
	ok := new(Transport)
	require.NoError(t, ok.UnmarshalCaddyfile(caddyfile.NewTestDispenser("azure_blob {\nversions 1.1 2\ntls_server_name x.example\n}")), "safe options refused")
	assert.NoError(t, ok.Validate(), "safe options refused")
}
