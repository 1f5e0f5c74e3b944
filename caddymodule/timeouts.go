package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Timeouts the transport uses unless configured. Caddy's own http
// transport waits forever for headers and between reads (only dial_timeout
// 3s and a 2m keep-alive idle timeout are set). Azure answers a read's
// headers within seconds, so a minute's silence means a stalled origin; a
// client should get a 504 or a cut-off body then, not wait forever.
const (
	defaultResponseHeaderTimeout = 30 * time.Second
	defaultReadTimeout           = time.Minute
	defaultIdleTimeout           = 30 * time.Second
)

// setTimeoutDefaults fills in the timeouts left at zero, keeping them
// consistent with those given: response_header_timeout at most half of
// read_timeout, read_timeout at least response_header_timeout + 30s.
// read_timeout bounds every read, including the one an idle keep-alive
// connection has pending since it went idle, so idle connections close
// before read_timeout - response_header_timeout: a request that reuses one
// never times out on that old read.
func setTimeoutDefaults(h *reverseproxy.HTTPTransport) {
	header, read := time.Duration(h.ResponseHeaderTimeout), time.Duration(h.ReadTimeout)
	switch {
	case header == 0 && read == 0:
		header, read = defaultResponseHeaderTimeout, defaultReadTimeout
	case header == 0:
		header = min(defaultResponseHeaderTimeout, read/2)
	case read == 0:
		read = max(defaultReadTimeout, header+defaultIdleTimeout)
	}
	h.ResponseHeaderTimeout, h.ReadTimeout = caddy.Duration(header), caddy.Duration(read)
	if h.KeepAlive == nil {
		h.KeepAlive = new(reverseproxy.KeepAlive)
	}
	if h.KeepAlive.IdleConnTimeout == 0 {
		h.KeepAlive.IdleConnTimeout = caddy.Duration(min(defaultIdleTimeout, max(read-header, time.Second)))
	}
}
