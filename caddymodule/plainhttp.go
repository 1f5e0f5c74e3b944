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

// checkScheme refuses an endpoint that would carry o's tokens across a
// network in clear text. An identity always needs https: the Entra ID
// token that asks for its keys goes there too. Other credentials take plain
// http on loopback (sas.BlobEndpoint.Insecure), with Azurite's published
// development key (key, nil for other credentials: such tokens hold no
// secret), or anywhere with insecure_http.
func (o *Origin) checkScheme(e sas.BlobEndpoint, key *sas.SharedKey) error {
	switch {
	case e.Scheme == "https":
		return nil
	case o.Identity != nil:
		return errors.New("identity: the endpoint must be https: an Entra ID token never crosses the network in clear")
	case exposesTokens(e, key) && !o.InsecureHTTP:
		// The host is not quoted: a value in the wrong option may be a key.
		from := "endpoint"
		if o.Endpoint == "" {
			from = "connection_string's blob endpoint"
		}
		return errors.New(from + errPlainHTTP)
	}
	return nil
}

// checkLiteralEndpoint checks the scheme of an endpoint written without
// placeholders, so that adapting a Caddyfile refuses it even when the
// credential is a placeholder (authorize checks the rest). An
// endpoint of Azurite's development account is left to authorize,
// which knows whether its published key signs.
func (o *Origin) checkLiteralEndpoint() error {
	if o.Endpoint == "" || hasPlaceholder(o.Endpoint) {
		return nil
	}
	e, err := sas.ParseBlobEndpoint(o.Endpoint)
	if err != nil || e.Account() == sas.DevAccountName {
		return nil // authorize says what is wrong, naming the option
	}
	return o.checkScheme(e, nil)
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
