package caddymodule

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
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
		// A short read_timeout: idle connections must close before the read
		// they have pending could time out under a reused request.
		{"short read_timeout", reverseproxy.HTTPTransport{ReadTimeout: d(40 * time.Second)}, d(30 * time.Second), d(40 * time.Second), d(10 * time.Second), 0},
		{"read_timeout below the header timeout", reverseproxy.HTTPTransport{ReadTimeout: d(5 * time.Second)}, d(30 * time.Second), d(5 * time.Second), d(time.Second), 0},
	} {
		h := tt.given
		setTimeoutDefaults(&h)
		if h.ResponseHeaderTimeout != tt.header || h.ReadTimeout != tt.read || h.KeepAlive.IdleConnTimeout != tt.idle || h.DialTimeout != tt.dialed {
			t.Errorf("%s: header %v read %v idle %v dial %v", tt.name, h.ResponseHeaderTimeout, h.ReadTimeout, h.KeepAlive.IdleConnTimeout, h.DialTimeout)
		}
	}
}
