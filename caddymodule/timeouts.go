package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Timeouts the transport uses unless configured (Caddy's own http transport
// has none but dial_timeout 3s). Azure answers a read's headers within
// seconds, so a minute's silence means a stalled origin; a client should
// get a 504 or a cut-off body then, not wait forever.
const (
	defaultResponseHeaderTimeout = 30 * time.Second
	defaultReadTimeout           = time.Minute
	defaultIdleTimeout           = 30 * time.Second
)

// setTimeoutDefaults fills in the timeouts left at zero. read_timeout
// bounds every read, including the one an idle keep-alive connection has
// pending since it went idle; idle connections are closed before that read
// could time out under a request that reuses them.
func setTimeoutDefaults(h *reverseproxy.HTTPTransport) {
	if h.ResponseHeaderTimeout == 0 {
		h.ResponseHeaderTimeout = caddy.Duration(defaultResponseHeaderTimeout)
	}
	if h.ReadTimeout == 0 {
		h.ReadTimeout = caddy.Duration(defaultReadTimeout)
	}
	if h.KeepAlive == nil {
		h.KeepAlive = new(reverseproxy.KeepAlive)
	}
	if h.KeepAlive.IdleConnTimeout == 0 {
		headroom := time.Duration(h.ReadTimeout - h.ResponseHeaderTimeout)
		h.KeepAlive.IdleConnTimeout = caddy.Duration(min(defaultIdleTimeout, max(headroom, time.Second)))
	}
}
