package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// httpTransportOptionNames are the subdirectives of Caddy's http transport
// (v2.11.9), which the azure_blob blocks pass on: here only to suggest one
// for a misspelt name. Caddy's own parser decides what it accepts.
var httpTransportOptionNames = []string{
	"read_buffer", "write_buffer", "read_timeout", "write_timeout", "max_response_header", "proxy_protocol",
	"forward_proxy_url", "network_proxy", "dial_timeout", "dial_fallback_delay", "response_header_timeout",
	"expect_continue_timeout", "resolvers", "tls", "tls_client_auth", "tls_insecure_skip_verify", "tls_curves",
	"tls_timeout", "tls_trusted_ca_certs", "tls_server_name", "tls_renegotiation", "tls_except_ports", "keepalive",
	"keepalive_interval", "keepalive_idle_conns", "keepalive_idle_conns_per_host", "versions", "compression",
	"max_conns_per_host", "tls_trust_pool", "local_address",
}

// unrecognizedOption is the error, at the cursor, for the option name,
// which no parser of the block knows, in the words of what (such as
// "subdirective"): it suggests the nearest of known, when one is near
// enough to be a typo. A name that is not a plain word is not quoted: it
// may be a value, a secret even, written in the wrong place.
func unrecognizedOption(d *caddyfile.Dispenser, what, name string, known ...[]string) error {
	if !isPlainName(name) {
		return d.Errf("unrecognized %s (not quoted: it may be a value in the wrong place)", what)
	}
	if near := nearestName(name, known...); near != "" {
		return d.Errf("unrecognized %s %q; did you mean %q?", what, name, near)
	}
	return d.Errf("unrecognized %s %q", what, name)
}

// isPlainName reports whether s reads as a name (letters, digits, '-'
// and '_', 32 at most) rather than a value written in the wrong place,
// which may be a secret: only a plain name is quoted in an error.
func isPlainName(s string) bool {
	if len(s) > 32 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// nearestName returns the name of the lists nearest to s, if it is near
// enough to be a typo of it (an edit or two, fewer in a short name), or "".
func nearestName(s string, lists ...[]string) string {
	best, bestDistance := "", min(2, len(s)/3)+1
	for _, names := range lists {
		for _, name := range names {
			if d := editDistance(s, name); d < bestDistance {
				best, bestDistance = name, d
			}
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of two neighbouring bytes that turn a into b (optimal string alignment),
// so that "contianer" is one edit from "container".
func editDistance(a, b string) int {
	// Three rows of the table: i-2, i-1 and i.
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
