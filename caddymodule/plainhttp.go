package caddymodule

import (
	"errors"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// errPlainUpstream refuses a request that reverse_proxy would send over
// plain http to an upstream off loopback while the endpoint is on it.
var errPlainUpstream = errors.New("the upstream is plain http to a host other than loopback: the token would cross the network in clear text; " +

	"dial the endpoint's own host, use https, or set insecure_http if that network is private and trusted")

// errPlainHTTP is the end of every refusal of a plain http endpoint.
const errPlainHTTP = " is plain http to a host other than loopback: every token would cross the network in clear text; " +

	"use https, or, in azure_blob and its transport, set insecure_http if that network is private and trusted"

// exposesTokens reports whether tokens signed with key (nil for a
// credential that does not sign) would cross a network in clear text to e:
// e is plain http off loopback, and key is not Azurite's published
// development key, whose tokens hold no secret.
func exposesTokens(e sas.BlobEndpoint, key *sas.SharedKey) bool {
	return e.Insecure() && !key.IsDevelopmentKey()
}

// devAccountEndpoint reports whether e is an endpoint of Azurite's
// development account. Whether plain http is taken there depends on
// whether its published key signs, which is known once the credential is
// resolved: a check made before that leaves such an endpoint to the one
// made then.
func devAccountEndpoint(e sas.BlobEndpoint) bool {
	return e.Account() == sas.DevAccountName
}

// checkClientEndpoint refuses to hand clients URLs with tokens on a plain
// http endpoint e (what names who would), unless e is on loopback or key
// is Azurite's published development key. insecure_http does not count:
// it trusts the network between Caddy and Azure, not the clients'.
func checkClientEndpoint(what string, e sas.BlobEndpoint, key *sas.SharedKey) error {
	if !exposesTokens(e, key) {
		return nil
	}
	return errors.New(what + " would hand clients plain http URLs, their tokens in clear text: use https " +
		"(plain http is taken only on loopback, or with Azurite's development account; insecure_http covers Caddy's own requests, never clients')")
}
