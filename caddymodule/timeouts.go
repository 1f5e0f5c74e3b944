package caddymodule

import (
	"errors"
	"fmt"
	"slices"
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

// checkHTTPTransport refuses http transport settings that would send a
// token where it can be read or that Azure cannot speak.
func checkHTTPTransport(h *reverseproxy.HTTPTransport) error {
	if h == nil {
		return nil
	}
	if h.TLS != nil && len(h.TLS.ExceptPorts) > 0 {
		return errors.New("tls_except_ports would send signed requests in clear text")
	}
	if h.TLS != nil && h.TLS.InsecureSkipVerify {
		return errors.New("tls_insecure_skip_verify would hand tokens to anyone in the middle; trust a CA with tls_trust_pool instead")
	}
	for _, v := range h.Versions {
		if !slices.Contains([]string{"1.1", "2"}, v) {
			return fmt.Errorf("versions %s: Azure Blob Storage speaks HTTP/1.1 and HTTP/2", v)
		}
	}
	if h.ProxyProtocol != "" {
		return errors.New("proxy_protocol: Azure Blob Storage does not accept the PROXY protocol")
	}
	return nil
}
