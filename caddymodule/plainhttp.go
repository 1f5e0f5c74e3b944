package caddymodule

import (
	"errors"

	"github.com/caddy-azure-sas/caddy-azure-sas/sas"
)

// checkScheme refuses an endpoint that would carry t's tokens across a
// network in clear text. An identity always needs https: the Entra ID
// token that asks for its keys goes there too. Other credentials take plain
// http where sas.BlobEndpoint.Insecure allows it (loopback, Azurite's
// development account), or anywhere with insecure_http.
func (t *Transport) checkScheme(e sas.BlobEndpoint) error {
	switch {
	case e.Scheme == "https":
		return nil
	case t.Identity != nil:
		return errors.New("identity: the endpoint must be https: an Entra ID token never crosses the network in clear")
	case e.Insecure() && !t.InsecureHTTP:
		// The host is not quoted: a value in the wrong option may be a key.
		from := "endpoint"
		if t.Endpoint == "" {
			from = "connection_string's blob endpoint"
		}
		return errors.New(from + " is plain http to a host other than loopback or Azurite's devstoreaccount1: " +
			"every token would cross the network in clear text; use https, or set insecure_http if that network is private and trusted")
	}
	return nil
}

// checkLiteralEndpoint checks the scheme of an endpoint written without
// placeholders, so that adapting a Caddyfile refuses it even when the
// credential is a placeholder (provisionService checks the rest).
func (t *Transport) checkLiteralEndpoint() error {
	if t.Endpoint == "" || hasPlaceholder(t.Endpoint) {
		return nil
	}
	e, err := sas.ParseBlobEndpoint(t.Endpoint)
	if err != nil {
		return nil // provisionService says what is wrong, naming the option
	}
	return t.checkScheme(e)
}
