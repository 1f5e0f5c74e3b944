package caddymodule

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

const (
	fromRequest = "comes from the request, which the client writes, so any client could reach another's blobs"
	fromMatcher = "is what a matcher found in the request, which the client writes"
	fromAddress = "is the client's address, which clients behind one NAT or proxy share"
	notIdentity = "does not say who the client is"
	fromCert    = "is a field of the client's certificate, which the client chooses unless client_auth verifies it"
	fromCaddy   = "is filled by Caddy from the request, which the client writes"
	useIdentity = "; use an identity Caddy has checked, such as {http.auth.user.id}, or {http.vars.*} set by your own config"
)

// TestPrefixTakesOnlyWhoTheClientIs: a prefix placeholder must name the
// user as Caddy checked it; whatever the client chooses (its URI, headers,
// cookies, host, body …) or merely where it connects from is refused,
// naming the placeholder and what to use instead.
func TestPrefixTakesOnlyWhoTheClientIs(t *testing.T) {
	for key, why := range map[string]string{
		"http.auth.user.id":                       "",
		"http.auth.user.email":                    "",
		"http.vars.tenant":                        "",
		"http.request.tls.client.fingerprint":     "",
		"http.request.tls.client.public_key":      "",
		"http.request.tls.client.subject":         fromCert,
		"http.request.tls.client.san.emails.0":    fromCert,
		"http.request.tls.client.issuer":          fromCert,
		"http.vars.trace_id":                      fromCaddy,
		"http.vars.span_id":                       fromCaddy,
		"http.vars.azure_blob.request_path":       fromCaddy,
		"time.now.year":                           "",
		"system.hostname":                         "",
		"http.request.uri.query.user":             fromRequest,
		"http.request.header.X-User":              fromRequest,
		"http.request.cookie.user":                fromRequest,
		"http.request.host":                       fromRequest,
		"http.request.hostport":                   fromRequest,
		"http.request.host.labels.2":              fromRequest,
		"http.request.uri":                        fromRequest,
		"http.request.uri.path":                   fromRequest,
		"http.request.uri.path.1":                 fromRequest,
		"http.request.uri.path.file":              fromRequest,
		"http.request.uri.query":                  fromRequest,
		"http.request.orig_uri.path.1":            fromRequest,
		"http.request.orig_method":                fromRequest,
		"http.request.method":                     fromRequest,
		"http.request.body":                       fromRequest,
		"http.request.tls.server_name":            fromRequest,
		"HTTP.Request.Header.X-User":              fromRequest,
		"http.regexp.user.1":                      fromMatcher,
		"http.regexp.1":                           fromMatcher,
		"http.matchers.file.relative":             fromMatcher,
		"http.request.remote.host":                fromAddress,
		"http.request.remote":                     fromAddress,
		"http.vars.client_ip":                     fromAddress,
		"http.reverse_proxy.upstream.hostport":    notIdentity,
		"http.response.header.X-User":             notIdentity,
		"http.error.message":                      notIdentity,
		"http.request.tls.client.certificate_pem": fromCert,
	} {
		err := checkPrefixTemplate("users/{" + key + "}/")
		if why == "" {
			assert.NoError(t, err, "{%s}", key)
			continue
		}
		if assert.Error(t, err, "{%s}", key) {
			assert.Contains(t, err.Error(), "prefix: {"+key+"} "+why, "{%s}", key)
			assert.Contains(t, err.Error(), useIdentity, "{%s}", key)
		}
	}
}

// TestPrefixFromTheRequestFailsAdapt: azure_sas and azure_blob refuse, at
// adapt, a prefix from the request written with Caddy's shorthands, which
// the Caddyfile expands before the directive sees them; the identities
// Caddy checked adapt.
func TestPrefixFromTheRequestFailsAdapt(t *testing.T) {
	adapt := func(directive, prefix string) error {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(`:8080 {
	`+directive+` {
		container uploads
		account mystorage
		account_key {env.AZURE_STORAGE_KEY}
		prefix `+prefix+`
	}
}
`), nil)
		return err
	}
	for _, directive := range []string{"azure_sas", "azure_blob"} {
		for shorthand, want := range map[string]string{
			"{query.user}":         "{http.request.uri.query.user} " + fromRequest,
			"{header.X-User}":      "{http.request.header.X-User} " + fromRequest,
			"{cookie.user}":        "{http.request.cookie.user} " + fromRequest,
			"{labels.2}":           "{http.request.host.labels.2} " + fromRequest,
			"{path.0}":             "{http.request.uri.path.0} " + fromRequest,
			"{host}":               "{http.request.host} " + fromRequest,
			"{hostport}":           "{http.request.hostport} " + fromRequest,
			"{uri}":                "{http.request.uri} " + fromRequest,
			"{file}":               "{http.request.uri.path.file} " + fromRequest,
			"{re.user.1}":          "{http.regexp.user.1} " + fromMatcher,
			"{remote_host}":        "{http.request.remote.host} " + fromAddress,
			"{client_ip}":          "{http.vars.client_ip} " + fromAddress,
			"{tls_client_subject}": "{http.request.tls.client.subject} " + fromCert,
		} {
			err := adapt(directive, "users/"+shorthand+"/")
			if assert.Error(t, err, "%s prefix users/%s/", directive, shorthand) {
				assert.Contains(t, err.Error(), "prefix: "+want, "%s prefix users/%s/", directive, shorthand)
				assert.Contains(t, err.Error(), useIdentity+", at Caddyfile:6", "%s prefix users/%s/", directive, shorthand)
			}
		}
		for _, prefix := range []string{
			"users/{http.auth.user.id}/",
			"tenants/{vars.tenant}/{http.auth.user.id}/",
			"certs/{tls_client_fingerprint}/",
		} {
			require.NoError(t, adapt(directive, prefix), "%s prefix %s", directive, prefix)
		}
	}
}
